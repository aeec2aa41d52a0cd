import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { packageRoot } from '../util/paths.js';
import { checkLayerIndex, checkLearningRate, checkMlpSpec, checkSameShape, checkTau, resolveAdamOptions } from './checks.js';
import type {
  Activation,
  AdamOptions,
  BackwardOptions,
  Engine,
  LayerParams,
  Mlp,
  MlpSpec,
  Optimizer,
  PolyakOptions,
} from './engine.js';

/*
 * The `native` engine: a Node-API addon (native/src, built by `npm run build:native`) with
 * AVX-512/AVX2 kernels. Parameters, gradients, masks and Adam moments live in native memory and
 * are exposed as zero-copy Float32Array views; every network method is one native call.
 */

// ---------------------------------------------------------------------------------------------
// Addon surface (native/src/addon.cc)
// ---------------------------------------------------------------------------------------------

/** @internal Engine handle of the addon (thread pool and scratch). */
export interface EngineHandle {
  threads(): number;
  simd(): string;
}

interface MlpHandle {
  buffer(): ArrayBuffer;
  /** Per layer `[in, out, weight, bias, weightGrad, biasGrad, mask]` (float offsets). */
  layout(): number[][];
  predict(x: Float32Array, batch: number): Float32Array;
  forward(x: Float32Array, batch: number): Float32Array;
  backward(gradOutput: Float32Array, inputGrad: boolean, denseGrad: boolean, paramGrad: boolean): Float32Array | null;
  setMask(index: number, mask: Float32Array | null): void;
  applyMasks(): void;
  /** Layer k's weights were written through the views: its packed copies are rebuilt at their next use. */
  weightsWritten(index: number): void;
  /** Writes layer k's packed weight gradient (gathered layers) into the weightGrad view. */
  syncWeightGrad(index: number): void;
  /** Layer k's weightGrad was written through the view: the packed gradient is dropped. */
  weightGradWritten(index: number): void;
  copyFrom(other: MlpHandle): void;
  polyakFrom(other: MlpHandle, tau: number): void;
  sparseLayers(): boolean[];
  nmLayers(): ([number, number] | null)[];
  setBlockCirculant(index: number, blockSize: number | null): void;
  blockCirculant(index: number): number | null;
  circulantFftLayers(batch: number, train: boolean): boolean[];
  dispose(): void;
}

interface AdamHandle {
  buffer(): ArrayBuffer;
  /** Per layer `[mWeight, vWeight, mBias, vBias]` (float offsets). */
  layout(): number[][];
  step(t: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number): void;
  /** Writes the compact moments of gathered layers back into the buffer. */
  flush(): void;
  /** True when layer k's weight took its last step on the gathered path. */
  gathered(k: number): boolean;
  dispose(): void;
}

/** @internal Surface of the addon (other native modules extend it, e.g. src/nn/block-circulant-layer.ts). */
export interface NativeAddon {
  Engine: new (
    threads: number,
    sparseDensityThreshold?: number,
    circulantFftMinBatch?: number,
    gatheredMaxDensity?: number,
    gatheredMinWeights?: number,
  ) => EngineHandle;
  Mlp: new (engine: EngineHandle, sizes: number[], hidden: Activation, output: Activation) => MlpHandle;
  Adam: new (mlp: MlpHandle) => AdamHandle;
  simdWidth: number;
  /** Default FFT threshold of block-circulant layers (native/src/mlp.h); Infinity: never. */
  circulantFftMinBatch(blockSize: number, train: boolean): number;
}

let cachedAddon: NativeAddon | undefined;

/** Absolute path of the compiled addon. */
export function nativeAddonPath(): string {
  return join(packageRoot(), 'native', 'build', 'Release', 'sparse_rl_native.node');
}

/**
 * Loads the addon once.
 * @throws Error naming `npx sparse-rl setup` when it is missing or fails to load.
 */
