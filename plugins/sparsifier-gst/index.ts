import { Sparsifier, definePlugin } from '../../src/index.js';
import { gstOptionsSchema, type GstOptions } from './gst-options.js';
import { GstSparsifier } from './gst-sparsifier.js';

/** `sparsifier.gst`: block-circulant layers with reward-aware block pruning (README.md). */
export default definePlugin<GstOptions>({
  id: 'sparsifier.gst',
  kind: 'sparsifier',
  description: 'GST: block-circulant layers from step 0, block pruning by block norm, reward-aware target sparsity (arXiv 2101.09650; our reconstruction, docs/methods.md §3, §9.2)',
  optionsSchema: gstOptionsSchema,
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new GstSparsifier(options)),
});
