import { blockCount, circulantLayout, extractCirculant, materializeCirculant } from '../sparse/block-circulant.js';
import type { PolicyLayer, PolicyModel } from './policy-model.js';

/**
 * Storage of an exported policy's layers: each layer's weight in the layout that its structure
 * allows, chosen from the sparsifier's hint **verified on the weights**, with exact byte counts.
 * Used by the C export (`c-export.ts`) and the compressed checkpoint (`sparse-safetensors.ts`),
 * which store exactly these arrays.
 *
 * Kinds (all arrays little-endian, row-major; biases are always dense float32 `[out]`):
 * - `dense`: `weight [out, in]` float32;
 * - `csr`: compressed sparse row, as `scipy.sparse.csr_matrix` (`indptr`, `indices`, `data`):
 *   `row_ptr [out + 1]` uint32, `col_idx [nnz]` uint16 when every column index fits (in ≤ 65536)
 *   else uint32, `values [nnz]` float32; row r holds entries `row_ptr[r] … row_ptr[r+1])`, column
 *   indices ascending. The stored pattern is the mask (every mask-active entry, even one whose
 *   weight is exactly 0), or the non-zeros of an unmasked layer;
 * - `nm`: N:M semi-structured (NVIDIA's 2:4 sparse tensor cores, Mishra et al. 2021,
 *   arXiv 2104.08378; RNM-TD3): every row is cut into `groups = ⌈in / m⌉` groups of m consecutive
 *   inputs (the last one shorter when m ∤ in), each with at most n non-zeros; `nm_values
 *   [out, groups, n]` float32 and `nm_idx [out, groups, n]` uint8 (the position inside the group,
 *   ascending). A group with fewer than n entries is padded with slots of value 0 and index 0 (the
 *   first input of the group, which always exists): the matvec is unaffected, and readers skip
 *   slots of value 0;
 * - `circulant`: block-circulant (CirCNN, Ding et al. 2017; GST, Lee et al. 2021) with the layout
 *   of `src/sparse/block-circulant.ts`: W zero-padded to multiples of b and tiled into b×b blocks,
 *   `W[i·b + r, j·b + s] = c_ij[(s − r) mod b]`; only active blocks are stored: `block_idx
 *   [activeBlocks]` (flat block index `i · inBlocks + j`, ascending; uint16 when `outBlocks ·
 *   inBlocks ≤ 65536`, else uint32) and `vectors [activeBlocks, b]` float32 (the diagonals of a
 *   block cut by the padding that no entry uses are 0).
 */
export type StorageKind = 'dense' | 'csr' | 'nm' | 'circulant';

/** Column / block indices: uint16 when they fit, else uint32. */
export type IndexArray = Uint16Array | Uint32Array;

export interface DenseWeights {
  readonly kind: 'dense';
  /** `[out, in]` float32. */
  readonly weight: Float32Array;
}

export interface CsrWeights {
  readonly kind: 'csr';
  /** `[out + 1]`. */
  readonly rowPtr: Uint32Array;
  /** `[nnz]`, ascending within a row. */
  readonly colIdx: IndexArray;
  /** `[nnz]`. */
  readonly values: Float32Array;
}

export interface NmWeights {
  readonly kind: 'nm';
  readonly n: number;
  readonly m: number;
  /** `⌈in / m⌉`. */
  readonly groups: number;
  /** `[out, groups, n]`. */
  readonly values: Float32Array;
  /** `[out, groups, n]`, position inside the group. */
  readonly idx: Uint8Array;
}

export interface CirculantWeights {
  readonly kind: 'circulant';
  readonly blockSize: number;
  readonly outBlocks: number;
  readonly inBlocks: number;
  /** `[activeBlocks]`, flat `i · inBlocks + j`, ascending. */
  readonly blockIdx: IndexArray;
  /** `[activeBlocks, blockSize]`. */
  readonly vectors: Float32Array;
}

export type LayerWeights = DenseWeights | CsrWeights | NmWeights | CirculantWeights;

