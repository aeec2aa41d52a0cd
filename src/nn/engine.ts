/**
 * The network interface of docs/architecture.md §4: agents build and train MLPs only through these types,
 * so the compute engine (`native` Node-API addon or `tfjs` TensorFlow.js) is a runtime choice.
 *
 * Conventions shared by every engine:
 * - Tensors are row-major `Float32Array`s. A batch of inputs is `[batch, inFeatures]`.
 * - A layer's weight uses the PyTorch layout `[out, in]`; its bias is `[out]`.
 * - Parameter names are `<network>.l<k>.weight` / `<network>.l<k>.bias`, k = 1..L
 *   (e.g. `actor.l1.weight`). Masks are keyed by the weight's name.
 * - `LayerParams.weight`, `.bias`, `.weightGrad`, `.biasGrad` are **live views** of the
 *   engine's storage: writing into them changes the network (this is how initialisation,
 *   checkpoint loading and sparsifiers' topology updates touch weights; take the view again
 *   for every batch of writes rather than keeping it across calls of the network, which lets an
 *   engine keep derived copies of the weights current). Masks are changed only
 *   through `Mlp.setMask`, so an engine can rebuild sparse index structures.
 * - Invariant maintained by every engine: for every masked layer, `weight ⊙ (1 − mask) = 0`
 *   after `Optimizer.step`, `Mlp.applyMasks`, `Mlp.setMask` and `Mlp.polyakFrom`.
 */

/** Activation applied after a layer. `tanh` output is used by the TD3 actor. */
export type Activation = 'relu' | 'tanh' | 'linear';

/** Shape and activations of a multi-layer perceptron. */
export interface MlpSpec {
  /** Network name, the prefix of its parameter names: `actor`, `critic1`, `actorTarget`, ... */
  readonly name: string;
  /** Feature sizes `[in, h1, ..., out]`; the MLP has `layerSizes.length - 1` linear layers. */
  readonly layerSizes: readonly number[];
  /** Activation after every hidden layer. */
  readonly hiddenActivation: Activation;
  /** Activation after the last layer. */
  readonly outputActivation: Activation;
}

/** One linear layer `y = x Wᵀ + b` of an MLP, with live views of its storage. */
export interface LayerParams {
  /** `<network>.l<k>` (k is 1-based). */
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** `[out, in]`, live view. */
  readonly weight: Float32Array;
  /** `[out]`, live view. */
  readonly bias: Float32Array;
  /** `[out, in]`, gradient of the last `backward`, live view. */
  readonly weightGrad: Float32Array;
  /** `[out]`, gradient of the last `backward`, live view. */
  readonly biasGrad: Float32Array;
  /** `[out, in]` of 0/1, or `null` when the layer is dense. Read-only: use `Mlp.setMask`. */
  readonly mask: Float32Array | null;
}

/** Options of `Mlp.backward`. */
export interface BackwardOptions {
  /** Also return dL/dx `[batch, in]` (the actor's loss flows through the critic). Default false. */
  readonly inputGrad?: boolean;
  /**
   * Fill `weightGrad` of masked layers at **every** position, including inactive ones (RigL /
   * RLx2 grow criterion). Default false: inactive positions of masked layers get gradient 0,
   * which lets sparse engines skip them.
   */
  readonly denseGrad?: boolean;
  /**
   * Compute parameter gradients at all. Default true. False leaves `weightGrad`/`biasGrad`
   * untouched and only back-propagates to the input (the critic's part of the TD3 actor loss).
   */
  readonly paramGrad?: boolean;
}

/** Options of `Mlp.polyakFrom`. */
export interface PolyakOptions {
  /** `online` (default): targets share the online masks; `none`: unmasked average, masks removed. */
  readonly masks?: 'online' | 'none';
}

