import { Sparsifier, definePlugin } from '../../src/index.js';
import staticManifest from '../sparsifier-static/index.js';
import { RigLSparsifier, type RigLOptions } from './rigl-sparsifier.js';

const staticProps = (staticManifest.optionsSchema as { properties: Record<string, unknown> }).properties;

export default definePlugin<RigLOptions>({
  id: 'sparsifier.rigl',
  kind: 'sparsifier',
  description: 'RigL / RLx2 topology: magnitude drop, dense-gradient (or random) grow, cosine drop fraction (docs/methods.md §1.b.7, §5.2)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['actorSparsity', 'criticSparsity'],
    properties: {
      ...staticProps,
      maskInit: { enum: ['random', 'magnitude'], default: 'magnitude', description: 'RLx2 [R-code] keeps the largest initial |w|.' },
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
  },
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new RigLSparsifier(options)),
});