/** One layer's chosen storage and its exact size. */
export type LayerStorage = LayerWeights & {
  readonly layer: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** `[out]` float32. */
  readonly bias: Float32Array;
  /** Bytes of the float32 weight values (`weight`, `values`, `nm_values`, `vectors`). */
  readonly weightBytes: number;
  /** Bytes of the index arrays (`row_ptr` + `col_idx`, `nm_idx`, `block_idx`; 0 for dense). */
  readonly indexBytes: number;
  /** `4 · out`. */
  readonly biasBytes: number;
  /** `weightBytes + indexBytes + biasBytes`. */
  readonly bytes: number;
  /** Why the structure hint was not used (it does not hold, or another kind is smaller); absent when it was. */
  readonly note?: string;
};

const F32 = 4;
const indexBytesPer = (maxIndex: number) => (maxIndex <= 0xffff ? 2 : 4);
const indexArray = (values: ArrayLike<number>, maxIndex: number): IndexArray => (maxIndex <= 0xffff ? Uint16Array.from(values) : Uint32Array.from(values));

/**
 * Checks that a model is self-consistent: layer shapes chain from `observationSize`, array sizes
 * match the shapes, masked-out weights are exactly 0, the output slice fits the last layer, the
 * action bounds are finite.
 * @throws Error naming the layer (or field) that is wrong
 */
export function checkPolicyModel(model: PolicyModel): void {
  if (model.layers.length === 0) throw new Error('policy model has no layers');
  let width = model.observationSize;
  for (const l of model.layers) {
    const at = `layer ${l.name}`;
    if (!(Number.isInteger(l.inFeatures) && l.inFeatures >= 1 && Number.isInteger(l.outFeatures) && l.outFeatures >= 1)) throw new Error(`${at}: bad shape ${l.outFeatures}×${l.inFeatures}`);
    if (l.inFeatures !== width) throw new Error(`${at}: takes ${l.inFeatures} inputs but the previous layer (or the observation) gives ${width}`);
    if (l.weight.length !== l.outFeatures * l.inFeatures) throw new Error(`${at}: weight has ${l.weight.length} entries, [${l.outFeatures}, ${l.inFeatures}] needs ${l.outFeatures * l.inFeatures}`);
    if (l.bias.length !== l.outFeatures) throw new Error(`${at}: bias has ${l.bias.length} entries, needs ${l.outFeatures}`);
    if (!['relu', 'tanh', 'linear'].includes(l.activation)) throw new Error(`${at}: unknown activation ${JSON.stringify(l.activation)}`);
    if (l.mask) {
      if (l.mask.length !== l.weight.length) throw new Error(`${at}: mask has ${l.mask.length} entries, weight ${l.weight.length}`);
      for (let i = 0; i < l.mask.length; i++) {
        if (!l.mask[i] && l.weight[i] !== 0) {
          throw new Error(`${at}: weight [${Math.floor(i / l.inFeatures)}, ${i % l.inFeatures}] = ${l.weight[i]} is masked out but not 0 (PolicyModel weights must be 0 where the mask is 0)`);
        }
      }
    }
    width = l.outFeatures;
  }
  if (!(Number.isInteger(model.outputOffset) && model.outputOffset >= 0 && model.outputOffset + model.actionSize <= width)) {
    throw new Error(`policy output slice [${model.outputOffset}, ${model.outputOffset + model.actionSize}) does not fit the last layer's ${width} outputs`);
  }
  if (model.actionLow.length !== model.actionSize || model.actionHigh.length !== model.actionSize) {
    throw new Error(`action bounds have ${model.actionLow.length}/${model.actionHigh.length} entries, the action ${model.actionSize}`);
  }
  for (let i = 0; i < model.actionSize; i++) {
    if (!Number.isFinite(model.actionLow[i]) || !Number.isFinite(model.actionHigh[i])) throw new Error(`action bound ${i} is not finite (low ${model.actionLow[i]}, high ${model.actionHigh[i]})`);
  }
}

/** Whether entry i is stored by a sparse layout: mask-active (masked layer), non-zero (unmasked). */
function activePattern(layer: PolicyLayer): Uint8Array {
  if (layer.mask) return Uint8Array.from(layer.mask, (v) => (v ? 1 : 0));
  return Uint8Array.from(layer.weight, (v) => (v !== 0 ? 1 : 0));
}

