import { Sparsifier, definePlugin } from '../../src/index.js';
import { riglOptionsSchema, type RigLOptions } from './rigl-options.js';
import { RigLSparsifier } from './rigl-sparsifier.js';

/** `sparsifier.rigl`: RigL / RLx2 topology updates (README.md). */
export default definePlugin<RigLOptions>({
  id: 'sparsifier.rigl',
  kind: 'sparsifier',
  description: 'RigL / RLx2 topology: magnitude drop, dense-gradient (or random) grow, cosine drop fraction (docs/methods.md §1.b.7, §5.2)',
  optionsSchema: riglOptionsSchema,
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new RigLSparsifier(options)),
});