export function loadAddon(): NativeAddon {
  if (cachedAddon) return cachedAddon;
  const path = nativeAddonPath();
  if (!existsSync(path)) {
    throw new Error(
      `the native engine is not built (${path} is missing): run \`npx sparse-rl setup\` (in a clone: \`npm run setup\`)`,
    );
  }
  const require = createRequire(import.meta.url);
  try {
    cachedAddon = require(path) as NativeAddon;
  } catch (e) {
    throw new Error(
      `failed to load the native engine from ${path} (${(e as Error).message}): rebuild it with \`npx sparse-rl setup --force\``,
      { cause: e },
    );
  }
  return cachedAddon;
}

/** True when the native addon is built and loads on this machine. */
export function nativeEngineAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Networks
// ---------------------------------------------------------------------------------------------


/** One layer of a {@link NativeMlp}: live views on native memory. */
class NativeLayer implements LayerParams {
  /** @internal set by NativeMlp.setMask / copy / Polyak. */
  masked = false;
  /** @internal The weight view was handed out since the last native call (NativeMlp.announceWrites). */
  weightTouched = false;
  /** @internal The weightGrad view was handed out since the last native call. */
  gradTouched = false;
  /** @internal A backward ran since the weightGrad view was last made current. */
  gradMaybeStale = false;

  constructor(
    readonly name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    private readonly weightView: Float32Array,
    readonly bias: Float32Array,
    private readonly weightGradView: Float32Array,
    readonly biasGrad: Float32Array,
    private readonly maskView: Float32Array,
    /** Makes the weightGrad view current (NativeMlp: the addon's syncWeightGrad of this layer). */
    private readonly syncGrad: () => void,
  ) {}

  /**
   * `[out, in]` live view of the weight. Handing it out counts as a write: the engine rebuilds the
   * layer's packed copies of its active weights (native/src/mlp.h `Mlp::weightsWritten`) before
   * the next native call of the network, so writes through a view taken before that call land.
   * Keep no view across calls of the network to write through it later.
   */
  get weight(): Float32Array {
    this.weightTouched = true;
    return this.weightView;
  }

  /**
   * `[out, in]` live view of the last backward's weight gradient, made current first: large
   * sparse layers keep it packed in CSR order between backward and Adam (native/src/mlp.h
   * `Mlp::syncWeightGrad`), which this read writes into the view. Like {@link weight}, taking the
   * view counts as a write, picked up at the network's next native call.
   */
  get weightGrad(): Float32Array {
    if (this.gradMaybeStale) {
      this.syncGrad();
      this.gradMaybeStale = false;
    }
    this.gradTouched = true;
    return this.weightGradView;
  }

  /** `[out, in]` 0/1 view of the native mask, or null when the layer is dense. Do not write. */
  get mask(): Float32Array | null {
    return this.masked ? this.maskView : null;
  }
}

/**
 * An MLP in native memory. Weights `[out, in]` (PyTorch layout), biases `[out]`, all float32.
 * Masked layers whose density is at most the engine's `sparseDensityThreshold` (default 0.5) run
 * on sparse kernels (CSR/CSC index lists rebuilt by `setMask`, or the packed N:M index when the
 * mask is exactly N:M, see {@link NativeMlp.nmKernelLayers}) that read only active weights; the
 * others use dense kernels on the weights as stored. Both agree while the engine invariant
 * `W ⊙ (1 − M) = 0` holds: after writing weights through the views, call `applyMasks` (or
 * `setMask`) before the next forward pass. The sparse kernels read copies of the active weights
 * packed in CSR / CSC order; writes through a `weight` view are picked up at the network's next
 * call (see {@link NativeLayer.weight}).
 */
export class NativeMlp implements Mlp {
  readonly layers: readonly NativeLayer[];
  readonly weightCount: number;
  maskVersion = 0;
  /** @internal */
  readonly handle: MlpHandle;