/** CSR of the active pattern (scipy.sparse.csr_matrix layout). */
export function toCsr(layer: PolicyLayer, pattern: Uint8Array = activePattern(layer)): CsrWeights {
  const { outFeatures: out, inFeatures: nIn, weight } = layer;
  const rowPtr = new Uint32Array(out + 1);
  let nnz = 0;
  for (const v of pattern) nnz += v;
  const cols = new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  let k = 0;
  for (let r = 0; r < out; r++) {
    for (let c = 0; c < nIn; c++) {
      const i = r * nIn + c;
      if (pattern[i]) {
        cols[k] = c;
        values[k++] = weight[i];
      }
    }
    rowPtr[r + 1] = k;
  }
  return { kind: 'csr', rowPtr, colIdx: indexArray(cols, nIn - 1), values };
}

/** Bytes (weights, indices) of a CSR with `nnz` entries. */
export function csrBytes(out: number, inFeatures: number, nnz: number): { weightBytes: number; indexBytes: number } {
  return { weightBytes: F32 * nnz, indexBytes: 4 * (out + 1) + indexBytesPer(inFeatures - 1) * nnz };
}

/**
 * The N:M packing of a layer when its active pattern has at most n entries in every group of m
 * consecutive inputs of a row, else a sentence saying where it does not hold.
 */
export function toNm(layer: PolicyLayer, n: number, m: number, pattern: Uint8Array = activePattern(layer)): NmWeights | string {
  if (!(Number.isInteger(n) && Number.isInteger(m) && n >= 1 && n < m)) return `N:M needs integers 0 < n < m, got ${n}:${m}`;
  if (m > 256) return `m = ${m} does not fit the uint8 in-group index (m ≤ 256)`;
  const { outFeatures: out, inFeatures: nIn, weight } = layer;
  const groups = Math.ceil(nIn / m);
  const values = new Float32Array(out * groups * n);
  const idx = new Uint8Array(out * groups * n);
  for (let r = 0; r < out; r++) {
    for (let g = 0; g < groups; g++) {
      let k = 0;
      const base = (r * groups + g) * n;
      for (let t = 0; t < m && g * m + t < nIn; t++) {
        const i = r * nIn + g * m + t;
        if (!pattern[i]) continue;
        if (k === n) return `row ${r}, group ${g} (inputs ${g * m}…${Math.min(nIn, g * m + m) - 1}) has more than ${n} non-zeros`;
        values[base + k] = weight[i];
        idx[base + k++] = t;
      }
    }
  }
  return { kind: 'nm', n, m, groups, values, idx };
}

/**
 * The block-circulant storage of a layer when its weight is exactly block-circulant with block
 * size b (and, when masked, its mask is a block mask), else a sentence saying where it is not.
 * A block is active when its mask (masked layer) or its weights (unmasked) have a non-zero.
 */
export function toCirculant(layer: PolicyLayer, blockSize: number): CirculantWeights | string {
  if (!(Number.isInteger(blockSize) && blockSize >= 1)) return `block size must be an integer ≥ 1, got ${blockSize}`;
  const { outFeatures: out, inFeatures: nIn, weight } = layer;
  const layout = circulantLayout(out, nIn, blockSize);
  const b = blockSize;
  const nb = blockCount(layout);
  const pattern = activePattern(layer);
  const blockMask = new Float32Array(nb);
  for (let i = 0; i < pattern.length; i++) if (pattern[i]) blockMask[(layout.diagonal[i] / b) | 0] = 1;
  if (layer.mask) {
    for (let i = 0; i < pattern.length; i++) {
      if (!pattern[i] && blockMask[(layout.diagonal[i] / b) | 0]) return `mask entry [${Math.floor(i / nIn)}, ${i % nIn}] is 0 inside an active ${b}×${b} block (not a block mask)`;
    }
  }
  const full = extractCirculant(weight, layout);
  const rebuilt = materializeCirculant(full, layout, blockMask);
  for (let i = 0; i < weight.length; i++) {
    if (rebuilt[i] !== weight[i]) return `weight [${Math.floor(i / nIn)}, ${i % nIn}] breaks the circulant diagonal of its ${b}×${b} block`;
  }
  const active: number[] = [];
  for (let k = 0; k < nb; k++) if (blockMask[k]) active.push(k);
  const vectors = new Float32Array(active.length * b);
  active.forEach((k, a) => vectors.set(full.subarray(k * b, (k + 1) * b), a * b));
  return { kind: 'circulant', blockSize: b, outBlocks: layout.outBlocks, inBlocks: layout.inBlocks, blockIdx: indexArray(active, nb - 1), vectors };
}

