import type { Mlp, Optimizer } from '../nn/engine.js';
import { topK } from './mask.js';

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
 * One prune-and-grow step on layer `index` of `network` (RigL / RLx2 rule, docs/methods.md §1.b.7):
 * 1. `nPrune = ⌊ζ·nActive⌋`; keep the `nActive − nPrune` active weights of largest |W|;
 * 2. grow the `nPrune` positions of highest `growScore` among the rest (a just-dropped position
 *    may be regrown);
 * 3. grown positions that were inactive before get weight `growInit` (0) and, when
 *    `resetOptimizerState`, zero Adam moments (RigL [RigL-code]); a dropped-and-regrown weight
 *    keeps its value.
 * The layer's active count is unchanged. The new mask is set on `network` and on `target` (which
 * shares the online masks).
 * @param growScore `[out, in]` scores, e.g. |dense gradient| (RigL) or uniform noise (SET)
 * @returns counts of newly dropped and newly grown connections (net of regrowth)
 */
export function pruneAndGrow(
  network: Mlp,
  index: number,
  fraction: number,
  growScore: Float32Array,
  options: { optimizer?: Optimizer; resetOptimizerState: boolean; target?: Mlp },
): TopologyUpdateResult {
  const layer = network.layers[index];
  const mask = layer.mask;
  if (!mask) return { dropped: 0, grown: 0 };
  const w = layer.weight;
  const n = w.length;
  let nActive = 0;
  for (let i = 0; i < n; i++) nActive += mask[i];
  const nPrune = Math.floor(fraction * nActive);
  if (nPrune === 0) return { dropped: 0, grown: 0 };
  const keep = topK(n, nActive - nPrune, (i) => (mask[i] ? Math.abs(w[i]) : -1));
  const next = new Float32Array(n);
  for (const i of keep) next[i] = 1;
  const grow = topK(n, nPrune, (i) => (next[i] ? -Infinity : growScore[i]));
  const state = options.resetOptimizerState ? options.optimizer?.state.get(`${layer.name}.weight`) : undefined;
  let grown = 0;
  for (const i of grow) {
    next[i] = 1;
    if (mask[i] === 0) {
      w[i] = 0;
      if (state) {
        state.m[i] = 0;
        state.v[i] = 0;
      }
      grown++;
    }
  }
  let dropped = 0;
  for (let i = 0; i < n; i++) if (mask[i] === 1 && next[i] === 0) dropped++;
  network.setMask(index, next);
  options.target?.setMask(index, next);
  return { dropped, grown };
}