  /** @internal Use {@link Engine.createMlp}. */
  constructor(
    /** @internal */ readonly engineHandle: EngineHandle,
    readonly spec: MlpSpec,
    addon: NativeAddon,
  ) {
    checkMlpSpec(spec);
    this.spec = { ...spec, layerSizes: [...spec.layerSizes] };
    this.handle = new addon.Mlp(engineHandle, [...spec.layerSizes], spec.hiddenActivation, spec.outputActivation);
    const buf = this.handle.buffer();
    const view = (offset: number, length: number) => new Float32Array(buf, offset * 4, length);
    this.layers = this.handle.layout().map(([inF, outF, w, b, dw, db, m], k) => {
      const n = inF * outF;
      return new NativeLayer(
        `${spec.name}.l${k + 1}`, inF, outF,
        view(w, n), view(b, outF), view(dw, n), view(db, outF), view(m, n),
        () => this.handle.syncWeightGrad(k),
      );
    });
    this.weightCount = this.layers.reduce((s, l) => s + l.inFeatures * l.outFeatures, 0);
  }

  /**
   * @param x `[batch, in]`
   * @returns `[batch, out]`, a fresh array
   * @throws TypeError / RangeError on a wrong type or length; Error after dispose
   */
  predict(x: Float32Array, batch: number): Float32Array {
    this.announceWrites();
    return this.handle.predict(x, batch);
  }

  /** Like {@link predict} and caches the activations for {@link backward}. */
  forward(x: Float32Array, batch: number): Float32Array {
    this.announceWrites();
    return this.handle.forward(x, batch);
  }

  /**
   * Layers on the sparse kernels write only the active `weightGrad` entries once the inactive
   * ones are known to be 0 (after the first masked backward with the current mask; a dense-gradient
   * backward or a `setMask` makes the next one zero the whole array): do not write non-zeros at
   * inactive positions through the view without changing the mask afterwards.
   * @param gradOutput `[batch, out]` dL/dy of the last forward
   * @returns dL/dx `[batch, in]` when `options.inputGrad`, else null
   * @throws Error without a preceding forward; RangeError on a wrong length
   */
  backward(gradOutput: Float32Array, options: BackwardOptions = {}): Float32Array | null {
    this.announceWrites();
    const dx = this.handle.backward(gradOutput, options.inputGrad === true, options.denseGrad === true, options.paramGrad !== false);
    if (options.paramGrad !== false) for (const l of this.layers) l.gradMaybeStale = true;
    return dx;
  }

  /**
   * Sets (copied, normalised to 0/1) or removes the mask of layer `index`; W ← W ⊙ M.
   * @throws RangeError on a wrong index or length
   */
  setMask(index: number, mask: Float32Array | null): void {
    this.checkIndex(index);
    const layer = this.layers[index];
    if (mask !== null && mask.length !== layer.inFeatures * layer.outFeatures) {
      throw new RangeError(
        `${layer.name}: mask length ${mask.length}, expected ${layer.inFeatures * layer.outFeatures}`,
      );
    }
    this.announceWrites();
    this.handle.setMask(index, mask);
    layer.masked = mask !== null;
    this.maskVersion++;
  }

  applyMasks(): void {
    this.announceWrites();
    this.handle.applyMasks();
  }

  /**
   * Copies weights, biases and masks of `other` (same layer sizes and activations).
   * @throws RangeError when the shapes differ
   */
  copyFrom(other: Mlp): void {
    checkSameShape(this.spec, other.spec, 'copyFrom');
    if (other instanceof NativeMlp && other.engineHandle === this.engineHandle) {
      this.announceWrites();
      other.announceWrites();
      this.handle.copyFrom(other.handle);
      this.layers.forEach((l, k) => (l.masked = other.layers[k].masked));
      return;
    }
    other.layers.forEach((src, k) => {
      this.layers[k].weight.set(src.weight);
      this.layers[k].bias.set(src.bias);
      this.setMask(k, src.mask);
    });
  }

