/**
 * The `tfjs` engine of docs/architecture.md §4: the portable numerical reference implementation of the
 * network interface of `engine.ts`, on the TensorFlow.js API (`@tensorflow/tfjs-core`).
 *
 * Storage: every parameter, gradient and Adam moment is a plain JS `Float32Array` (the live views
 * of `engine.ts`). `forward` / `predict` / `backward` upload what they need as tfjs tensors per
 * call, compute with tfjs ops inside `tf.tidy`, read the results back and dispose every tensor;
 * only the activations of the last `forward` stay alive until the next `forward`/`dispose`.
 * Adam and Polyak are plain JS loops over the arrays (float64 arithmetic, float32 storage).
 *
 * Math (per layer k, `x_k` its input `[batch, in]`, `M_k` its mask or all-ones):
 * - forward: `W̃_k = W_k ⊙ M_k`, `z_k = x_k W̃_kᵀ + b_k`, `x_{k+1} = act(z_k)`.
 * - backward: `δ_k = ∂L/∂x_{k+1} ⊙ act'(z_k)`; `∂L/∂W̃_k = δ_kᵀ x_k`, `∂L/∂b_k = Σ_batch δ_k`,
 *   `∂L/∂x_k = δ_k W̃_k`. `weightGrad` is `∂L/∂W̃_k ⊙ M_k` (the autodiff gradient w.r.t. `W_k`),
 *   or the unmasked `∂L/∂W̃_k` with `denseGrad` (RigL / RLx2 grow criterion).
 * - `relu'(z) = 1` for `z > 0`, else 0 (PyTorch's convention at 0); `tanh'(z) = 1 − tanh²(z)`.
 *
 * tfjs has one global active backend. Every engine made here remembers its backend and makes it
 * the active one at the start of each call, so engines on different backends (e.g. `cpu` and
 * `wasm` in one test) can coexist in one process.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
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

/**
 * Which TensorFlow.js backend runs the engine.
 * - `tensorflow`: tfjs-node (libtensorflow through its C API); needs `@tensorflow/tfjs-node` with its
 *   addon built by `npm run setup:tfjs-node`.
 * - `wasm`: `@tensorflow/tfjs-backend-wasm` (XNNPACK, SIMD when the runtime has it). In Node it
 *   is single-threaded: tfjs 4.22 disables its multi-threaded build there (tfjs issue #3830).
 * - `cpu`: `@tensorflow/tfjs-backend-cpu`, plain JavaScript kernels (slowest).
 * - `auto`: the first of `tensorflow`, `wasm`, `cpu` that loads.
 */
export type TfjsBackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

type ConcreteBackend = Exclude<TfjsBackendChoice, 'auto'>;

/**
 * Creates a TensorFlow.js engine on the requested backend.
 *
 * `auto` tries `tensorflow` (only if `@tensorflow/tfjs-node` can be imported), then `wasm`,
 * then `cpu`, and takes the first that initialises. The engine's `description` names the backend
 * that actually runs, e.g. `tfjs-wasm (simd, 1 thread)` or `tfjs-cpu`.
 *
 * The `wasm` backend's binaries (`tfjs-backend-wasm*.wasm`) are loaded from the installed
 * `@tensorflow/tfjs-backend-wasm/dist/` folder (resolved through Node's module resolution).
 *
 * @param backend which backend to use (default `auto`)
 * @throws Error naming the backend and the reason when an explicitly requested backend cannot be
 *   loaded or initialised, or (for `auto`) when none can.
 */
export async function createTfjsEngine(backend: TfjsBackendChoice = 'auto'): Promise<Engine> {
  if (backend === 'auto') {
    const failures: string[] = [];
    for (const candidate of ['tensorflow', 'wasm', 'cpu'] as const) {
      try {
        const description = await loadBackend(candidate);
        return new TfjsEngine(candidate, description);
      } catch (err) {
        failures.push(errorMessage(err));
      }
    }
    throw new Error(`tfjs engine: no backend could be loaded:\n  ${failures.join('\n  ')}`);
  }
  if (backend !== 'tensorflow' && backend !== 'wasm' && backend !== 'cpu') {
    throw new Error(`tfjs engine: unknown backend '${String(backend)}' (expected auto, tensorflow, wasm or cpu)`);
  }
  const description = await loadBackend(backend);
  return new TfjsEngine(backend, description);
}

