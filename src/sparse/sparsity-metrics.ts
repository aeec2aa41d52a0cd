import type { NetworkGroup } from '../core/network-group.js';

/**
 * `sparsity/*` metrics from the masks (fraction of zeros among weights; biases excluded, as in
 * every paper's accounting, docs/methods.md §0.2): one key per masked weight (`sparsity/actor.l1.weight`),
 * one per group (`sparsity/actor`, `sparsity/critic`) and `sparsity/total` over online networks.
 */
export function sparsityMetrics(groups: readonly NetworkGroup[]): Record<string, number> {
  const out: Record<string, number> = {};
  let allZeros = 0;
  let allCount = 0;
  for (const group of groups) {
    let zeros = 0;
    let count = 0;
    for (const net of group.networks) {
      for (const layer of net.layers) {
        count += layer.inFeatures * layer.outFeatures;
        if (!layer.mask) continue;
        let active = 0;
        for (let i = 0; i < layer.mask.length; i++) active += layer.mask[i];
        const z = layer.mask.length - active;
        zeros += z;
        out[`sparsity/${layer.name}.weight`] = z / layer.mask.length;
      }
    }
    out[`sparsity/${group.name}`] = count ? zeros / count : 0;
    allZeros += zeros;
    allCount += count;
  }
  out['sparsity/total'] = allCount ? allZeros / allCount : 0;
  return out;
}