  /**
   * θ ← τ·θ_online + (1 − τ)·θ for weights and biases; this network's masks become (copies of)
   * the online masks and W ← W ⊙ M_online.
   * @param tau in [0, 1]
   * @throws RangeError when tau is outside [0, 1] or the shapes differ
   */
  polyakFrom(online: Mlp, tau: number, options: PolyakOptions = {}): void {
    checkTau(this.spec.name, tau);
    checkSameShape(this.spec, online.spec, 'polyakFrom');
    const unmasked = options.masks === 'none';
    if (!unmasked && online instanceof NativeMlp && online.engineHandle === this.engineHandle) {
      this.announceWrites();
      online.announceWrites();
      this.handle.polyakFrom(online.handle, tau);
      this.layers.forEach((l, k) => (l.masked = online.layers[k].masked));
      return;
    }
    const t32 = Math.fround(tau);
    const keep = Math.fround(1 - t32);
    online.layers.forEach((src, k) => {
      const dst = this.layers[k];
      const lerp = (t: Float32Array, o: Float32Array) => {
        for (let i = 0; i < t.length; i++) t[i] = Math.fround(t[i] * keep) + Math.fround(o[i] * t32);
      };
      // `masks: 'none'` (DS-TD3 targets with their own masks): drop this layer's mask first,
      // then average every entry; the sparsifier sets the target's own mask afterwards.
      if (unmasked) this.setMask(k, null);
      lerp(dst.weight, src.weight);
      lerp(dst.bias, src.bias);
      if (!unmasked) this.setMask(k, src.mask);
    });
  }

  /** Per layer: whether the sparse kernels run it (masked, density ≤ the threshold). For tests / logs. */
  sparseKernelLayers(): boolean[] {
    return this.handle.sparseLayers();
  }

  /**
   * Per layer: `[N, M]` when the layer runs on the packed N:M kernels, else null. A masked layer
   * on the sparse kernels uses them when its mask is exactly N:M along the input dimension for
   * some M in {2, 4, 8, 16, 32} (every full group of M consecutive inputs of every output row has
   * exactly N active entries, the trailing partial group min(N, its length); the smallest such M
   * is reported, so a 2:4 mask reads [2, 4] and a 1:8 mask [1, 8]). Detected by `setMask`. The
   * packed layout (values of a row in place + one in-group index per active entry, no row
   * pointers) follows NVIDIA's 2:4 sparse tensor core format (Mishra et al. 2021,
   * arXiv 2104.08378); results equal the CSR / CSC kernels bit for bit. For tests / logs.
   */
  nmKernelLayers(): ([number, number] | null)[] {
    return this.handle.nmLayers();
  }

  /**
   * @inheritdoc Declares layer `index` block-circulant (see `Mlp.setBlockCirculant`). From a
   * batch size on ({@link defaultCirculantFftMinBatch}, or the engine's `circulantFftMinBatch`)
   * `forward` + `backward` and `predict` run the layer on the FFT kernels
   * (native/src/circulant_layer.cc) instead of the dense / sparse ones; below it they use the normal
   * kernels on the materialised W. Either way `backward` writes the folded gradient (native, no
   * JS fold). Not copied by `copyFrom` / `polyakFrom`.
   * @throws RangeError for a bad index or b not a power of two >= 2
   */
  setBlockCirculant(index: number, blockSize: number | null): void {
    this.checkIndex(index);
    if (blockSize !== null && !(Number.isInteger(blockSize) && blockSize >= 2 && (blockSize & (blockSize - 1)) === 0)) {
      throw new RangeError(`${this.layers[index].name}: block size b must be a power of two >= 2, got b = ${blockSize}`);
    }
    this.handle.setBlockCirculant(index, blockSize);
  }

  /** @inheritdoc */
  blockCirculant(index: number): number | null {
    this.checkIndex(index);
    return this.handle.blockCirculant(index);
  }

  /**
   * Per layer: whether the FFT kernels run it at this batch (block-circulant, batch ≥ the
   * threshold) in `forward` / `backward` (`'train'`) or in `predict`. For tests / logs.
   */
  circulantFftLayers(batch: number, pass: 'train' | 'predict' = 'train'): boolean[] {
    return this.handle.circulantFftLayers(batch, pass === 'train');
  }