// ---------------------------------------------------------------------------------------------
// Backend loading

const require = createRequire(import.meta.url);
/** Descriptions of backends already initialised in this process. */
const loadedBackends = new Map<ConcreteBackend, string>();

/**
 * Imports, registers and initialises one backend; returns its description.
 * @throws Error `tfjs backend '<name>' unavailable: <reason>`
 */
async function loadBackend(name: ConcreteBackend): Promise<string> {
  const known = loadedBackends.get(name);
  if (known !== undefined) return known;
  // tfjs-node is an optional dependency whose TensorFlow library and addon are supplied by
  // scripts/setup-tfjs-node.mjs (its own install script downloads from a host that answers 403).
  const hint = name === 'tensorflow' ? '; the tensorflow backend is opt-in: run `npm run setup:tfjs-node` (in the sparse-rl repository) to supply its TensorFlow library and build its addon' : '';
  const fail = (reason: string): never => {
    throw new Error(`tfjs backend '${name}' unavailable: ${reason}${hint}`);
  };
  let description = `tfjs-${name}`;
  if (name === 'tensorflow') {
    // A variable specifier keeps TypeScript from requiring the (optional) package at build time.
    const specifier = '@tensorflow/tfjs-node';
    try {
      await import(specifier);
    } catch (err) {
      fail(`cannot import ${specifier} (${firstLine(errorMessage(err))})`);
    }
  } else if (name === 'wasm') {
    let wasm: typeof import('@tensorflow/tfjs-backend-wasm');
    try {
      wasm = await import('@tensorflow/tfjs-backend-wasm');
    } catch (err) {
      return fail(`cannot import @tensorflow/tfjs-backend-wasm (${firstLine(errorMessage(err))})`);
    }
    if (tf.engine().registry.wasm == null) {
      try {
        const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
        // A directory prefix: the backend appends the binary's name (plain, -simd or
        // -threaded-simd); Emscripten reads local paths with `fs` under Node.
        wasm.setWasmPaths(dist + path.sep);
        // Honoured only where tfjs enables the threaded binary (browsers with SharedArrayBuffer);
        // in Node it is single-threaded regardless.
        wasm.setThreadsCount(Math.max(1, Math.min(4, availableParallelism())));
      } catch (err) {
        fail(errorMessage(err));
      }
    }
  } else {
    try {
      await import('@tensorflow/tfjs-backend-cpu');
    } catch (err) {
      fail(`cannot import @tensorflow/tfjs-backend-cpu (${firstLine(errorMessage(err))})`);
    }
  }
  if (tf.findBackendFactory(name) == null) fail('the package loaded but registered no backend of that name');
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch (err) {
    fail(errorMessage(err));
  }
  if (!ok || tf.getBackend() !== name) fail('initialisation failed (see the warnings tfjs logged above)');
  if (name === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threaded = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const threads = threaded ? wasm.getThreadsCount() : 1;
    description = `tfjs-wasm (${simd ? 'simd' : 'no simd'}, ${threads} thread${threads === 1 ? '' : 's'})`;
  }
  loadedBackends.set(name, description);
  return description;
}

/**
 * Makes `name` tfjs's active backend. Switching to an initialised backend is synchronous
 * (`Engine.setBackend` reaches no `await` then); that is checked.
 */
