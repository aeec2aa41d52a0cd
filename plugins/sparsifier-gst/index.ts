import { Sparsifier, definePlugin } from '../../src/index.js';
import { GstSparsifier, type GstOptions } from './gst-sparsifier.js';

const fraction = (what: string, def: number) => ({ type: 'number', minimum: 0, exclusiveMaximum: 1, default: def, description: what });

export default definePlugin<GstOptions>({
  id: 'sparsifier.gst',
  kind: 'sparsifier',
  description: 'GST: block-circulant layers from step 0, block pruning by block norm, reward-aware target sparsity (arXiv 2101.09650; our reconstruction, docs/methods.md §3, §9.2)',
  optionsSchema: {
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
      minSparsity: fraction('S_min: lower bound of the target (block sparsity in circ+blockprune).', 0),
      maxSparsity: fraction('S_max: upper bound of the target.', 0.9),
      initialSparsity: fraction('Target before the first change.', 0),
      cooldown: { type: 'integer', minimum: 0, default: 2, description: 'Evaluations after a cut during which passing evaluations do not raise the target.' },
      warmup: { type: 'integer', minimum: 0, default: 100000, description: 'Gradient iterations before the controller moves the target (early TD3 returns are noisy).' },
      rampEnd: { type: 'integer', minimum: 1, default: 800000, description: 'controller linear-ramp: gradient iteration where the target reaches maxSparsity.' },
      kernel: { enum: ['auto', 'direct', 'fft'], default: 'auto', description: 'fft: the engine\'s FFT block-circulant layers (native engine; power-of-two b); direct: dense/sparse kernels on the materialised weight, gradient folded in JS; auto: fft where available (measured faster from b = 2, npm run bench:circulant).' },
      switchMargin: { type: 'number', minimum: 0, default: 0.05, description: 'circ→unstructured: a layer switches once the target ≥ 1 − 1/b + switchMargin.' },
    },
  },
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new GstSparsifier(options)),
});
