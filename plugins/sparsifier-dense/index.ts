import { Sparsifier, definePlugin } from '../../src/index.js';
import { denseOptionsSchema, type DenseOptions } from './dense-options.js';
import { DenseSparsifier } from './dense-sparsifier.js';

/** `sparsifier.dense`: no masks (README.md). */
export default definePlugin<DenseOptions>({
  id: 'sparsifier.dense',
  kind: 'sparsifier',
  description: 'Dense networks, no masks (the dense baseline)',
  optionsSchema: denseOptionsSchema,
  register: ({ bind }) => bind(Sparsifier).toConstantValue(new DenseSparsifier()),
});