/** Bytes (weights, indices) of `weights` for a layer `[out, in]`. */
export function weightsBytes(w: LayerWeights, out: number, inFeatures: number): { weightBytes: number; indexBytes: number } {
  switch (w.kind) {
    case 'dense':
      return { weightBytes: F32 * out * inFeatures, indexBytes: 0 };
    case 'csr':
      return { weightBytes: w.values.byteLength, indexBytes: w.rowPtr.byteLength + w.colIdx.byteLength };
    case 'nm':
      return { weightBytes: w.values.byteLength, indexBytes: w.idx.byteLength };
    case 'circulant':
      return { weightBytes: w.vectors.byteLength, indexBytes: w.blockIdx.byteLength };
  }
}

const describeHint = (layer: PolicyLayer): string => {
  const h = layer.structure;
  return h.kind === 'nm' ? `nm ${h.n}:${h.m}` : h.kind === 'circulant' ? `circulant b=${h.blockSize}` : h.kind;
};

/**
 * Chooses a layer's storage: the structure its hint names when the weights verify it exactly
 * (`nm` / `circulant`), else CSR; then whichever of that candidate, CSR and dense takes fewest
 * bytes (ties keep the hinted structure, then dense). A `dense` hint (an unmasked layer) is
 * stored dense. Biases are stored dense in every kind.
 * @throws Error naming the layer when its arrays do not match its shape or a masked-out weight is not 0
 */
export function layerStorage(layer: PolicyLayer): LayerStorage {
  const { outFeatures: out, inFeatures: nIn } = layer;
  if (layer.weight.length !== out * nIn || layer.bias.length !== out || (layer.mask && layer.mask.length !== out * nIn)) {
    throw new Error(`layer ${layer.name}: weight/bias/mask sizes ${layer.weight.length}/${layer.bias.length}/${layer.mask?.length ?? '-'} do not match [${out}, ${nIn}]`);
  }
  if (layer.mask) {
    for (let i = 0; i < layer.mask.length; i++) if (!layer.mask[i] && layer.weight[i] !== 0) throw new Error(`layer ${layer.name}: weight [${Math.floor(i / nIn)}, ${i % nIn}] is masked out but not 0`);
  }
  const dense: DenseWeights = { kind: 'dense', weight: Float32Array.from(layer.weight) };
  const candidates: { w: LayerWeights; note?: string }[] = [];
  let note: string | undefined;
  const hint = layer.structure;
  if (hint.kind === 'dense' && !layer.mask) {
    candidates.push({ w: dense });
  } else {
    const pattern = activePattern(layer);
    let structured: LayerWeights | string | null = null;
    if (hint.kind === 'nm') structured = toNm(layer, hint.n, hint.m, pattern);
    else if (hint.kind === 'circulant') structured = toCirculant(layer, hint.blockSize);
    if (typeof structured === 'string') note = `hint ${describeHint(layer)} does not hold: ${structured}`;
    else if (structured) candidates.push({ w: structured });
    candidates.push({ w: dense }, { w: toCsr(layer, pattern) });
  }
  const sized = candidates.map((c) => ({ ...c, ...weightsBytes(c.w, out, nIn) }));
  let best = sized[0];
  for (const c of sized) if (c.weightBytes + c.indexBytes < best.weightBytes + best.indexBytes) best = c;
  const hinted = hint.kind === 'nm' ? 'nm' : hint.kind === 'circulant' ? 'circulant' : hint.kind === 'unstructured' ? 'csr' : 'dense';
  if (!note && best.w.kind !== hinted) note = `hint ${describeHint(layer)} holds, but ${best.w.kind} is smaller`;
  const biasBytes = F32 * out;
  return {
    ...best.w, layer: layer.name, inFeatures: nIn, outFeatures: out, bias: Float32Array.from(layer.bias),
    weightBytes: best.weightBytes, indexBytes: best.indexBytes, biasBytes, bytes: best.weightBytes + best.indexBytes + biasBytes,
    ...(note ? { note } : {}),
  };
}

