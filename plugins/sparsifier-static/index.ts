import { ContainerModule } from 'inversify';
import { Sparsifier } from '../../src/core/sparsifier.js';
import type { PluginManifest } from '../../src/plugin/plugin-manifest.js';
import { StaticSparsifier, type StaticOptions } from './static-sparsifier.js';

const manifest: PluginManifest<StaticOptions> = {
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
  createModule: (options) =>
    new ContainerModule((bind) => {
      bind<Sparsifier>(Sparsifier).toConstantValue(new StaticSparsifier(options));
    }),
};
export default manifest;
