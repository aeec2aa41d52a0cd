import { Sparsifier, definePlugin } from '../../src/index.js';
import { GradualPruningSparsifier, type GradualPruningOptions } from './gradual-pruning-sparsifier.js';

const sparsity = (what: string) => ({ type: 'number', minimum: 0, exclusiveMaximum: 1, description: what });

export default definePlugin<GradualPruningOptions>({
  id: 'sparsifier.gradual-pruning',
  kind: 'sparsifier',
  description: 'Dense-to-sparse magnitude pruning: Zhu & Gupta cubic schedule or iterative fixed-fraction pruning, per layer, ERK allocation (docs/methods.md §5.4–5.5)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['actorSparsity', 'criticSparsity'],
    properties: {
      actorSparsity: sparsity('Final fraction of zeros in the actor weights (s_f).'),
      criticSparsity: sparsity('Final fraction of zeros in the critics\' weights (both heads pooled; s_f).'),
      initialSparsity: { ...sparsity('s_i: sparsity at the first pruning step.'), default: 0 },
      startStep: { type: 'integer', minimum: 0, default: 200000, description: 't₀ in gradient iterations (Graesser et al. 2022: 200k of 1M).' },
      endStep: { type: 'integer', minimum: 0, default: 800000, description: 't₀ + nΔt in gradient iterations (Graesser et al. 2022: 800k of 1M); must be >= startStep.' },
      pruningInterval: { type: 'integer', minimum: 1, default: 1000, description: 'Δt in gradient iterations (Graesser et al. 2022: 1000).' },
      sparsityDistribution: {
        enum: ['uniform', 'erdos-renyi', 'erdos-renyi-kernel'], default: 'erdos-renyi-kernel',
        description: 'Split of each network\'s final sparsity over its layers (Graesser et al. 2022: ERK).',
      },
      mode: { enum: ['gradual', 'iterative'], default: 'gradual', description: 'gradual: cubic schedule (Zhu & Gupta 2017); iterative: prune iterativeFraction of the remaining weights at each point (Han et al. 2015 style), s_f at endStep.' },
      iterativeFraction: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.2, description: 'q of mode iterative.' },
    },
  },
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new GradualPruningSparsifier(options)),
});
