import { sparsityDistributionSchema, sparsitySchema, type GroupSparsityOptions, type JsonSchema, type SparsityDistribution } from '../../src/index.js';

/**
 * Options of `sparsifier.gradual-pruning` (defaults in `gradualPruningOptionsSchema` only;
 * docs/methods.md §5.4–5.5). `actorSparsity` / `criticSparsity` are the final sparsities s_f.
 */
export interface GradualPruningOptions extends GroupSparsityOptions {
  /** s_i, sparsity at the first pruning step (0 = start dense). */
  readonly initialSparsity: number;
  /** t₀, in gradient iterations. */
  readonly startStep: number;
  /** t₀ + nΔt, in gradient iterations. */
  readonly endStep: number;
  /** Δt, in gradient iterations. */
  readonly pruningInterval: number;
  /** How a network's final sparsity is split over its layers. */
  readonly sparsityDistribution: SparsityDistribution;
  /** `gradual`: Zhu & Gupta cubic schedule; `iterative`: remove a fixed fraction of what remains at each point. */
  readonly mode: 'gradual' | 'iterative';
  /** q of `iterative`: fraction of the remaining weights pruned at each pruning point. */
  readonly iterativeFraction: number;
}

/** JSON Schema of `sparsifier.gradual-pruning`'s options (without `type`), with every default. */
export const gradualPruningOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['actorSparsity', 'criticSparsity'],
  properties: {
    actorSparsity: sparsitySchema('Final fraction of zeros in the actor weights (s_f).'),
    criticSparsity: sparsitySchema('Final fraction of zeros in the critics\' weights (both heads pooled; s_f).'),
    initialSparsity: sparsitySchema('s_i: sparsity at the first pruning step.', 0),
    startStep: { type: 'integer', minimum: 0, default: 200000, description: 't₀ in gradient iterations (Graesser et al. 2022: 200k of 1M).' },
    endStep: { type: 'integer', minimum: 0, default: 800000, description: 't₀ + nΔt in gradient iterations (Graesser et al. 2022: 800k of 1M); must be >= startStep.' },
    pruningInterval: { type: 'integer', minimum: 1, default: 1000, description: 'Δt in gradient iterations (Graesser et al. 2022: 1000).' },
    sparsityDistribution: sparsityDistributionSchema('Split of each network\'s final sparsity over its layers (Graesser et al. 2022: ERK).'),
    mode: { enum: ['gradual', 'iterative'], default: 'gradual', description: 'gradual: cubic schedule (Zhu & Gupta 2017); iterative: prune iterativeFraction of the remaining weights at each point (Han et al. 2015 style), s_f at endStep.' },
    iterativeFraction: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.2, description: 'q of mode iterative.' },
  },
};
