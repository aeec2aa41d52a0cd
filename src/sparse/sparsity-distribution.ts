/**
 * Per-layer sparsity allocation for a network (or a pool of networks) of fully connected layers.
 * Weights only: biases are never masked (docs/methods.md §0.2).
 */

/** Shape of one weight matrix `[out, in]`. */
export interface LayerShape {
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** `uniform`: every layer at S; `erdos-renyi` / `erdos-renyi-kernel`: ERK solve (equal for FC layers). */
export type SparsityDistribution = 'uniform' | 'erdos-renyi' | 'erdos-renyi-kernel';

/**
 * Per-layer sparsities whose weighted mean over all weights equals `sparsity`.
 *
 * ERK (Evci et al. 2020, RigL `sparse_utils.get_sparsities_erdos_renyi`; RLx2 [R-code]
 * `DST_Scheduler.sparse_set`; docs/methods.md §0.2): layer density `D_l = ε·(in+out)/(in·out)` with one
 * global ε; layers whose density would exceed 1 are made dense and ε is solved again for the rest.
 * For fully connected layers ER and ERK coincide.
 *
 * @param layers the weight matrices pooled in one solve (e.g. both critics' six layers)
 * @param sparsity target fraction of zeros in [0, 1)
 * @returns sparsity per layer, same order as `layers` (0 = dense layer, no mask)
 * @throws RangeError when `sparsity` is outside [0, 1)
 */
export function layerSparsities(
  layers: readonly LayerShape[],
  sparsity: number,
  distribution: SparsityDistribution,
): number[] {
  if (!(sparsity >= 0 && sparsity < 1)) throw new RangeError(`sparsity must be in [0, 1), got ${sparsity}`);
  if (sparsity === 0) return layers.map(() => 0);
  if (distribution === 'uniform') return layers.map(() => sparsity);
  const n = layers.map((l) => l.inFeatures * l.outFeatures);
  const raw = layers.map((l) => (l.inFeatures + l.outFeatures) / (l.inFeatures * l.outFeatures));
  const dense = new Set<number>();
  for (;;) {
    let rhs = 0;
    let div = 0;
    for (let i = 0; i < layers.length; i++) {
      if (dense.has(i)) rhs -= sparsity * n[i];
      else {
        rhs += (1 - sparsity) * n[i];
        div += raw[i] * n[i];
      }
    }
    const eps = rhs / div;
    let maxRaw = -Infinity;
    for (let i = 0; i < layers.length; i++) if (!dense.has(i)) maxRaw = Math.max(maxRaw, raw[i]);
    if (eps * maxRaw > 1) {
      for (let i = 0; i < layers.length; i++) if (!dense.has(i) && raw[i] === maxRaw) dense.add(i);
      continue;
    }
    return layers.map((_, i) => (dense.has(i) ? 0 : 1 - eps * raw[i]));
  }
}

/**
 * Number of active (kept) weights of a layer of `count` weights at `sparsity`:
 * `count − ⌊sparsity·count⌋` ([R-code] `weight_sparsify`), i.e. density exact to one weight.
 */
export function activeCount(count: number, sparsity: number): number {
  return count - Math.floor(sparsity * count + 1e-9);
}
