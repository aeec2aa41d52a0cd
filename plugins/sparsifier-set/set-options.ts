import type { JsonSchema } from '../../src/index.js';

/** Options of `sparsifier.set` (defaults in `setOptionsSchema` only; DS-TD3 [S-paper], [S-code]; docs/methods.md §2.c). */
export interface SetOptions {
  /** ER constant λ_l of every hidden-producing layer (input→h1, h1→h2, …); the last repeats. */
  readonly lambdas: readonly number[];
  /** e: adaptation period in iterations. */
  readonly interval: number;
  /** Adaptation at iterations with `it % interval == offset` (DS-TD3 code: 2). */
  readonly offset: number;
  /** η: fraction of the positive and of the negative weights nearest zero dropped per update. */
  readonly dropFraction: number;
  /** Iteration after which the next adaptation is prune-only and the last one (null = never). */
  readonly stopAt: number | null;
  /** `magnitude-top-k`: targets keep their own masks (DS-TD3 MaintainSparsity); `shared`: online masks. */
  readonly targetMode: 'magnitude-top-k' | 'shared';
  /** Zero the Adam moments of regrown weights (DS-TD3 code: false). */
  readonly resetOptimizerStateOnGrow: boolean;
}

/** JSON Schema of `sparsifier.set`'s options (without `type`), with every default. */
export const setOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    lambdas: {
      type: 'array', items: { type: 'number', exclusiveMinimum: 0 }, minItems: 1, default: [7, 64],
      description: 'ER constant λ per hidden-producing layer (input→h1, h1→h2; the last repeats); output layers stay dense. DS-TD3: [7, 64] (Ant 40, Humanoid 61 for the first).',
    },
    interval: { type: 'integer', minimum: 1, default: 1000, description: 'e: iterations between adaptations.' },
    offset: { type: 'integer', minimum: 0, default: 2, description: 'Adapt at it % interval == offset (DS-TD3 code: 2).' },
    dropFraction: { type: 'number', minimum: 0, maximum: 1, default: 0.05, description: 'η per sign.' },
    stopAt: { type: ['integer', 'null'], minimum: 0, default: null, description: 'After this iteration one prune-only adaptation, then none (DS-TD3 code: 925000).' },
    targetMode: { enum: ['magnitude-top-k', 'shared'], default: 'magnitude-top-k', description: 'Targets keep their own top-|w| masks (DS-TD3) or share the online masks.' },
    resetOptimizerStateOnGrow: { type: 'boolean', default: false, description: 'Zero Adam moments of regrown weights (DS-TD3 code: no).' },
  },
};
