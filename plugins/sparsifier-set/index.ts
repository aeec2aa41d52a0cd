import { Sparsifier, definePlugin } from '../../src/index.js';
import { setOptionsSchema, type SetOptions } from './set-options.js';
import { SetSparsifier } from './set-sparsifier.js';

/** `sparsifier.set`: SET with ER masks as in DS-TD3 (Sokar et al. 2022; README.md). */
export default definePlugin<SetOptions>({
  id: 'sparsifier.set',
  kind: 'sparsifier',
  description: 'SET / DS-TD3: Bernoulli ER masks with per-layer λ, drop η of the weights nearest zero per sign, random regrow (docs/methods.md §2.b, §5.3)',
  optionsSchema: setOptionsSchema,
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new SetSparsifier(options)),
});
