/**
 * Block-circulant parameterisation of a linear layer's weight (CirCNN, Ding et al. 2017, MICRO;
 * used by GST, Lee et al. 2021, arXiv 2101.09650; docs/methods.md §3.b and §9.2.1).
 *
 * A weight `W [out, in]` (PyTorch layout) is zero-padded virtually to multiples of the block size
 * `b` and tiled into `outBlocks × inBlocks` blocks, `outBlocks = ⌈out/b⌉`, `inBlocks = ⌈in/b⌉`.
 * Block `(i, j)` is defined by one vector `c_ij ∈ R^b`:
 *
 *     W[i·b + r, j·b + s] = c_ij[(s − r) mod b]        (0 ≤ r, s < b)
 *
 * so row r of a block is `c_ij` cyclically shifted right by r, and every diagonal `t = (s − r) mod b`
 * of the block holds one value. Entries of the padding (rows ≥ out, columns ≥ in) do not exist;
 * a block cut by the padding is a truncated circulant and stores only the diagonals it uses.
 *
 * Vectors are stored flat, `vectors [outBlocks, inBlocks, b]` (block-major, then diagonal t).
 * Block-level data (masks, norms) are `[outBlocks, inBlocks]`.
 */
export interface CirculantLayout {
  /** Rows (output features) of W. */
  readonly out: number;
  /** Columns (input features) of W. */
  readonly in: number;
  /** Block size b. */
  readonly blockSize: number;
  /** ⌈out / b⌉. */
  readonly outBlocks: number;
  /** ⌈in / b⌉. */
  readonly inBlocks: number;
  /**
   * `[out, in]`: the vector index of every entry of W, `(i·inBlocks + j)·b + (s − r) mod b` (its
   * block is `⌊index / b⌋`): the gather table of `extractCirculant` and `expandBlockMask` (the
   * per-update maps, `materializeCirculant` and `foldCirculantGradient`, use faster block loops).
   */
  readonly diagonal: Uint32Array;
}

/**
 * Layout of a `[out, in]` weight tiled with block size `b`.
 * @throws RangeError unless out, in ≥ 1 and b ≥ 1 are integers
 */
export function circulantLayout(out: number, inFeatures: number, blockSize: number): CirculantLayout {
  for (const [name, v] of [['out', out], ['in', inFeatures], ['blockSize', blockSize]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`circulantLayout: ${name} must be an integer >= 1, got ${v}`);
  }
  const b = blockSize;
  const inBlocks = Math.ceil(inFeatures / b);
  const diagonal = new Uint32Array(out * inFeatures);
  for (let row = 0; row < out; row++) {
    const i = Math.floor(row / b);
    const r = row - i * b;
    for (let col = 0; col < inFeatures; col++) {
      const j = Math.floor(col / b);
      diagonal[row * inFeatures + col] = (i * inBlocks + j) * b + ((col - j * b - r + b) % b);
    }
  }
  return { out, in: inFeatures, blockSize, outBlocks: Math.ceil(out / b), inBlocks, diagonal };
}

/** Number of blocks `outBlocks · inBlocks`. */
export function blockCount(layout: CirculantLayout): number {
  return layout.outBlocks * layout.inBlocks;
}

/** Rows and columns of block (i, j) that exist in W (b, or less at the padded edges). */
function blockExtent(layout: CirculantLayout, i: number, j: number): [rows: number, cols: number] {
  const b = layout.blockSize;
  return [Math.min(b, layout.out - i * b), Math.min(b, layout.in - j * b)];
}

/**
 * Stored values of block (i, j): the number of distinct diagonals its existing entries use,
 * `min(b, rows + cols − 1)` (b for every full block: compression b× against b² weights).
 */
export function blockStorage(layout: CirculantLayout, i: number, j: number): number {
  const [rows, cols] = blockExtent(layout, i, j);
  return Math.min(layout.blockSize, rows + cols - 1);
}

/**
 * Stored values of a block-circulant layer: Σ over active blocks of `blockStorage`
 * (docs/methods.md §3.e: circulant storage b per block; index overhead not counted).
 * @param blockMask `[outBlocks, inBlocks]` of 0/1, or null when every block is active
 */
export function circulantStorage(layout: CirculantLayout, blockMask: Float32Array | null): number {
  let stored = 0;
  for (let i = 0; i < layout.outBlocks; i++) {
    for (let j = 0; j < layout.inBlocks; j++) if (!blockMask || blockMask[i * layout.inBlocks + j] !== 0) stored += blockStorage(layout, i, j);
  }
  return stored;
}

