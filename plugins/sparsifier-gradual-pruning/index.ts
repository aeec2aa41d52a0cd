import { Sparsifier, definePlugin } from '../../src/index.js';
import { gradualPruningOptionsSchema, type GradualPruningOptions } from './gradual-pruning-options.js';
import { GradualPruningSparsifier } from './gradual-pruning-sparsifier.js';

/** `sparsifier.gradual-pruning`: dense-to-sparse magnitude pruning (README.md). */
export default definePlugin<GradualPruningOptions>({
  id: 'sparsifier.gradual-pruning',
  kind: 'sparsifier',
  description: 'Dense-to-sparse magnitude pruning: Zhu & Gupta cubic schedule or iterative fixed-fraction pruning, per layer, ERK allocation (docs/methods.md §5.4–5.5)',
  optionsSchema: gradualPruningOptionsSchema,
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new GradualPruningSparsifier(options)),
});