/**
 * The dense `[out, in]` float32 weight of a stored layer (the inverse of `layerStorage`: gives
 * back the layer's weight bit for bit).
 * @throws Error naming `name` when an index is out of range
 */
export function denseWeightOf(w: LayerWeights, out: number, inFeatures: number, name = 'layer'): Float32Array {
  const nIn = inFeatures;
  const bad = (what: string): never => {
    throw new Error(`${name}: ${what}`);
  };
  switch (w.kind) {
    case 'dense':
      if (w.weight.length !== out * nIn) bad(`dense weight has ${w.weight.length} entries, [${out}, ${nIn}] needs ${out * nIn}`);
      return Float32Array.from(w.weight);
    case 'csr': {
      const dense = new Float32Array(out * nIn);
      if (w.rowPtr.length !== out + 1 || w.rowPtr[0] !== 0 || w.rowPtr[out] !== w.values.length || w.colIdx.length !== w.values.length) {
        bad(`CSR row_ptr [${w.rowPtr.length}] / col_idx [${w.colIdx.length}] / values [${w.values.length}] are inconsistent with ${out} rows`);
      }
      for (let r = 0; r < out; r++) {
        if (w.rowPtr[r + 1] < w.rowPtr[r]) bad(`CSR row_ptr decreases at row ${r}`);
        for (let k = w.rowPtr[r]; k < w.rowPtr[r + 1]; k++) {
          if (w.colIdx[k] >= nIn) bad(`CSR col_idx[${k}] = ${w.colIdx[k]} is not below in = ${nIn}`);
          dense[r * nIn + w.colIdx[k]] = w.values[k];
        }
      }
      return dense;
    }
    case 'nm': {
      const { n, m, groups } = w;
      if (groups !== Math.ceil(nIn / m) || w.values.length !== out * groups * n || w.idx.length !== w.values.length) bad(`N:M arrays do not match [${out}, ${Math.ceil(nIn / m)}, ${n}]`);
      const dense = new Float32Array(out * nIn);
      for (let r = 0; r < out; r++) {
        for (let g = 0; g < groups; g++) {
          for (let k = 0; k < n; k++) {
            const s = (r * groups + g) * n + k;
            const col = g * m + w.idx[s];
            if (w.idx[s] >= m || col >= nIn) bad(`N:M index ${w.idx[s]} of row ${r}, group ${g} is outside the group`);
            if (w.values[s] !== 0) dense[r * nIn + col] = w.values[s];
          }
        }
      }
      return dense;
    }
    case 'circulant': {
      const layout = circulantLayout(out, nIn, w.blockSize);
      const b = w.blockSize;
      const nb = blockCount(layout);
      if (w.outBlocks !== layout.outBlocks || w.inBlocks !== layout.inBlocks || w.vectors.length !== w.blockIdx.length * b) bad(`circulant arrays do not match ${layout.outBlocks}×${layout.inBlocks} blocks of ${b}`);
      const full = new Float32Array(nb * b);
      const blockMask = new Float32Array(nb);
      w.blockIdx.forEach((k, a) => {
        if (k >= nb) bad(`circulant block_idx[${a}] = ${k} is not below ${nb} blocks`);
        blockMask[k] = 1;
        full.set(w.vectors.subarray(a * b, (a + 1) * b), k * b);
      });
      return materializeCirculant(full, layout, blockMask);
    }
  }
}