function activate(name: ConcreteBackend): void {
  const e = tf.engine();
  if (e.backendName === name) return;
  if (e.registry[name] == null) throw new Error(`tfjs backend '${name}' is not initialised`);
  void tf.setBackend(name);
  if (tf.engine().backendName !== name) throw new Error(`tfjs engine: could not switch to backend '${name}'`);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

// ---------------------------------------------------------------------------------------------
// Engine

/** `Engine` on one tfjs backend; `description` is e.g. `tfjs-wasm (simd, 1 thread)`. */
class TfjsEngine implements Engine {
  readonly name = 'tfjs';

  constructor(
    private readonly backend: ConcreteBackend,
    readonly description: string,
  ) {}

  createMlp(spec: MlpSpec): Mlp {
    return new TfjsMlp(spec, this.backend);
  }

  createAdam(mlp: Mlp, options: AdamOptions): Optimizer {
    return new JsAdam(mlp, options);
  }
}

/** One layer: storage owned by the JS heap; the mask is replaced only through `setMask`. */
class TfjsLayer implements LayerParams {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  readonly weightGrad: Float32Array;
  readonly biasGrad: Float32Array;
  maskData: Float32Array | null = null;

  constructor(
    readonly name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
  ) {
    this.weight = new Float32Array(outFeatures * inFeatures);
    this.bias = new Float32Array(outFeatures);
    this.weightGrad = new Float32Array(outFeatures * inFeatures);
    this.biasGrad = new Float32Array(outFeatures);
  }

  get mask(): Float32Array | null {
    return this.maskData;
  }
}

/** Tensors kept by `forward` for `backward`: per layer its input, effective weight and output. */
interface ForwardCache {
  readonly batch: number;
  readonly inputs: tf.Tensor2D[];
  readonly weights: tf.Tensor2D[];
  readonly outputs: tf.Tensor2D[];
}

/**
 * `Mlp` with JS-array parameters and tfjs compute (see the module comment for the math). With
 * `paramGrad: false`, `backward` skips the parameter gradients entirely. The activations of the
 * last `forward` stay cached (a few tensors) until the next `forward` or `dispose`, so `backward`
 * may be called more than once per `forward` and always uses the inputs and effective weights of
 * that `forward`.
 */
class TfjsMlp implements Mlp {
  readonly spec: MlpSpec;
  readonly layers: readonly TfjsLayer[];
  readonly weightCount: number;
  maskVersion = 0;
  private cache: ForwardCache | null = null;
  private disposed = false;
  /**
   * tfjs's `cpu` backend (and tfjs-node until first use) keep a reference to the array a tensor is
   * made from; tensors that outlive a call (the forward cache) are then made from copies, so the
   * caller may reuse its input buffer and change weights between `forward` and `backward`.
   */
  private readonly copyOnUpload: boolean;
  /** Run matrix products untransposed, with explicit `tf.transpose` (see `matMul`). */
  private readonly explicitTranspose: boolean;

  constructor(
    spec: MlpSpec,
    private readonly backend: ConcreteBackend,
  ) {
    checkMlpSpec(spec);
    this.spec = { ...spec, layerSizes: [...spec.layerSizes] };
    const sizes = spec.layerSizes;
    const layers: TfjsLayer[] = [];
    let count = 0;
    for (let k = 0; k + 1 < sizes.length; k++) {
      layers.push(new TfjsLayer(`${spec.name}.l${k + 1}`, sizes[k], sizes[k + 1]));
      count += sizes[k] * sizes[k + 1];
    }
    this.layers = layers;
    this.weightCount = count;
    this.copyOnUpload = backend !== 'wasm';
    this.explicitTranspose = backend === 'wasm';
  }

  predict(x: Float32Array, batch: number): Float32Array {
    this.checkAlive();
    this.checkBatch(x, batch, this.inFeatures, 'x');
    activate(this.backend);
    let y = null as Float32Array | null;
    tf.tidy(() => {
      let a: tf.Tensor2D = tf.tensor2d(x, [batch, this.inFeatures], 'float32');
      for (let k = 0; k < this.layers.length; k++) a = this.layerForward(k, a, this.effectiveWeight(k, false));
      // (a typed array is not returned through tidy, which would walk its elements)
      y = a.dataSync().slice() as Float32Array;
    });
    return y!;
  }

  forward(x: Float32Array, batch: number): Float32Array {
    this.checkAlive();
    this.checkBatch(x, batch, this.inFeatures, 'x');
    this.clearCache();
    activate(this.backend);
    const kept = tf.tidy(() => {
      const inputs: tf.Tensor2D[] = [];
      const weights: tf.Tensor2D[] = [];
      const outputs: tf.Tensor2D[] = [];
      let a: tf.Tensor2D = tf.tensor2d(this.copyOnUpload ? x.slice() : x, [batch, this.inFeatures], 'float32');
      for (let k = 0; k < this.layers.length; k++) {
        const w = this.effectiveWeight(k, this.copyOnUpload);
        inputs.push(a);
        weights.push(w);
        a = this.layerForward(k, a, w);
        outputs.push(a);
      }
      return { inputs, weights, outputs };
    });
    this.cache = { batch, ...kept };
    // Copy: on the cpu backend `dataSync` returns the tensor's own storage, which is cached.
    return kept.outputs[kept.outputs.length - 1].dataSync().slice() as Float32Array;
  }

  backward(gradOutput: Float32Array, options: BackwardOptions = {}): Float32Array | null {
    this.checkAlive();
    const cache = this.cache;
    if (cache === null) throw new Error(`${this.spec.name}.backward: no preceding forward`);
    const { batch } = cache;
    this.checkBatch(gradOutput, batch, this.outFeatures, 'gradOutput');
    const inputGrad = options.inputGrad ?? false;
    const denseGrad = options.denseGrad ?? false;
    const paramGrad = options.paramGrad ?? true;
    activate(this.backend);
    let result = null as Float32Array | null;
    tf.tidy(() => {
      let g: tf.Tensor2D = tf.tensor2d(gradOutput, [batch, this.outFeatures], 'float32');
      for (let k = this.layers.length - 1; k >= 0; k--) {
        const layer = this.layers[k];
        const act = k === this.layers.length - 1 ? this.spec.outputActivation : this.spec.hiddenActivation;
        const delta = activationBackward(g, cache.outputs[k], act);
        if (paramGrad) {
          let dw = matMul(delta, cache.inputs[k], true, false, this.explicitTranspose); // [out, in]
          if (layer.maskData !== null && !denseGrad) {
            dw = tf.mul(dw, tf.tensor2d(layer.maskData, [layer.outFeatures, layer.inFeatures], 'float32'));
          }
          layer.weightGrad.set(dw.dataSync() as Float32Array);
          layer.biasGrad.set(tf.sum(delta, 0).dataSync() as Float32Array);
        }
        if (k === 0 && !inputGrad) break;
        g = matMul(delta, cache.weights[k], false, false, false); // [batch, in]
        if (k === 0) result = g.dataSync().slice() as Float32Array;
      }
    });
    return result;
  }

  /** Like `engine.ts`; the copied mask is normalised to 0/1 (nonzero → 1). */
  setMask(index: number, mask: Float32Array | null): void {
    this.checkAlive();
    checkLayerIndex(`${this.spec.name}.setMask`, index, this.layers.length);
    const layer = this.layers[index];
    this.maskVersion++;
    if (mask === null) {
      layer.maskData = null;
      return;
    }
    if (mask.length !== layer.weight.length) {
      throw new RangeError(
        `${layer.name}.setMask: mask length ${mask.length} != ${layer.outFeatures}×${layer.inFeatures} = ${layer.weight.length}`,
      );
    }
    layer.maskData = Float32Array.from(mask, (v) => (v !== 0 ? 1 : 0));
    applyMask(layer.weight, layer.maskData);
  }

  applyMasks(): void {
    this.checkAlive();
    for (const layer of this.layers) if (layer.maskData !== null) applyMask(layer.weight, layer.maskData);
  }

  copyFrom(other: Mlp): void {
    this.checkAlive();
    checkSameShape(this.spec, other.spec, 'copyFrom');
    for (let k = 0; k < this.layers.length; k++) {
      const src = other.layers[k];
      const dst = this.layers[k];
      dst.weight.set(src.weight);
      dst.bias.set(src.bias);
      this.setMask(k, src.mask);
    }
  }

  /**
   * `θ ← τ·θ_online + (1 − τ)·θ`; then every layer's mask becomes a copy of the online layer's
   * mask (none where the online layer is dense) and `W ← W ⊙ M_online`.
   * @throws RangeError when tau is outside [0, 1] or the networks differ in shape
   */
  polyakFrom(online: Mlp, tau: number, options: PolyakOptions = {}): void {
    this.checkAlive();
    checkTau(this.spec.name, tau);
    checkSameShape(this.spec, online.spec, 'polyakFrom');
    const keep = 1 - tau;
    for (let k = 0; k < this.layers.length; k++) {
      const src = online.layers[k];
      const dst = this.layers[k];
      const w = dst.weight;
      const ws = src.weight;
      const m = options.masks === 'none' ? null : src.mask;
      if (m === null) {
        for (let i = 0; i < w.length; i++) w[i] = tau * ws[i] + keep * w[i];
      } else {
        for (let i = 0; i < w.length; i++) w[i] = m[i] === 0 ? 0 : tau * ws[i] + keep * w[i];
      }
      const b = dst.bias;
      const bs = src.bias;
      for (let i = 0; i < b.length; i++) b[i] = tau * bs[i] + keep * b[i];
      // Targets share the online masks: this layer's mask becomes a copy of the online one (or
      // none), which keeps the invariant W ⊙ (1 − M) = 0 (same as the native engine).
      // with `masks: 'none'` the target's masks are removed (the sparsifier sets its own).
      if (m === null) dst.maskData = null;
      else if (dst.maskData !== null) dst.maskData.set(m);
      else dst.maskData = Float32Array.from(m);
    }
  }

  dispose(): void {
    this.clearCache();
    this.disposed = true;
  }

  // -- helpers ---------------------------------------------------------------------------------

  private get inFeatures(): number {
    return this.spec.layerSizes[0];
  }

  private get outFeatures(): number {
    return this.spec.layerSizes[this.spec.layerSizes.length - 1];
  }

  /** `W ⊙ M` (or `W`) as a tensor `[out, in]`; from a copy of `W` when `copy` and unmasked. */
  private effectiveWeight(k: number, copy: boolean): tf.Tensor2D {
    const layer = this.layers[k];
    const shape: [number, number] = [layer.outFeatures, layer.inFeatures];
    if (layer.maskData === null) return tf.tensor2d(copy ? layer.weight.slice() : layer.weight, shape, 'float32');
    return tf.mul(tf.tensor2d(layer.weight, shape, 'float32'), tf.tensor2d(layer.maskData, shape, 'float32'));
  }

  /** `act(x Wᵀ + b)` for layer k. */
  private layerForward(k: number, x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
    const layer = this.layers[k];
    const act = k === this.layers.length - 1 ? this.spec.outputActivation : this.spec.hiddenActivation;
    const bias = tf.tensor1d(layer.bias, 'float32');
    let z: tf.Tensor2D;
    if (this.explicitTranspose) {
      // Fused bias + relu is right here; with `transposeB` the wasm backend 4.22 adds the bias at
      // wrong positions from the second row on (observed), which `matMul` below avoids anyway.
      z = tf.fused.matMul({ a: x, b: tf.transpose(w), bias, activation: act === 'relu' ? 'relu' : 'linear' }) as tf.Tensor2D;
    } else {
      z = tf.add<tf.Tensor2D>(tf.matMul(x, w, false, true), bias);
      if (act === 'relu') z = tf.relu(z);
    }
    return (act === 'tanh' ? tf.tanh(z) : z) as tf.Tensor2D;
  }

  private clearCache(): void {
    if (this.cache === null) return;
    const { inputs, weights, outputs } = this.cache;
    this.cache = null;
    // A layer's output is the next layer's input: dispose each tensor once.
    tf.dispose([...new Set<tf.Tensor>([...inputs, ...weights, ...outputs])]);
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error(`${this.spec.name}: network was disposed`);
  }

  private checkBatch(a: Float32Array, batch: number, features: number, what: string): void {
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`${this.spec.name}: batch must be a positive integer, got ${batch}`);
    if (a.length !== batch * features) {
      throw new RangeError(`${this.spec.name}: ${what} has length ${a.length}, expected batch ${batch} × ${features} = ${batch * features}`);
    }
  }

}