/** A multi-layer perceptron owned by an engine. */
export interface Mlp {
  readonly spec: MlpSpec;
  readonly layers: readonly LayerParams[];
  /** Total number of weights (no biases) and of biases. */
  readonly weightCount: number;
  /**
   * Incremented by every `setMask` call (also those made by `copyFrom` and `polyakFrom`), so
   * callers can tell cheaply whether the topology may have changed (compression tracking).
   */
  readonly maskVersion: number;
  /**
   * Inference forward pass, caches nothing.
   * @param x `[batch, in]`
   * @returns `[batch, out]` (a fresh array the caller owns)
   */
  predict(x: Float32Array, batch: number): Float32Array;
  /**
   * Training forward pass: like `predict` but keeps the activations for one `backward`.
   * @param x `[batch, in]`
   * @returns `[batch, out]`
   */
  forward(x: Float32Array, batch: number): Float32Array;
  /**
   * Back-propagates dL/dy of the last `forward` and **overwrites** every layer's `weightGrad`
   * and `biasGrad` with dL/dW, dL/db (summed over the batch: the caller's loss gradient carries
   * any 1/batch factor).
   * @param gradOutput `[batch, out]`
   * @returns dL/dx `[batch, in]` when `options.inputGrad`, else `null`
   * @throws Error when called without a preceding `forward`.
   */
  backward(gradOutput: Float32Array, options?: BackwardOptions): Float32Array | null;
  /**
   * Sets (or with `null` removes) the mask of layer `index` and applies it to the weight
   * (`W ← W ⊙ M`).
   * @param mask `[out, in]` of 0/1; copied.
   * @throws RangeError on a wrong length or index.
   */
  setMask(index: number, mask: Float32Array | null): void;
  /** `W ← W ⊙ M` on every masked layer. */
  applyMasks(): void;
  /** Copies all weights, biases and masks of `other` (same spec) into this network. */
  copyFrom(other: Mlp): void;
  /**
   * Polyak (soft) target update `θ ← τ·θ_online + (1 − τ)·θ` for weights and biases, then
   * `W ← W ⊙ M_online` for every layer the online network masks (targets share the online
   * masks; RLx2 [R-code] / docs/architecture.md §4).
   * With `options.masks = 'none'` the average runs over every entry, no mask is applied and this
   * network's masks are removed (a sparsifier then sets the targets' own masks: DS-TD3's
   * magnitude top-k targets, docs/methods.md §2.b.4).
   * @param tau in [0, 1]
   */
  polyakFrom(online: Mlp, tau: number, options?: PolyakOptions): void;
  /**
   * Optional (the `native` engine implements it; `tfjs` does not): declares layer `index`
   * block-circulant with block size b (`null`: back to a normal layer). Layout of
   * src/sparse/block-circulant.ts, `W[i·b + r, j·b + s] = c_ij[(s − r) mod b]`.
   *
   * Contract: the caller keeps W exactly block-circulant and expresses pruned blocks with the
   * layer mask (whole b×b blocks; a block counts as active when any of its mask entries is).
   * The engine may then compute the layer's forward / backward with FFTs (CirCNN, Ding et al.
   * 2017), reading c_ij from W (the first existing entry of each diagonal in row order, as
   * `extractCirculant`), and after `backward` the layer's `weightGrad` holds at **every** entry
   * the folded gradient of its diagonal, `∂L/∂c_ij[(s − r) mod b]` =
   * `materializeCirculant(foldCirculantGradient(dL/dW), layout, blockMask)`, 0 in pruned blocks
   * (`denseGrad` does not apply to the layer). An elementwise optimizer then keeps W circulant:
   * the caller must **not** fold again.
   *
   * The setting belongs to this network: `copyFrom` and `polyakFrom` leave it unchanged (a
   * target network that should predict on the FFT is declared separately). Changing it
   * invalidates the cached forward pass (`backward` then needs a new `forward`).
   * @param blockSize a power of two >= 2, or null
   * @throws RangeError for a bad index or a block size that is not a power of two >= 2
   */
  setBlockCirculant?(index: number, blockSize: number | null): void;
  /** Optional, with `setBlockCirculant`: the block size of layer `index`, or null for a normal layer. */
  blockCirculant?(index: number): number | null;
  /** Frees engine memory; the views become invalid. */
  dispose(): void;
}

/** Adam hyper-parameters (PyTorch semantics, L2 `weightDecay` added to the gradient). */
export interface AdamOptions {
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
}

/** An optimizer bound to one MLP's parameters. */
export interface Optimizer {
  /**
   * One Adam step from the MLP's current gradients (PyTorch `torch.optim.Adam` semantics,
   * bias-corrected). Gradients of masked layers are multiplied by the mask first, and after
   * the step `W ← W ⊙ M`.
   */
  step(): void;
  /** Number of steps taken (Adam's `t`). Writable for checkpoint restore. */
  stepCount: number;
  /**
   * Live views of the optimizer state keyed by parameter name, e.g.
   * `{ 'actor.l1.weight': { m, v }, ... }`, same shapes as the parameters. Read it again after
   * each `step()`: a read makes the views current (the native engine keeps the moments of large
   * sparse layers compact between reads), and writes through them count until the next step.
   */
  readonly state: ReadonlyMap<string, { readonly m: Float32Array; readonly v: Float32Array }>;
  /** Sets a new learning rate. */
  setLearningRate(lr: number): void;
  dispose(): void;
}

/** A compute engine: builds networks and optimizers. */
export interface Engine {
  /** `native` or `tfjs`. */
  readonly name: string;
  /** What actually runs, for run metadata: e.g. `native (avx2, 2 threads)`, `tfjs-wasm`. */
  readonly description: string;
  /** Creates an MLP with **zero** weights and biases, no masks (initialise via the views). */
  createMlp(spec: MlpSpec): Mlp;
  /** Creates an Adam optimizer over `mlp`'s weights and biases, zero state. */
  createAdam(mlp: Mlp, options: AdamOptions): Optimizer;
}

/** DI token of the run's `Engine` (created from `runtime` by the host; plugins inject it). */
export const Engine = Symbol.for('sparse-rl.Engine');