/** One row of the size report. */
export interface LayerSize {
  readonly layer: string;
  readonly kind: StorageKind;
  readonly shape: readonly [out: number, inFeatures: number];
  /** Weights + indices + bias, in bytes. */
  readonly bytes: number;
  readonly weightBytes: number;
  readonly indexBytes: number;
  readonly biasBytes: number;
  /** The dense float32 layer: `4 · (out · in + out)`. */
  readonly denseBytes: number;
  /** `activeWeights / (out · in)`. */
  readonly density: number;
  /** Why the hint was not used, where it was not. */
  readonly note?: string;
}

/** Per-layer storage sizes and totals against the dense float32 policy. */
export interface SizeReport {
  readonly layers: readonly LayerSize[];
  /** `total.bytes`: weights + indices + biases of every layer. */
  readonly totalBytes: number;
  /** `total.denseBytes`: the dense float32 policy. */
  readonly denseBytes: number;
  readonly total: {
    readonly weightBytes: number;
    readonly indexBytes: number;
    readonly biasBytes: number;
    /** weights + indices + biases. */
    readonly bytes: number;
    /** The dense float32 policy (weights and biases). */
    readonly denseBytes: number;
    /** `bytes / denseBytes`. */
    readonly ratio: number;
    /** `1 − Σ activeWeights / Σ out · in` over all layers (biases not counted). */
    readonly sparsity: number;
  };
}

/** The size report of storages (and their layers, for the densities). */
export function sizeReport(layers: readonly PolicyLayer[], storages: readonly LayerStorage[] = layers.map(layerStorage)): SizeReport {
  const rows: LayerSize[] = storages.map((s, k) => {
    const l = layers[k];
    const denseBytes = F32 * (s.outFeatures * s.inFeatures + s.outFeatures);
    return {
      layer: s.layer, kind: s.kind, shape: [s.outFeatures, s.inFeatures], bytes: s.bytes, weightBytes: s.weightBytes, indexBytes: s.indexBytes, biasBytes: s.biasBytes,
      denseBytes, density: l.activeWeights / (l.outFeatures * l.inFeatures), ...(s.note ? { note: s.note } : {}),
    };
  });
  const sum = (f: (r: LayerSize) => number) => rows.reduce((a, r) => a + f(r), 0);
  const active = layers.reduce((a, l) => a + l.activeWeights, 0);
  const all = layers.reduce((a, l) => a + l.outFeatures * l.inFeatures, 0);
  const bytes = sum((r) => r.bytes);
  const denseBytes = sum((r) => r.denseBytes);
  return {
    layers: rows, totalBytes: bytes, denseBytes,
    total: { weightBytes: sum((r) => r.weightBytes), indexBytes: sum((r) => r.indexBytes), biasBytes: sum((r) => r.biasBytes), bytes, denseBytes, ratio: bytes / denseBytes, sparsity: 1 - active / all },
  };
}

/** The storage of every layer of a model and its size report. @throws as `checkPolicyModel` */
export function modelStorage(model: PolicyModel): { storages: LayerStorage[]; report: SizeReport } {
  checkPolicyModel(model);
  const storages = model.layers.map(layerStorage);
  return { storages, report: sizeReport(model.layers, storages) };
}

/** The size report as an aligned plain-text table (one line per layer, then the total). */
export function formatSizeReport(report: SizeReport): string {
  const rows = [
    ['layer', 'shape', 'kind', 'density', 'weights', 'indices', 'bias', 'bytes', 'dense', 'ratio'],
    ...report.layers.map((r) => [r.layer, `${r.shape[0]}x${r.shape[1]}`, r.kind, r.density.toFixed(4), `${r.weightBytes}`, `${r.indexBytes}`, `${r.biasBytes}`, `${r.bytes}`, `${r.denseBytes}`, (r.bytes / r.denseBytes).toFixed(3)]),
    ['total', '', '', (1 - report.total.sparsity).toFixed(4), `${report.total.weightBytes}`, `${report.total.indexBytes}`, `${report.total.biasBytes}`, `${report.total.bytes}`, `${report.total.denseBytes}`, report.total.ratio.toFixed(3)],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) => r.map((v, c) => (c < 3 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ').trimEnd());
  const notes = report.layers.filter((r) => r.note).map((r) => `${r.layer}: ${r.note}`);
  return [...lines, ...notes].join('\n');
}
