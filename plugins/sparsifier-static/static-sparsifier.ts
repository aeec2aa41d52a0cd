import { groupLayers, type NetworkGroup, initialMask, type MaskInit, activeCount, layerSparsities, type SparsityDistribution, type Rng } from '../../src/index.js';
import { DenseSparsifier } from '../sparsifier-dense/dense-sparsifier.js';

/** Options of `sparsifier.static`. */
export interface StaticOptions {
  /** Fraction of zeros over the actor's weights, in [0, 1). */
  readonly actorSparsity: number;
  /** Fraction of zeros over both critics' weights (pooled in one allocation), in [0, 1). */
  readonly criticSparsity: number;
  readonly sparsityDistribution: SparsityDistribution;
  readonly maskInit: MaskInit;
}

/**
 * Static sparse training (docs/methods.md §5.1): masks chosen once at initialisation, never changed.
 * Per group (actor; critic = both Q-heads pooled, as RLx2 [R-code] `sparse_set` does) the layer
 * sparsities come from `layerSparsities` (uniform or ERK) and each layer keeps exactly
 * `N − ⌊S_l·N⌋` weights, chosen at random (`maskInit: random`, Graesser et al. 2022) or by
 * initial magnitude (`magnitude`, RLx2 [R-code] SS baseline). Layers with S_l = 0 stay unmasked.
 * Targets get the same masks; the engine keeps weights, gradients and targets masked.
 */
export class StaticSparsifier extends DenseSparsifier {
  constructor(private readonly options: StaticOptions) {
    super();
  }

  /** Target sparsity of a group by name. @throws Error for an unknown group */
  protected sparsityOf(group: NetworkGroup): number {
    if (group.name === 'actor') return this.options.actorSparsity;
    if (group.name === 'critic') return this.options.criticSparsity;
    throw new Error(`sparsifier: no sparsity configured for network group "${group.name}"`);
  }

  /** @inheritdoc */
  override initialize(groups: readonly NetworkGroup[], rng: Rng): void {
    for (const group of groups) {
      const layers = groupLayers(group);
      const shapes = layers.map(({ network, index }) => network.layers[index]);
      const sparsities = layerSparsities(shapes, this.sparsityOf(group), this.options.sparsityDistribution);
      layers.forEach(({ network, index }, k) => {
        if (sparsities[k] <= 0) return;
        const layer = network.layers[index];
        const mask = initialMask(layer.weight, activeCount(layer.weight.length, sparsities[k]), this.options.maskInit, rng);
        network.setMask(index, mask);
        const targetNet = group.targets[group.networks.indexOf(network)];
        targetNet?.setMask(index, mask);
      });
    }
  }
}
