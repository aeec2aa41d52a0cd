import {
  BaseSparsifier, GroupCounters, activeCount, checkWindow, cubicSparsity, groupLayerSparsities, groupLayers, groupSparsity, iterativeSparsity,
  pruningPointIndex, pruningPointTime, resizeMask, setGroupMask, type NetworkGroup, type PruningWindow, type Rng,
} from '../../src/index.js';
import type { GradualPruningOptions } from './gradual-pruning-options.js';

/**
 * Dense-to-sparse magnitude pruning (docs/methods.md §5.4–5.5), unstructured and per layer.
 *
 * - Allocation: each group's final sparsity s_f (`actorSparsity`; `criticSparsity` pooled over
 *   both Q-heads) is split over its layers with `layerSparsities` — ERK by default, as Graesser
 *   et al. 2022 [SoS-code] pruning config does (s_i = 0, s_f = 0.9 per network, ERK, all layers
 *   including the output) — giving per-layer finals S_l.
 * - Schedule per layer: `gradual` (Zhu & Gupta 2017): s_l(t) = S_l + (s_i,l − S_l)(1 − (t − t₀)/(nΔt))³
 *   with s_i,l = min(s_i, S_l) (`cubicSparsity`); `iterative` (Han et al. 2015 style):
 *   s_l,k = min(S_l, 1 − (1 − s_i,l)(1 − q)^k), S_l at the last point (`iterativeSparsity`).
 * - Pruning points t₀, t₀ + Δt, …, t_end (`pruningPointIndex`): at a point a layer of N weights
 *   keeps its `activeCount(N, s_l)` = N − ⌊s_l·N⌋ largest-|W| currently active weights (ties to
 *   the lower index); the rest is masked. A layer whose s_l is 0 stays unmasked. Masks only
 *   shrink; after t_end they are fixed.
 * - Clock: t counts gradient iterations = the largest update count over the groups (the critic
 *   is updated every iteration in TD3 and SAC). A group prunes in its first update call at or
 *   after a point, to that point's sparsity (the TD3 actor, updated every d iterations, may prune
 *   up to d − 1 iterations late), before its optimizer step. With one update per env step,
 *   t = env steps − `learningStarts`.
 * - Masks are set on the online networks and their targets; the engine then keeps pruned
 *   weights, their gradients and the targets' entries at zero (targets share the online masks).
 *
 * Metrics: `sparsity/*` and `pruning/<group>_scheduled_sparsity` (the group-level schedule value
 * at its last pruning, with s_f as the final).
 */
export class GradualPruningSparsifier extends BaseSparsifier {
  private readonly window: PruningWindow;
  private readonly counters = new GroupCounters();
  /** Index of the last pruning point applied, per group. */
  private readonly applied = new Map<string, number>();
  /** Per-layer final sparsity S_l by weight name. */
  private readonly finals = new Map<string, number>();
  private readonly last: Record<string, number> = {};

  /** @throws RangeError on an invalid window, sparsity outside [0, 1) or s_i > a final sparsity */
  constructor(private readonly options: GradualPruningOptions) {
    super();
    this.window = { start: options.startStep, end: options.endStep, interval: options.pruningInterval };
    checkWindow(this.window);
    for (const s of [options.actorSparsity, options.criticSparsity, options.initialSparsity]) {
      if (!(s >= 0 && s < 1)) throw new RangeError(`sparsifier.gradual-pruning: sparsities must be in [0, 1), got ${s}`);
    }
    if (!(options.iterativeFraction > 0 && options.iterativeFraction < 1)) throw new RangeError(`sparsifier.gradual-pruning: iterativeFraction must be in (0, 1), got ${options.iterativeFraction}`);
  }

  /** Final sparsity s_f of a group. @throws Error for a group other than actor / critic */
  private finalOf(group: NetworkGroup): number {
    return groupSparsity(group, this.options, 'sparsifier.gradual-pruning');
  }

  /** Scheduled sparsity of a layer (or group) with final `final` at pruning point `k`. */
  sparsityAt(k: number, final: number): number {
    const si = Math.min(this.options.initialSparsity, final);
    if (this.options.mode === 'iterative') return iterativeSparsity(k, pruningPointIndex(this.window.end, this.window), si, final, this.options.iterativeFraction);
    return cubicSparsity(pruningPointTime(k, this.window), si, final, this.window);
  }

  /** @inheritdoc Networks start dense; computes the per-layer finals S_l. */
  initialize(groups: readonly NetworkGroup[], _rng: Rng): void {
    for (const group of groups) {
      this.counters.start(group.name);
      this.applied.set(group.name, -1);
      for (const { name, sparsity } of groupLayerSparsities(group, this.finalOf(group), this.options.sparsityDistribution)) this.finals.set(name, sparsity);
    }
  }

  /** @inheritdoc Prunes the group when a pruning point was reached since its last pruning. */
  override beforeOptimizerStep(group: NetworkGroup): boolean {
    this.counters.increment(group.name);
    const clock = this.counters.max();
    const k = pruningPointIndex(clock, this.window);
    if (k > (this.applied.get(group.name) ?? -1)) {
      this.prune(group, k);
      this.applied.set(group.name, k);
    }
    return true;
  }

  /** Magnitude-prunes every layer of `group` to its sparsity at point `k`, online and target. */
  private prune(group: NetworkGroup, k: number): void {
    for (const { network, index, name } of groupLayers(group)) {
      const s = this.sparsityAt(k, this.finals.get(name) ?? 0);
      const layer = network.layers[index];
      const n = layer.weight.length;
      const mask = layer.mask;
      const current = mask ? mask.reduce((a, b) => a + b, 0) : n;
      const keep = Math.min(current, activeCount(n, s));
      if (keep === n) continue;
      const w = layer.weight;
      setGroupMask(group, network, index, resizeMask(mask, n, keep, (i) => Math.abs(w[i])));
    }
    this.last[`pruning/${group.name}_scheduled_sparsity`] = this.sparsityAt(k, this.finalOf(group));
  }

  /** @inheritdoc `sparsity/*` and `pruning/<group>_scheduled_sparsity`. */
  override metrics(groups: readonly NetworkGroup[]): Record<string, number> {
    return { ...super.metrics(groups), ...this.last };
  }

  /** @inheritdoc Counters, last pruning point per group, last metrics. */
  override state(): unknown {
    return { counters: this.counters.toJSON(), applied: Object.fromEntries(this.applied), last: this.last };
  }

  /** @inheritdoc */
  override loadState(state: unknown): void {
    const s = state as { counters: Record<string, number>; applied: Record<string, number>; last: Record<string, number> };
    this.counters.load(s.counters);
    for (const [k, v] of Object.entries(s.applied)) this.applied.set(k, v);
    Object.assign(this.last, s.last);
  }
}
