import { maskInitSchema, groupSparsityProperties, type GroupSparsityOptions, type JsonSchema, type MaskInit, type SparsityDistribution } from '../../src/index.js';

/** Options of `sparsifier.static` (defaults in `staticOptionsSchema` only; docs/methods.md §5.1). */
export interface StaticOptions extends GroupSparsityOptions {
  /** How a group's sparsity is split over its layers (uniform, or the ERK global-ε solve). */
  readonly sparsityDistribution: SparsityDistribution;
  /** Which weights a layer keeps: a random subset, or the largest initial |w|. */
  readonly maskInit: MaskInit;
}

/** JSON Schema of `sparsifier.static`'s options (without `type`), with every default. */
export const staticOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['actorSparsity', 'criticSparsity'],
  properties: {
    ...groupSparsityProperties(),
    maskInit: maskInitSchema('random', 'Which weights a layer keeps: random subset, or largest initial |w| (RLx2 code).'),
  },
};
