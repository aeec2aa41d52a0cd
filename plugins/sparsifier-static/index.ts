import { Sparsifier, definePlugin } from '../../src/index.js';
import { staticOptionsSchema, type StaticOptions } from './static-options.js';
import { StaticSparsifier } from './static-sparsifier.js';

/** `sparsifier.static`: uniform / ER / ERK masks fixed at initialisation (README.md). */
export default definePlugin<StaticOptions>({
  id: 'sparsifier.static',
  kind: 'sparsifier',
  description: 'Static sparse training: uniform / ER / ERK masks fixed at initialisation (docs/methods.md §5.1)',
  optionsSchema: staticOptionsSchema,
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new StaticSparsifier(options)),
});