/**
 * Builds the effective weight from the vectors: `W[i·b+r, j·b+s] = g_ij · c_ij[(s − r) mod b]`.
 * @param vectors `[outBlocks, inBlocks, b]`
 * @param blockMask `[outBlocks, inBlocks]` g of 0/1, or null (all active)
 * @param target `[out, in]` to overwrite; a new array when omitted
 * @returns W `[out, in]`
 */
export function materializeCirculant(vectors: Float32Array, layout: CirculantLayout, blockMask: Float32Array | null = null, target?: Float32Array): Float32Array {
  const { out, in: nIn, blockSize: b, inBlocks } = layout;
  const w = target ?? new Float32Array(out * nIn);
  // block loops, (s − r) mod b without a modulo: s ≥ r → s − r, s < r → s − r + b
  for (let row = 0; row < out; row++) {
    const i = (row / b) | 0;
    const r = row - i * b;
    for (let j = 0; j < inBlocks; j++) {
      const blk = i * inBlocks + j;
      const base = row * nIn + j * b;
      const cols = Math.min(b, nIn - j * b);
      if (blockMask && blockMask[blk] === 0) {
        w.fill(0, base, base + cols);
        continue;
      }
      const off = blk * b;
      const split = Math.min(r, cols);
      for (let s = 0; s < split; s++) w[base + s] = vectors[off + s - r + b];
      for (let s = split; s < cols; s++) w[base + s] = vectors[off + s - r];
    }
  }
  return w;
}

/**
 * Folds a gradient w.r.t. the effective weight back onto the vectors by summing each block
 * diagonal: `∂L/∂c_ij[t] = Σ_{r} ∂L/∂W[i·b + r, j·b + ((r + t) mod b)]` over existing entries
 * (docs/methods.md §9.2.1; the chain rule through `materializeCirculant`). Block masks are not applied.
 * @param gradW `[out, in]`
 * @param target `[outBlocks, inBlocks, b]` to overwrite; a new array when omitted
 * @returns `[outBlocks, inBlocks, b]`
 */
export function foldCirculantGradient(gradW: Float32Array, layout: CirculantLayout, target?: Float32Array): Float32Array {
  const { out, in: nIn, blockSize: b, inBlocks } = layout;
  const g = target ?? new Float32Array(blockCount(layout) * b);
  g.fill(0);
  for (let row = 0; row < out; row++) {
    const i = (row / b) | 0;
    const r = row - i * b;
    for (let j = 0; j < inBlocks; j++) {
      const off = (i * inBlocks + j) * b;
      const base = row * nIn + j * b;
      const cols = Math.min(b, nIn - j * b);
      const split = Math.min(r, cols);
      for (let s = 0; s < split; s++) g[off + s - r + b] += gradW[base + s];
      for (let s = split; s < cols; s++) g[off + s - r] += gradW[base + s];
    }
  }
  return g;
}

/**
 * Reads the vectors of a (block-)circulant W: `c_ij[t]` is the first existing entry of diagonal t
 * in row order. For an exactly circulant W this inverts `materializeCirculant` on active blocks;
 * for a dense W it is the circulant initialisation that keeps the entries' distribution (one row's
 * values, not a diagonal mean, whose variance would shrink by the diagonal length).
 * @param w `[out, in]`
 * @param target `[outBlocks, inBlocks, b]` to overwrite; a new array when omitted
 */
export function extractCirculant(w: Float32Array, layout: CirculantLayout, target?: Float32Array): Float32Array {
  const d = layout.diagonal;
  const c = target ?? new Float32Array(blockCount(layout) * layout.blockSize);
  const seen = new Uint8Array(c.length);
  for (let i = 0; i < d.length; i++) {
    if (seen[d[i]]) continue;
    seen[d[i]] = 1;
    c[d[i]] = w[i];
  }
  return c;
}

/**
 * Block scores `‖c_ij‖₂` over the stored diagonals of each block (GST block pruning, docs/methods.md §9.2.4).
 * @param vectors `[outBlocks, inBlocks, b]`
 * @returns `[outBlocks, inBlocks]`
 */
export function blockNorms(vectors: Float32Array, layout: CirculantLayout): Float64Array {
  const b = layout.blockSize;
  const n = blockCount(layout);
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let s = 0;
    for (let t = 0; t < b; t++) s += vectors[k * b + t] ** 2;
    out[k] = Math.sqrt(s);
  }
  return out;
}

/**
 * Expands a block mask `[outBlocks, inBlocks]` to an element mask `[out, in]` of 0/1.
 */
export function expandBlockMask(blockMask: Float32Array, layout: CirculantLayout): Float32Array {
  const { diagonal: d, blockSize: b } = layout;
  return Float32Array.from(d, (k) => blockMask[(k / b) | 0]);
}
