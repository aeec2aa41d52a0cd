import { availableParallelism } from 'node:os';

import { circulantLayout, type CirculantLayout } from '../sparse/block-circulant.js';
import { loadAddon, type EngineHandle, type NativeAddon } from './native-engine.js';

/*
 * Block-circulant linear layer on the native engine (native/src/circulant.{h,cc}).
 *
 * Weight parameterisation and layout: src/sparse/block-circulant.ts (CirCNN, Ding et al. 2017,
 * MICRO; GST, Lee et al. 2021, arXiv 2101.09650). `W[i·b + r, j·b + s] = g_ij · c_ij[(s − r) mod b]`,
 * vectors `[outBlocks, inBlocks, b]`, block mask g `[outBlocks, inBlocks]`.
 */

// ---------------------------------------------------------------------------------------------
// Addon surface (native/src/addon.cc, class CirculantLayer)
// ---------------------------------------------------------------------------------------------

interface CirculantHandle {
  forward(x: Float32Array, batch: number, vectors: Float32Array, blockMask: Float32Array | null, bias: Float32Array | null): Float32Array;
  /** `[dx | null, dVectors, dBias]` */
  backward(gradOutput: Float32Array, inputGrad: boolean): [Float32Array | null, Float32Array, Float32Array];
  dispose(): void;
}

type CirculantAddon = NativeAddon & {
  CirculantLayer: new (engine: EngineHandle, out: number, inFeatures: number, blockSize: number, method: 'direct' | 'fft') => CirculantHandle;
};

/** One engine handle (thread pool) per thread count, shared by all circulant layers. */
const engines = new Map<number, EngineHandle>();