/**
 * `op(a) · op(b)`. With `explicitTranspose` (the wasm backend) transposes are done by
 * `tf.transpose` and the product runs untransposed: tfjs-backend-wasm 4.22 runs only
 * untransposed products on XNNPACK and falls back to a scalar loop about 10× slower otherwise
 * (measured 256×256×256: 1.9 ms vs 20–26 ms, against 0.3 ms for a transpose). The other backends
 * take the transpose flags directly (on `cpu` that is faster than transposing).
 */
function matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean, explicitTranspose: boolean): tf.Tensor2D {
  if (!explicitTranspose) return tf.matMul(a, b, transposeA, transposeB);
  return tf.matMul(transposeA ? tf.transpose(a) : a, transposeB ? tf.transpose(b) : b);
}

/** `∂L/∂z = ∂L/∂y ⊙ act'(z)` from the layer's output `y = act(z)`. */
function activationBackward(g: tf.Tensor2D, y: tf.Tensor2D, act: Activation): tf.Tensor2D {
  switch (act) {
    case 'linear':
      return g;
    case 'relu':
      return tf.mul(g, tf.step(y)); // step(y) = 1 for y > 0, else 0
    case 'tanh':
      return tf.mul(g, tf.sub(1, tf.square(y)));
  }
}

