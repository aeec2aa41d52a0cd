import { BaseSparsifier, type NetworkGroup, type Rng } from '../../src/index.js';

/**
 * The null sparsifier: dense networks, no masks (the dense baseline, docs/methods.md §1.h.1).
 * Every hook is `BaseSparsifier`'s default; `initialize` sets no mask.
 */
export class DenseSparsifier extends BaseSparsifier {
  /** Leaves every network dense. */
  initialize(_groups: readonly NetworkGroup[], _rng: Rng): void {}
}
