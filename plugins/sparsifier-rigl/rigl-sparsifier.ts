import { BaseSparsifier, GroupCounters, dropFraction, groupLayers, groupSparsity, pruneAndGrow, setStaticMasks, type NetworkGroup, type Rng } from '../../src/index.js';
import type { RigLOptions } from './rigl-options.js';

/**
 * Dynamic sparse training with RigL's rule (Evci et al. 2020) as RLx2 runs it (Tan et al. 2023,
 * docs/methods.md §1.b.5–7): initial masks as `sparsifier.static` (`setStaticMasks`); every ΔT
 * calls of a group's update (separate counters for actor and critic), drop the ⌊ζ_t·n⌋
 * smallest-|W| active weights of every masked layer and grow as many by |dense gradient| of the
 * current minibatch (or at random), zero-init grown weights (`pruneAndGrow`); ζ_t cosine-annealed
 * to 0 at T_end; targets share the online masks.
 *
 * Hooks: `initialize`, `needsDenseGradient` (the update call's backward), `beforeOptimizerStep`
 * (the topology update; skips the step when `skipOptimizerStep`), `metrics` (`sparsity/*` and
 * `topology/*`), `state` / `loadState`; `denseGradientInterval` for FLOPs accounting.
 */
export class RigLSparsifier extends BaseSparsifier {
  private readonly counters = new GroupCounters();
  private readonly initialMasks = new Map<string, Float32Array>();
  private rng: Rng | null = null;
  private readonly last: Record<string, number> = {};

  constructor(private readonly options: RigLOptions) {
    super();
  }

  /** ΔT: dense gradients once per interval (gradient grow only), for FLOPs accounting. */
  get denseGradientInterval(): number | undefined {
    return this.options.topologyUpdate.growCriterion === 'gradient' ? this.options.topologyUpdate.interval : undefined;
  }

  /** @inheritdoc The static masks of every group, then the grow stream and the counters. */
  initialize(groups: readonly NetworkGroup[], rng: Rng): void {
    const { sparsityDistribution, maskInit } = this.options;
    for (const group of groups) setStaticMasks(group, groupSparsity(group, this.options, 'sparsifier.rigl'), sparsityDistribution, maskInit, rng);
    this.rng = rng.fork('grow');
    for (const g of groups) {
      this.counters.start(g.name);
      for (const { network, index, name } of groupLayers(g)) {
        const m = network.layers[index].mask;
        if (m) this.initialMasks.set(name, Float32Array.from(m));
      }
    }
  }

  private endStep(group: NetworkGroup): number {
    return group.name === 'actor' ? this.options.topologyUpdate.endStep.actor : this.options.topologyUpdate.endStep.critic;
  }

  /** True when the group's call number `call` is an update call: `call % ΔT == 0` and `call < T_end`. */
  private dueAt(group: NetworkGroup, call: number): boolean {
    return call % this.options.topologyUpdate.interval === 0 && call < this.endStep(group);
  }

  /** @inheritdoc The group's next call updates the topology and grows by gradient. */
  override needsDenseGradient(group: NetworkGroup): boolean {
    return this.options.topologyUpdate.growCriterion === 'gradient' && this.dueAt(group, this.counters.get(group.name) + 1);
  }

  /** @inheritdoc Counts the call; on an update call, prune-and-grow every masked layer of the group. */
  override beforeOptimizerStep(group: NetworkGroup): boolean {
    const call = this.counters.increment(group.name);
    if (!this.dueAt(group, call)) return true;
    const t = this.options.topologyUpdate;
    const zeta = dropFraction(t.dropFractionSchedule, t.dropFraction, call, this.endStep(group));
    let dropped = 0;
    let grown = 0;
    for (const { network, index } of groupLayers(group)) {
      const layer = network.layers[index];
      if (!layer.mask) continue;
      const score = t.growCriterion === 'gradient' ? layer.weightGrad.map(Math.abs) : new Float32Array(layer.weight.length).map(() => this.rng!.uniform());
      const r = pruneAndGrow(group, network, index, zeta, score, { resetOptimizerState: t.resetOptimizerStateOnGrow });
      dropped += r.dropped;
      grown += r.grown;
    }
    this.last[`topology/${group.name}_drop_fraction`] = zeta;
    this.last[`topology/${group.name}_dropped`] = dropped;
    this.last[`topology/${group.name}_grown`] = grown;
    return !t.skipOptimizerStep;
  }

  /** @inheritdoc `sparsity/*`, the last update's `topology/<group>_{drop_fraction,dropped,grown}` and `topology/<group>_mask_change`. */
  override metrics(groups: readonly NetworkGroup[]): Record<string, number> {
    const out = { ...super.metrics(groups), ...this.last };
    for (const g of groups) {
      let changed = 0;
      let active = 0;
      for (const { network, index, name } of groupLayers(g)) {
        const m = network.layers[index].mask;
        const m0 = this.initialMasks.get(name);
        if (!m || !m0) continue;
        for (let i = 0; i < m.length; i++) {
          active += m0[i];
          if (m0[i] === 1 && m[i] === 0) changed++;
        }
      }
      // fraction of the initial connections no longer active
      if (active) out[`topology/${g.name}_mask_change`] = changed / active;
    }
    return out;
  }

  /** @inheritdoc The per-group counters and the grow stream. */
  override state(): unknown {
    return { counters: this.counters.toJSON(), rng: this.rng?.getState() };
  }

  /** @inheritdoc */
  override loadState(state: unknown): void {
    const s = state as { counters: Record<string, number>; rng?: ReturnType<Rng['getState']> };
    this.counters.load(s.counters);
    if (s.rng && this.rng) this.rng.setState(s.rng);
  }
}