function applyMask(w: Float32Array, m: Float32Array): void {
  for (let i = 0; i < w.length; i++) if (m[i] === 0) w[i] = 0;
}


// ---------------------------------------------------------------------------------------------
// Adam

interface AdamParam {
  readonly name: string;
  readonly param: Float32Array;
  readonly grad: Float32Array;
  /** The mask applies to this parameter (weights of masked layers), read live at each step. */
  readonly layer: LayerParams | null;
  readonly m: Float32Array;
  readonly v: Float32Array;
}

/**
 * `torch.optim.Adam` (default `amsgrad=False`, `maximize=False`) over an MLP's weights and biases,
 * as JS loops:
 * `g = ∇ ⊙ M + λθ; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;`
 * `θ ← θ − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)`, then `θ ← θ ⊙ M`.
 * Works on any engine's `Mlp` (it only uses the live views).
 */
class JsAdam implements Optimizer {
  stepCount = 0;
  readonly state: ReadonlyMap<string, { readonly m: Float32Array; readonly v: Float32Array }>;
  private readonly params: AdamParam[] = [];
  private lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;
  private disposed = false;

  constructor(mlp: Mlp, options: AdamOptions) {
    ({ lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay } = resolveAdamOptions(options));
    const state = new Map<string, { m: Float32Array; v: Float32Array }>();
    for (const layer of mlp.layers) {
      for (const [suffix, param, grad, masked] of [
        ['weight', layer.weight, layer.weightGrad, true],
        ['bias', layer.bias, layer.biasGrad, false],
      ] as const) {
        const name = `${layer.name}.${suffix}`;
        const entry = { m: new Float32Array(param.length), v: new Float32Array(param.length) };
        state.set(name, entry);
        this.params.push({ name, param, grad, layer: masked ? layer : null, ...entry });
      }
    }
    this.state = state;
  }

  step(): void {
    if (this.disposed) throw new Error('Adam: optimizer was disposed');
    const t = ++this.stepCount;
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this;
    const stepSize = this.lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    for (const { param: p, grad, layer, m, v } of this.params) {
      const mask = layer?.mask ?? null;
      for (let i = 0; i < p.length; i++) {
        let g = mask === null ? grad[i] : grad[i] * mask[i];
        if (wd !== 0) g += wd * p[i];
        const mi = b1 * m[i] + (1 - b1) * g;
        const vi = b2 * v[i] + (1 - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + eps);
      }
      if (mask !== null) applyMask(p, mask);
    }
  }

  setLearningRate(lr: number): void {
    this.lr = checkLearningRate(lr);
  }

  dispose(): void {
    this.disposed = true;
  }
}

