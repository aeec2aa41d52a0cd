import { sparsitySchema, type JsonSchema } from '../../src/index.js';
import type { RewardControllerOptions } from './reward-aware-controller.js';

/**
 * GST's "selective" use of weight grouping and pruning (docs/methods.md §9.1–9.2.3):
 * - `circulant-only`: every eligible layer stays block-circulant (compression 1 − 1/b), no pruning;
 * - `circ+blockprune` (default): block-circulant, and whole blocks are pruned by block norm
 *   toward the controller's target block sparsity S (compression 1 − (1 − S)/b);
 * - `circ→unstructured`: block-circulant until the target S reaches `1 − 1/b + switchMargin`, then
 *   each layer is expanded to its dense W and magnitude-pruned, unstructured, to S from then on.
 */
export type GstMode = 'circulant-only' | 'circ+blockprune' | 'circ→unstructured';

/** Options of `sparsifier.gst` (defaults in `gstOptionsSchema` only; every value ours, docs/methods.md §9.2). */
export interface GstOptions extends RewardControllerOptions {
  /** Block size b. */
  readonly blockSize: number;
  readonly mode: GstMode;
  /** Whether each network's input layer is block-circulant too (`gst.firstLayer`, §9.2.2). */
  readonly firstLayer: boolean;
  /** Topology updates (prune / regrow to the current target) every this many gradient iterations. */
  readonly pruneInterval: number;
  /** `reward-aware` (§9.2.5) or the ablation `linear-ramp`: S from `initialSparsity` at `warmup` to `maxSparsity` at `rampEnd`. */
  readonly controller: 'reward-aware' | 'linear-ramp';
  /** End of the linear ramp, gradient iterations. */
  readonly rampEnd: number;
  /** `circ→unstructured` margin: a layer switches once S ≥ 1 − 1/b + margin. */
  readonly switchMargin: number;
  /**
   * How circulant layers are computed: `fft` — the engine's FFT block-circulant layers
   * (`Mlp.setBlockCirculant`, native engine; the engine returns the folded gradient); `direct` — the
   * engine's dense/sparse kernels on the materialised W, gradient folded here; `auto` — `fft` where
   * the engine has it and b ≥ `CIRCULANT_FFT_MIN_BLOCK_SIZE` (measured faster: `npm run bench:circulant`).
   */
  readonly kernel: 'auto' | 'direct' | 'fft';
}

/** JSON Schema of `sparsifier.gst`'s options (without `type`), with every default. */
export const gstOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    blockSize: { enum: [2, 4, 8, 16, 32, 64], default: 4, description: 'Block size b: each b×b block stores one vector of b values (compression 1 − 1/b; b = 4 → 75 %, ours §9.2.2).' },
    mode: {
      enum: ['circulant-only', 'circ+blockprune', 'circ→unstructured'], default: 'circ+blockprune',
      description: 'circulant-only: no pruning; circ+blockprune: prune whole blocks by ‖c‖₂ toward the target; circ→unstructured: circulant until the target passes 1 − 1/b + switchMargin, then unstructured magnitude pruning.',
    },
    firstLayer: { type: 'boolean', default: true, description: 'Make each network\'s input layer block-circulant too (after padding).' },
    pruneInterval: { type: 'integer', minimum: 1, default: 10000, description: 'Move every layer to the target sparsity every this many updates of its network group (critic: gradient iterations).' },
    controller: { enum: ['reward-aware', 'linear-ramp'], default: 'reward-aware', description: 'reward-aware: target moved by evaluation returns (§9.2.5); linear-ramp (ablation): initialSparsity at warmup to maxSparsity at rampEnd.' },
    tolerance: { type: 'number', minimum: 0, default: 0.05, description: 'δ: an evaluation passes when R̄ ≥ R* − δ·|R*| (R* best mean return so far).' },
    increase: { type: 'number', minimum: 0, default: 0.05, description: 'Δ⁺: target raise after a passing evaluation.' },
    decrease: { type: 'number', minimum: 0, default: 0.05, description: 'Δ⁻: target cut after a failing evaluation.' },
    minSparsity: sparsitySchema('S_min: lower bound of the target (block sparsity in circ+blockprune).', 0),
    maxSparsity: sparsitySchema('S_max: upper bound of the target.', 0.9),
    initialSparsity: sparsitySchema('Target before the first change.', 0),
    cooldown: { type: 'integer', minimum: 0, default: 2, description: 'Evaluations after a cut during which passing evaluations do not raise the target.' },
    warmup: { type: 'integer', minimum: 0, default: 100000, description: 'Gradient iterations before the controller moves the target (early TD3 returns are noisy).' },
    rampEnd: { type: 'integer', minimum: 1, default: 800000, description: 'controller linear-ramp: gradient iteration where the target reaches maxSparsity.' },
    kernel: { enum: ['auto', 'direct', 'fft'], default: 'auto', description: 'fft: the engine\'s FFT block-circulant layers (native engine; power-of-two b); direct: dense/sparse kernels on the materialised weight, gradient folded in JS; auto: fft where available (measured faster from b = 2, npm run bench:circulant).' },
    switchMargin: { type: 'number', minimum: 0, default: 0.05, description: 'circ→unstructured: a layer switches once the target ≥ 1 − 1/b + switchMargin.' },
  },
};