function engineFor(addon: NativeAddon, threads: number): EngineHandle {
  let e = engines.get(threads);
  if (!e) {
    e = new addon.Engine(threads);
    engines.set(threads, e);
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// Method choice
// ---------------------------------------------------------------------------------------------

/** How a {@link BlockCirculantLinear} computes its products. */
export type CirculantMethod = 'auto' | 'direct' | 'fft';

/**
 * Smallest block size for which `method: 'auto'` uses the FFT path (b must also be a power of two).
 *
 * Set from `npm run bench:circulant` (native engine, AVX-512, 2 threads on a 2-core machine that was
 * also running another job, batch 256, ms per forward + backward with input gradient, median of
 * 7 interleaved repetitions). The FFT path was faster than the direct path at every measured
 * block size, b = 2 included:
 *
 *     out×in       b=2          b=4          b=8          b=16         b=64       (direct / fft, ms)
 *     256×256      2.34 / 1.95  2.16 / 1.41  2.19 / 1.16  2.08 / 0.99  2.02 / 0.84
 *     1024×1024    35.3 / 20.5  30.0 / 12.7  27.8 / 8.07  27.2 / 6.51  31.2 / 3.77
 *     300×400      3.74 / 3.05  3.48 / 1.91  3.31 / 1.46  3.16 / 0.95  2.91 / 0.70
 *
 * (dense layer of the same shape: 2.10, 27.1 and 3.02 ms). fft/direct was 0.58–0.83 at b = 2
 * (0.61–0.96 over three runs) and at most 0.65 from b = 4 on; with 1 thread and at batch 1 or 32
 * the FFT path also won at b = 2. So there is no crossover in the power-of-two range: the
 * frequency-domain product costs 2b − 2 multiply-adds per block and sample against b² (already
 * half at b = 2), and the direct path also materialises W and folds dW on every call. Blocks of
 * size 1 (dense) and other non-powers of two use the direct path.
 */
export const CIRCULANT_FFT_MIN_BLOCK_SIZE = 2;

/** True when b is a power of two >= 2 (the sizes the FFT path supports). */
export function fftSupportsBlockSize(blockSize: number): boolean {
  return Number.isInteger(blockSize) && blockSize >= 2 && (blockSize & (blockSize - 1)) === 0;
}

/**
 * The path `method` resolves to for block size b.
 * @throws RangeError for `'fft'` when b is not a power of two >= 2; TypeError on an unknown method
 */
export function resolveCirculantMethod(blockSize: number, method: CirculantMethod): 'direct' | 'fft' {
  switch (method) {
    case 'direct':
      return 'direct';
    case 'fft':
      if (!fftSupportsBlockSize(blockSize)) {
        throw new RangeError(`the FFT path needs a block size b that is a power of two >= 2, got b = ${blockSize}`);
      }
      return 'fft';
    case 'auto':
      return fftSupportsBlockSize(blockSize) && blockSize >= CIRCULANT_FFT_MIN_BLOCK_SIZE ? 'fft' : 'direct';
    default:
      throw new TypeError(`unknown circulant method '${String(method)}' (auto, direct or fft)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Layer
// ---------------------------------------------------------------------------------------------

/** Options of {@link BlockCirculantLinear}. */
export interface BlockCirculantLinearOptions {
  /**
   * `'direct'`: materialise W_eff `[out, in]` and run the engine's dense GEMM kernels (O(b²) per
   * block and sample). `'fft'`: FFT kernels (O(b log b) per transform, 2b − 2 multiply-adds per
   * block and sample); b must be a power of two >= 2. `'auto'` (default): `'fft'` when b is a
   * power of two >= {@link CIRCULANT_FFT_MIN_BLOCK_SIZE}, else `'direct'`.
   */
  readonly method?: CirculantMethod;
  /**
   * Threads of the kernels including the caller; default the machine's available parallelism,
   * at most 4 (as `createNativeEngine`). Layers with the same count share one thread pool.
   */
  readonly threads?: number;
}

/** Gradients of {@link BlockCirculantLinear.backward}, fresh arrays. */
export interface CirculantGradients {
  /** dL/dx `[batch, in]`, or null when not requested. */
  readonly dx: Float32Array | null;
  /** dL/dc `[outBlocks, inBlocks, b]`; 0 on pruned blocks. */
  readonly dVectors: Float32Array;
  /** dL/dbias `[out]` = Σ over the batch of dy (also when the forward had no bias). */
  readonly dBias: Float32Array;
}

/**
 * A block-circulant linear layer `y[batch, out] = x[batch, in] · W_effᵀ + bias` with
 * `W_eff[i·b + r, j·b + s] = g_ij · c_ij[(s − r) mod b]` (layout of src/sparse/block-circulant.ts;
 * sizes need not be multiples of b: padded x entries count as 0 and padded y rows are dropped).
 * Parameters are passed to every `forward` (they change every optimizer step); the layer keeps
 * what `backward` needs, so later writes to them do not affect the gradients of that forward.
 *
 * FFT path (CirCNN, Ding et al. 2017, MICRO, §3: a circulant block product is a circular
 * correlation, computed as FFT → element-wise product → IFFT): with real DFTs over each block,
 * k = 0..b/2,
 *
 *     Y_i[k]   = Σ_j conj(Cf_ij[k]) · X_j[k]           (y[r] = Σ_t c[t] x[(r + t) mod b])
 *     DX_j[k]  = Σ_i Cf_ij[k] · DY_i[k]                 (dx[s] = Σ_r c[(s − r) mod b] dy[r])
 *     dCf_ij[k] = Σ_batch conj(DY_i[k]) · X_j[k]        (dc[t] = Σ_r dy[r] x[(r + t) mod b])
 *
 * with one FFT per input block and sample, one inverse FFT per output block and sample, and one
 * inverse FFT per block for dc (summed over the batch in the frequency domain). Pruned blocks
 * (g_ij = 0) are skipped in these products and get dc = 0. Float32 throughout; results agree
 * with the direct path up to rounding (~1e-6 relative).
 */
export class BlockCirculantLinear {
  /** The resolved path. */
  readonly method: 'direct' | 'fft';
  readonly layout: CirculantLayout;
  private handle: CirculantHandle | null;
  private forwarded = false;

  /**
   * @param layout from `circulantLayout(out, in, b)`
   * @throws RangeError on an inconsistent layout, a bad thread count, or `method: 'fft'` with b
   *   not a power of two >= 2; TypeError on an unknown method; Error when the native addon is not
   *   built (`npm run build:native`)
   */
  constructor(layout: CirculantLayout, options: BlockCirculantLinearOptions = {}) {
    const checked = circulantLayout(layout.out, layout.in, layout.blockSize);
    if (checked.outBlocks !== layout.outBlocks || checked.inBlocks !== layout.inBlocks) {
      throw new RangeError(
        `inconsistent circulant layout: ${layout.out}×${layout.in} with b = ${layout.blockSize} has ` +
          `${checked.outBlocks}×${checked.inBlocks} blocks, got ${layout.outBlocks}×${layout.inBlocks}`,
      );
    }
    this.layout = checked;
    this.method = resolveCirculantMethod(layout.blockSize, options.method ?? 'auto');
    const threads = options.threads ?? Math.min(availableParallelism(), 4);
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
      throw new RangeError(`threads must be an integer in [1, 64], got ${threads}`);
    }
    const addon = loadAddon() as CirculantAddon;
    this.handle = new addon.CirculantLayer(engineFor(addon, threads), checked.out, checked.in, checked.blockSize, this.method);
  }

  /** Number of vector entries `outBlocks · inBlocks · b`. */
  get vectorLength(): number {
    return this.layout.outBlocks * this.layout.inBlocks * this.layout.blockSize;
  }

  /**
   * Training forward pass; keeps x (or its spectra), the weights and the mask for {@link backward}.
   * @param x `[batch, in]`
   * @param batch rows of x (integer >= 0)
   * @param vectors `[outBlocks, inBlocks, b]`
   * @param blockMask `[outBlocks, inBlocks]`, 0 = pruned block; null = all active
   * @param bias `[out]`, or null for none
   * @returns y `[batch, out]`, a fresh array
   * @throws TypeError / RangeError on a wrong type or length; Error after dispose
   */
  forward(x: Float32Array, batch: number, vectors: Float32Array, blockMask: Float32Array | null = null, bias: Float32Array | null = null): Float32Array {
    const h = this.live();
    this.forwarded = false;
    const y = h.forward(x, batch, vectors, blockMask, bias);
    this.forwarded = batch > 0;
    return y;
  }

  /**
   * Gradients of the last {@link forward} for `dy = dL/dy`.
   * @param dy `[batch, out]`
   * @param options.inputGrad compute dx (default true)
   * @throws Error without a preceding forward (batch > 0) or after dispose; RangeError on a wrong length
   */
  backward(dy: Float32Array, options: { readonly inputGrad?: boolean } = {}): CirculantGradients {
    const h = this.live();
    if (!this.forwarded) throw new Error('BlockCirculantLinear.backward called without a preceding forward');
    const [dx, dVectors, dBias] = h.backward(dy, options.inputGrad ?? true);
    return { dx, dVectors, dBias };
  }

  /** Frees the native state. Idempotent; other methods throw afterwards. */
  dispose(): void {
    this.handle?.dispose();
    this.handle = null;
    this.forwarded = false;
  }

  private live(): CirculantHandle {
    if (!this.handle) throw new Error('this BlockCirculantLinear has been disposed');
    return this.handle;
  }
}
