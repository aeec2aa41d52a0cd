import { Sparsifier, definePlugin } from '../../src/index.js';
import { StaticSparsifier, type StaticOptions } from './static-sparsifier.js';

export default definePlugin<StaticOptions>({
  id: 'sparsifier.static',
  kind: 'sparsifier',
  description: 'Static sparse training: uniform / ER / ERK masks fixed at initialisation (docs/methods.md §5.1)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['actorSparsity', 'criticSparsity'],
    properties: {
      actorSparsity: { type: 'number', minimum: 0, exclusiveMaximum: 1, description: 'Fraction of zeros in the actor weights.' },
      criticSparsity: { type: 'number', minimum: 0, exclusiveMaximum: 1, description: 'Fraction of zeros in the critics\' weights (both heads pooled).' },
      sparsityDistribution: {
        enum: ['uniform', 'erdos-renyi', 'erdos-renyi-kernel'], default: 'erdos-renyi-kernel',
        description: 'Layer-wise allocation; for fully connected layers ER and ERK are the same global-ε solve.',
      },
      maskInit: { enum: ['random', 'magnitude'], default: 'random', description: 'Which weights a layer keeps: random subset, or largest initial |w| (RLx2 code).' },
    },
  },
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new StaticSparsifier(options)),
});
