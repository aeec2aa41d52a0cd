import { maskInitSchema, groupSparsityProperties, type GroupSparsityOptions, type JsonSchema, type MaskInit, type SparsityDistribution } from '../../src/index.js';

/** `topologyUpdate` options of `sparsifier.rigl`. */
export interface TopologyUpdateOptions {
  /** ΔT: a topology update every `interval` calls of the group's optimizer step. */
  readonly interval: number;
  /** T_end per group, in the group's own calls (RLx2: critic T, actor T/2). */
  readonly endStep: { readonly actor: number; readonly critic: number };
  /** ζ₀ */
  readonly dropFraction: number;
  readonly dropFractionSchedule: 'cosine' | 'constant';
  /** `gradient`: |dense gradient| (RigL/RLx2); `random`: uniform (SET-style grow). */
  readonly growCriterion: 'gradient' | 'random';
  /** Skip the optimizer step on update iterations (RLx2 [R-code]). */
  readonly skipOptimizerStep: boolean;
  /** Zero Adam moments of grown connections (RigL [RigL-code]); false = RLx2 code. */
  readonly resetOptimizerStateOnGrow: boolean;
}

/**
 * Options of `sparsifier.rigl` (defaults in `riglOptionsSchema` only; docs/methods.md §1.c, §5.2):
 * the initial masks are those of `sparsifier.static` (same options), plus the topology updates.
 */
export interface RigLOptions extends GroupSparsityOptions {
  /** How a group's sparsity is split over its layers (uniform, or the ERK global-ε solve). */
  readonly sparsityDistribution: SparsityDistribution;
  /** Which weights a layer keeps initially: a random subset, or the largest initial |w| (RLx2 code). */
  readonly maskInit: MaskInit;
  readonly topologyUpdate: TopologyUpdateOptions;
}

/** JSON Schema of `sparsifier.rigl`'s options (without `type`), with every default. */
export const riglOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['actorSparsity', 'criticSparsity'],
  properties: {
    ...groupSparsityProperties(),
    maskInit: maskInitSchema('magnitude', 'RLx2 [R-code] keeps the largest initial |w|.'),
    topologyUpdate: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        interval: { type: 'integer', minimum: 1, default: 10000, description: 'ΔT, in calls of the group\'s update (critic: iterations; actor: actor updates).' },
        endStep: {
          type: 'object', additionalProperties: false, default: {},
          properties: {
            actor: { type: 'integer', minimum: 0, default: 1487500, description: 'T_end of the actor counter (RLx2: (3e6 − 25e3)/2).' },
            critic: { type: 'integer', minimum: 0, default: 2975000, description: 'T_end of the critic counter (RLx2: 3e6 − 25e3).' },
          },
        },
        dropFraction: { type: 'number', minimum: 0, maximum: 1, default: 0.5, description: 'ζ₀' },
        dropFractionSchedule: { enum: ['cosine', 'constant'], default: 'cosine' },
        growCriterion: { enum: ['gradient', 'random'], default: 'gradient' },
        skipOptimizerStep: { type: 'boolean', default: true, description: 'Skip the optimizer step on update iterations (RLx2 code).' },
        resetOptimizerStateOnGrow: { type: 'boolean', default: true, description: 'Zero Adam moments of grown weights (RigL); false = RLx2 code.' },
      },
    },
  },
};