  private checkIndex(index: number): void {
    checkLayerIndex(this.spec.name, index, this.layers.length);
  }

  /**
   * @internal Tells the native side which layers' weight views were handed out since the last
   * native call (NativeLayer.weight), so that their packed copies are rebuilt before use.
   */
  announceWrites(): void {
    for (let k = 0; k < this.layers.length; k++) {
      const layer = this.layers[k];
      if (layer.weightTouched) {
        this.handle.weightsWritten(k);
        layer.weightTouched = false;
      }
      if (layer.gradTouched) {
        this.handle.weightGradWritten(k);
        layer.gradTouched = false;
      }
    }
  }

  /** Frees the activation cache and detaches the views (they become empty). Idempotent. */
  dispose(): void {
    this.handle.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Adam
// ---------------------------------------------------------------------------------------------

class NativeAdam implements Optimizer {
  stepCount = 0;
  private readonly views: ReadonlyMap<string, { readonly m: Float32Array; readonly v: Float32Array }>;
  private readonly handle: AdamHandle;
  private readonly mlp: NativeMlp;
  private lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;

  constructor(mlp: NativeMlp, options: AdamOptions, addon: NativeAddon) {
    ({ lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay } = resolveAdamOptions(options));
    this.mlp = mlp;
    this.handle = new addon.Adam(mlp.handle);
    const buf = this.handle.buffer();
    const state = new Map<string, { m: Float32Array; v: Float32Array }>();
    this.handle.layout().forEach(([mw, vw, mb, vb], k) => {
      const layer = mlp.layers[k];
      const n = layer.inFeatures * layer.outFeatures;
      state.set(`${layer.name}.weight`, { m: new Float32Array(buf, mw * 4, n), v: new Float32Array(buf, vw * 4, n) });
      state.set(`${layer.name}.bias`, {
        m: new Float32Array(buf, mb * 4, layer.outFeatures),
        v: new Float32Array(buf, vb * 4, layer.outFeatures),
      });
    });
    this.views = state;
  }

  /**
   * Live views of m and v, made current first: large sparse layers step on compact moments of
   * their active weights (native/src/mlp.h `Adam`), which this read writes back; views read here
   * stay current, and writes through them are used, until the next `step()`.
   */
  get state(): ReadonlyMap<string, { readonly m: Float32Array; readonly v: Float32Array }> {
    this.handle.flush();
    return this.views;
  }

  /** Whether the weight of layer k (in `mlp.layers` order) took its last step on the gathered (O(nnz)) path. */
  gatheredStep(k: number): boolean {
    return this.handle.gathered(k);
  }

  step(): void {
    const t = this.stepCount + 1;
    this.mlp.announceWrites();
    this.handle.step(t, this.lr, this.beta1, this.beta2, this.eps, this.weightDecay);
    this.stepCount = t;
  }

  setLearningRate(lr: number): void {
    this.lr = checkLearningRate(lr);
  }

  dispose(): void {
    this.handle.dispose();
  }
}


// ---------------------------------------------------------------------------------------------
// Engine
// ---------------------------------------------------------------------------------------------

/** Options of {@link createNativeEngine}. */
export interface NativeEngineOptions {
  /**
   * Threads used by the kernels, including the calling thread. Default: the machine's available
   * parallelism, at most 4 (256-wide layers do not scale further).
   */
  readonly threads?: number;
  /**
   * Masked layers whose density (active fraction) is at most this use the sparse kernels; denser
   * masked layers run the dense kernels on the masked weights. In [0, 1]; default 0.5 (on AVX-512
   * with batch 256 the sparse kernels measured 0.4× the dense time at density 0.2, 0.85× at 0.5 and
   * break even near 0.6). Results agree either way up to float rounding.
   */
  readonly sparseDensityThreshold?: number;
  /**
   * Smallest batch at which layers declared block-circulant (`setBlockCirculant`) run on the FFT
   * kernels, for every block size and for training and predict alike; smaller batches use the
   * dense / sparse kernels on the materialised W (equal results up to rounding). Integer >= 1;
   * default: the measured crossovers of {@link defaultCirculantFftMinBatch}.
   */
  readonly circulantFftMinBatch?: number;
  /**
   * Sparse-kernel layers (not block-circulant) with at least `gatheredMinWeights` weights and a
   * density of at most `gatheredMaxDensity` run Adam and Polyak on their active entries only,
   * O(nnz) instead of O(out·in), with the same results bit for bit (native/src/mlp.h `Adam`).
   * Defaults 0.05 and 262 144 (512×512): below that size the dense arrays stay in cache and the
   * vector loop over them is faster (docs/architecture.md §4). `gatheredMaxDensity: 0`
   * turns it off.
   */
  readonly gatheredMaxDensity?: number;
  readonly gatheredMinWeights?: number;
}

/**
 * Default smallest batch at which a block-circulant layer with block size b runs on the FFT
 * kernels of the native engine: `'train'` for `forward` + `backward`, `'predict'` for `predict`
 * (Infinity: never). Crossovers measured on a 256×256 layer with 2 threads against the dense
 * kernels (+ the native gradient fold when training), native/src/mlp.h:
 * b = 2: train 128, predict never; b = 4: train 32, predict 1; b ≥ 8: 1 and 1.
 * @throws Error when the addon is not built
 */
export function defaultCirculantFftMinBatch(blockSize: number, pass: 'train' | 'predict'): number {
  return loadAddon().circulantFftMinBatch(blockSize, pass === 'train');
}

/**
 * Creates the `native` engine (one thread pool shared by its networks; idle workers spin for
 * ~0.2 ms after each call, then sleep).
 * @throws Error when the addon is not built (run `npx sparse-rl setup`);
 *   RangeError on a bad thread count
 */
export function createNativeEngine(options: NativeEngineOptions = {}): Engine {
  const addon = loadAddon();
  const threads = options.threads ?? Math.min(availableParallelism(), 4);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new RangeError(`threads must be an integer in [1, 64], got ${threads}`);
  }
  const threshold = options.sparseDensityThreshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new RangeError(`sparseDensityThreshold must be in [0, 1], got ${threshold}`);
  }
  const fftMinBatch = options.circulantFftMinBatch;
  if (fftMinBatch !== undefined && !(Number.isInteger(fftMinBatch) && fftMinBatch >= 1 && fftMinBatch <= 2 ** 31 - 1)) {
    throw new RangeError(`circulantFftMinBatch must be an integer >= 1, got ${fftMinBatch}`);
  }
  const { gatheredMaxDensity, gatheredMinWeights } = options;
  if (gatheredMaxDensity !== undefined && !(gatheredMaxDensity >= 0 && gatheredMaxDensity <= 1)) {
    throw new RangeError(`gatheredMaxDensity must be in [0, 1], got ${gatheredMaxDensity}`);
  }
  if (gatheredMinWeights !== undefined && !(gatheredMinWeights >= 0)) {
    throw new RangeError(`gatheredMinWeights must be >= 0, got ${gatheredMinWeights}`);
  }
  const handle = new addon.Engine(threads, threshold, fftMinBatch, gatheredMaxDensity, gatheredMinWeights);
  const simd = handle.simd().split('/')[0];
  const n = handle.threads();
  return {
    name: 'native',
    description: `native (${simd}, ${n} thread${n === 1 ? '' : 's'})`,
    createMlp: (spec: MlpSpec): Mlp => new NativeMlp(handle, spec, addon),
    createAdam: (mlp: Mlp, adamOptions: AdamOptions): Optimizer => {
      if (!(mlp instanceof NativeMlp) || mlp.engineHandle !== handle) {
        throw new TypeError('createAdam: the network was not created by this native engine');
      }
      return new NativeAdam(mlp, adamOptions, addon);
    },
  };
}
