import { groupLayers, type NetworkGroup, dropFraction, pruneAndGrow, type Rng } from '../../src/index.js';
import { StaticSparsifier, type StaticOptions } from '../sparsifier-static/static-sparsifier.js';

/** `topologyUpdate` options of `sparsifier.rigl`. */
export interface TopologyUpdateOptions {
  /** ΔT: a topology update every `interval` calls of the group's optimizer step. */
  readonly interval: number;
  /** T_end per group, in the group's own calls (RLx2: critic T, actor T/2). */
  readonly endStep: { readonly actor: number; readonly critic: number };
  /** ζ₀ */
  readonly dropFraction: number;
  readonly dropFractionSchedule: 'cosine' | 'constant';
  /** `gradient`: |dense gradient| (RigL/RLx2); `random`: uniform (SET-style grow). */
  readonly growCriterion: 'gradient' | 'random';
  /** Skip the optimizer step on update iterations (RLx2 [R-code]). */
  readonly skipOptimizerStep: boolean;
  /** Zero Adam moments of grown connections (RigL [RigL-code]); false = RLx2 code. */
  readonly resetOptimizerStateOnGrow: boolean;
}

export interface RigLOptions extends StaticOptions {
  readonly topologyUpdate: TopologyUpdateOptions;
}

/**
 * Dynamic sparse training with RigL's rule (Evci et al. 2020) as RLx2 runs it (Tan et al. 2023,
 * docs/methods.md §1.b.5–7): initial masks as `static`; every ΔT calls of a group's update (separate
 * counters for actor and critic), drop the ⌊ζ_t·n⌋ smallest-|W| active weights of every masked
 * layer and grow as many by |dense gradient| of the current minibatch (or at random), zero-init
 * grown weights; ζ_t cosine-annealed to 0 at T_end; targets share the online masks.
 */
export class RigLSparsifier extends StaticSparsifier {
  private readonly counters = new Map<string, number>();
  private readonly initialMasks = new Map<string, Float32Array>();
  private rng: Rng | null = null;
  private readonly last: Record<string, number> = {};

  constructor(private readonly rigl: RigLOptions) {
    super(rigl);
  }

  /** ΔT: dense gradients once per interval (gradient grow only), for FLOPs accounting. */
  get denseGradientInterval(): number | undefined {
    return this.rigl.topologyUpdate.growCriterion === 'gradient' ? this.rigl.topologyUpdate.interval : undefined;
  }

  override initialize(groups: readonly NetworkGroup[], rng: Rng): void {
    super.initialize(groups, rng);
    this.rng = rng.fork('grow');
    for (const g of groups) {
      this.counters.set(g.name, 0);
      for (const { network, index, name } of groupLayers(g)) {
        const m = network.layers[index].mask;
        if (m) this.initialMasks.set(name, Float32Array.from(m));
      }
    }
  }

  private endStep(group: NetworkGroup): number {
    return group.name === 'actor' ? this.rigl.topologyUpdate.endStep.actor : this.rigl.topologyUpdate.endStep.critic;
  }

  /** True when the group's next call is an update call: `c % ΔT == 0` and `c < T_end`. */
  private dueAt(group: NetworkGroup, call: number): boolean {
    return call % this.rigl.topologyUpdate.interval === 0 && call < this.endStep(group);
  }

  override needsDenseGradient(group: NetworkGroup): boolean {
    return this.rigl.topologyUpdate.growCriterion === 'gradient' && this.dueAt(group, (this.counters.get(group.name) ?? 0) + 1);
  }

  override beforeOptimizerStep(group: NetworkGroup): boolean {
    const call = (this.counters.get(group.name) ?? 0) + 1;
    this.counters.set(group.name, call);
    if (!this.dueAt(group, call)) return true;
    const t = this.rigl.topologyUpdate;
    const zeta = dropFraction(t.dropFractionSchedule, t.dropFraction, call, this.endStep(group));
    let dropped = 0;
    let grown = 0;
    for (const { network, index } of groupLayers(group)) {
      const layer = network.layers[index];
      if (!layer.mask) continue;
      const score = t.growCriterion === 'gradient' ? layer.weightGrad.map(Math.abs) : new Float32Array(layer.weight.length).map(() => this.rng!.uniform());
      const k = group.networks.indexOf(network);
      const r = pruneAndGrow(network, index, zeta, score, {
        optimizer: group.optimizers[k], resetOptimizerState: t.resetOptimizerStateOnGrow, target: group.targets[k],
      });
      dropped += r.dropped;
      grown += r.grown;
    }
    this.last[`topology/${group.name}_drop_fraction`] = zeta;
    this.last[`topology/${group.name}_dropped`] = dropped;
    this.last[`topology/${group.name}_grown`] = grown;
    return !t.skipOptimizerStep;
  }

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

  override state(): unknown {
    return { counters: Object.fromEntries(this.counters), rng: this.rng?.getState() };
  }

  override loadState(state: unknown): void {
    const s = state as { counters: Record<string, number>; rng?: ReturnType<Rng['getState']> };
    for (const [k, v] of Object.entries(s.counters)) this.counters.set(k, v);
    if (s.rng && this.rng) this.rng.setState(s.rng);
  }
}
