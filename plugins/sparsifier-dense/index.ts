import { Sparsifier, definePlugin } from '../../src/index.js';
import { DenseSparsifier } from './dense-sparsifier.js';

export default definePlugin<Record<string, never>>({
  id: 'sparsifier.dense',
  kind: 'sparsifier',
  description: 'Dense networks, no masks (the dense baseline)',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  register: ({ bind }) => bind(Sparsifier).toConstantValue(new DenseSparsifier()),
});
