import { setGroupMask, type NetworkGroup } from '../core/network-group.js';
import type { Mlp } from '../nn/engine.js';
import { resizeMask } from './mask.js';

/**
 * Drop-fraction schedules of dynamic sparse training.
 * `cosine`: ζ_t = (ζ₀/2)(1 + cos(π t / T_end)) (RigL, Evci et al. 2020; RLx2 [R-code]
 * `cosine_annealing`; docs/methods.md §0.2); `constant`: ζ_t = ζ₀. Both are 0 at and after T_end.
 */
export function dropFraction(schedule: 'cosine' | 'constant', initial: number, step: number, endStep: number): number {
  if (step >= endStep) return 0;
  return schedule === 'constant' ? initial : (initial / 2) * (1 + Math.cos((Math.PI * step) / endStep));
}

/** What one layer's topology update did. */
export interface TopologyUpdateResult {
  readonly dropped: number;
  readonly grown: number;
}

/**
 * One prune-and-grow step on layer `index` of `network`, one of `group.networks` (RigL, Evci et
 * al. 2020 [RigL-code] `mask_updaters.py`; RLx2 [R-code] `DST_Scheduler._dst_step`;
 * docs/methods.md §1.b.7, §5.2):
 * 1. `nPrune = ⌊ζ·nActive⌋`; keep the `nActive − nPrune` active weights of largest |W|;
 * 2. grow the `nPrune` positions of highest `growScore` among the rest (a just-dropped position
 *    may be regrown); both steps are `resizeMask`, ties to the lower index;
 * 3. grown positions that were inactive before get weight 0 and, when `resetOptimizerState`,
 *    zero Adam moments m, v in the network's optimizer `group.optimizers[i]` (RigL
 *    [RigL-code]); a dropped-and-regrown weight keeps its value.
 * The layer's active count is unchanged. The new mask is set on `network` and on its target
 * (`setGroupMask`: targets share the online masks). A layer without a mask, or with
 * `nPrune = 0`, is left alone.
 * @param fraction ζ, the drop fraction in [0, 1] (see `dropFraction`)
 * @param growScore `[out·in]` scores, e.g. |dense gradient| (RigL) or uniform noise (SET-style grow); finite
 * @returns counts of newly dropped and newly grown connections (net of regrowth)
 * @throws Error when `network` is not in `group.networks`
 */
export function pruneAndGrow(
  group: NetworkGroup,
  network: Mlp,
  index: number,
  fraction: number,
  growScore: Float32Array,
  options: { readonly resetOptimizerState: boolean },
): TopologyUpdateResult {
  const k = group.networks.indexOf(network);
  if (k < 0) throw new Error(`pruneAndGrow: the network is not one of group ${group.name}'s networks`);
  const layer = network.layers[index];
  const mask = layer.mask;
  if (!mask) return { dropped: 0, grown: 0 };
  const w = layer.weight;
  const n = w.length;
  let nActive = 0;
  for (let i = 0; i < n; i++) nActive += mask[i];
  const nPrune = Math.floor(fraction * nActive);
  if (nPrune === 0) return { dropped: 0, grown: 0 };
  const kept = resizeMask(mask, n, nActive - nPrune, (i) => Math.abs(w[i]));
  const next = resizeMask(kept, n, nActive, (i) => growScore[i]);
  const state = options.resetOptimizerState ? group.optimizers[k]?.state.get(`${layer.name}.weight`) : undefined;
  let grown = 0;
  let dropped = 0;
  for (let i = 0; i < n; i++) {
    if (next[i] === 1 && kept[i] === 0 && mask[i] === 0) {
      w[i] = 0;
      if (state) {
        state.m[i] = 0;
        state.v[i] = 0;
      }
      grown++;
    }
    if (mask[i] === 1 && next[i] === 0) dropped++;
  }
  setGroupMask(group, network, index, next);
  return { dropped, grown };
}
