import { groupLayers, type NetworkGroup, topK, checkWindow, cubicSparsity, iterativeSparsity, pruningPointIndex, pruningPointTime, type PruningWindow, activeCount, layerSparsities, type SparsityDistribution, sparsityMetrics, type Sparsifier, type Rng } from '../../src/index.js';

/** Options of `sparsifier.gradual-pruning` (defaults in the plugin schema). */
export interface GradualPruningOptions {
  /** Final fraction of zeros of the actor's weights s_f, in [0, 1). */
  readonly actorSparsity: number;
  /** Final fraction of zeros of both critics' weights (pooled), in [0, 1). */
  readonly criticSparsity: number;
  /** s_i, sparsity at the first pruning step (0 = start dense). */
  readonly initialSparsity: number;
  /** t₀, in gradient iterations. */
  readonly startStep: number;
  /** t₀ + nΔt, in gradient iterations. */
  readonly endStep: number;
  /** Δt, in gradient iterations. */
  readonly pruningInterval: number;
  /** How a network's final sparsity is split over its layers. */
  readonly sparsityDistribution: SparsityDistribution;
  /** `gradual`: Zhu & Gupta cubic schedule; `iterative`: remove a fixed fraction of what remains at each point. */
  readonly mode: 'gradual' | 'iterative';
  /** q of `iterative`: fraction of the remaining weights pruned at each pruning point. */
  readonly iterativeFraction: number;
}

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
export class GradualPruningSparsifier implements Sparsifier {
  private readonly window: PruningWindow;
  private readonly counters = new Map<string, number>();
  /** Index of the last pruning point applied, per group. */
  private readonly applied = new Map<string, number>();
  /** Per-layer final sparsity S_l by weight name. */
  private readonly finals = new Map<string, number>();
  private readonly last: Record<string, number> = {};

  /** @throws RangeError on an invalid window, sparsity outside [0, 1) or s_i > a final sparsity */
  constructor(private readonly options: GradualPruningOptions) {
    this.window = { start: options.startStep, end: options.endStep, interval: options.pruningInterval };
    checkWindow(this.window);
    for (const s of [options.actorSparsity, options.criticSparsity, options.initialSparsity]) {
      if (!(s >= 0 && s < 1)) throw new RangeError(`sparsifier.gradual-pruning: sparsities must be in [0, 1), got ${s}`);
    }
    if (!(options.iterativeFraction > 0 && options.iterativeFraction < 1)) throw new RangeError(`sparsifier.gradual-pruning: iterativeFraction must be in (0, 1), got ${options.iterativeFraction}`);
  }

  /** Final sparsity s_f of a group. @throws Error for a group other than actor / critic */
  private finalOf(group: NetworkGroup): number {
    if (group.name === 'actor') return this.options.actorSparsity;
    if (group.name === 'critic') return this.options.criticSparsity;
    throw new Error(`sparsifier.gradual-pruning: no sparsity configured for network group "${group.name}"`);
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
      this.counters.set(group.name, 0);
      this.applied.set(group.name, -1);
      const layers = groupLayers(group);
      const s = layerSparsities(layers.map(({ network, index }) => network.layers[index]), this.finalOf(group), this.options.sparsityDistribution);
      layers.forEach(({ name }, k) => this.finals.set(name, s[k]));
    }
  }

  needsDenseGradient(_group: NetworkGroup): boolean {
    return false;
  }

  /** @inheritdoc Prunes the group when a pruning point was reached since its last pruning. */
  beforeOptimizerStep(group: NetworkGroup): boolean {
    this.counters.set(group.name, (this.counters.get(group.name) ?? 0) + 1);
    const clock = Math.max(...this.counters.values());
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
      const next = new Float32Array(n);
      const w = layer.weight;
      for (const i of topK(n, keep, (i) => (!mask || mask[i] ? Math.abs(w[i]) : -1))) next[i] = 1;
      network.setMask(index, next);
      group.targets[group.networks.indexOf(network)]?.setMask(index, next);
    }
    this.last[`pruning/${group.name}_scheduled_sparsity`] = this.sparsityAt(k, this.finalOf(group));
  }

  afterOptimizerStep(_group: NetworkGroup): void {}
  afterTargetUpdate(_group: NetworkGroup): void {}
  onEvaluation(_meanReturn: number, _step: number): void {}

  metrics(groups: readonly NetworkGroup[]): Record<string, number> {
    return { ...sparsityMetrics(groups), ...this.last };
  }

  state(): unknown {
    return { counters: Object.fromEntries(this.counters), applied: Object.fromEntries(this.applied), last: this.last };
  }

  loadState(state: unknown): void {
    const s = state as { counters: Record<string, number>; applied: Record<string, number>; last: Record<string, number> };
    for (const [k, v] of Object.entries(s.counters)) this.counters.set(k, v);
    for (const [k, v] of Object.entries(s.applied)) this.applied.set(k, v);
    Object.assign(this.last, s.last);
  }
}
