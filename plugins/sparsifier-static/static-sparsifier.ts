import { BaseSparsifier, groupSparsity, setStaticMasks, type NetworkGroup, type Rng } from '../../src/index.js';
import type { StaticOptions } from './static-options.js';

/**
 * Static sparse training (docs/methods.md §5.1): masks chosen once at initialisation, never changed.
 * Per group (actor; critic = both Q-heads pooled, as RLx2 [R-code] `sparse_set` does) the layer
 * sparsities come from `layerSparsities` (uniform or ERK) and each layer keeps exactly
 * `N − ⌊S_l·N⌋` weights, chosen at random (`maskInit: random`, Graesser et al. 2022) or by
 * initial magnitude (`magnitude`, RLx2 [R-code] SS baseline) — `setStaticMasks`. Layers with
 * S_l = 0 stay unmasked. Targets get the same masks; the engine keeps weights, gradients and
 * targets masked. Every other hook is `BaseSparsifier`'s default.
 */
export class StaticSparsifier extends BaseSparsifier {
  constructor(private readonly options: StaticOptions) {
    super();
  }

  /** @inheritdoc Sets each group's static masks (online and target). */
  initialize(groups: readonly NetworkGroup[], rng: Rng): void {
    const { sparsityDistribution, maskInit } = this.options;
    for (const group of groups) setStaticMasks(group, groupSparsity(group, this.options, 'sparsifier.static'), sparsityDistribution, maskInit, rng);
  }
}
