import { Sparsifier, definePlugin } from '../../src/index.js';
import { nmOptionsSchema, type NmOptions } from './nm-options.js';
import { NmSparsifier } from './nm-sparsifier.js';

/** `sparsifier.nm`: RNM-TD3 N:M semi-structured sparsity (README.md). */
export default definePlugin<NmOptions>({
  id: 'sparsifier.nm',
  kind: 'sparsifier',
  description: 'RNM-TD3 N:M semi-structured sparsity on every layer of actor, critics and targets, periodic magnitude re-projection, SAD logging (docs/methods.md §4, §9.4)',
  optionsSchema: nmOptionsSchema,
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new NmSparsifier(options)),
});
