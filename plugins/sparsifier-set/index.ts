import { Sparsifier, definePlugin } from '../../src/index.js';
import { SetSparsifier, type SetOptions } from './set-sparsifier.js';

/** `sparsifier.set`: SET with ER masks as in DS-TD3 (Sokar et al. 2022), docs/methods.md §2.b. */
export default definePlugin<SetOptions>({
  id: 'sparsifier.set',
  kind: 'sparsifier',
  description: 'SET / DS-TD3: Bernoulli ER masks with per-layer λ, drop η of the weights nearest zero per sign, random regrow (docs/methods.md §2.b, §5.3)',
  optionsSchema: {
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
  },
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new SetSparsifier(options)),
});
