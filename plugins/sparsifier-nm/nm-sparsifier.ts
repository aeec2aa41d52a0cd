import {
  BaseSparsifier, GroupCounters, decodeFloat32, decodeMask, encodeFloat32, encodeMask, maskDivergence, nmHardwareSupported, nmMask, setGroupMask,
  type Mlp, type NetworkGroup, type Rng,
} from '../../src/index.js';
import type { NmOptions } from './nm-options.js';

/** One logged mask update of one network. */
export interface SadRecord {
  readonly group: string;
  /** The group's update count at which the mask was re-projected. */
  readonly call: number;
  readonly network: string;
  /** Fraction of mask entries flipped since the previous mask update of this network. */
  readonly sad: number;
  /** Fraction of mask entries that differ from the initial mask. */
  readonly sadInit: number;
}

const key = (net: Mlp, index: number) => `${net.layers[index].name}.weight`;

/**
 * RNM-TD3 N:M semi-structured sparse training (Vrce, Kassler, Aydos 2026, arXiv 2602.14578;
 * our reconstruction, docs/methods.md §4 and §9.4): every eligible layer `W [out, in]` of the actor,
 * both critics and (through the target mode) their targets carries the mask `M = P_{N:M}(W̃)`:
 * in each row, each group of M consecutive inputs keeps its N largest |w̃| (ties to the lower
 * index, `nmMask`). Biases are never masked.
 *
 * The sparsifier keeps a dense shadow `W̃` `[out, in]` (float32) of every masked online layer,
 * because the engine stores only `W̃ ⊙ M` (its invariant zeroes masked entries):
 * - at initialisation `M = P(W̃_init)`;
 * - after each optimizer step `W̃` takes the engine's new values (`masked-retain`: active entries
 *   only, pruned ones stay frozen; `ste`/`srste`: every entry, since the engine's mask is lifted
 *   around the optimizer step so Adam updates all of W̃ with the dense gradient of `W̃ ⊙ M`);
 * - every `maskInterval` updates of a group `M ← P(W̃)`, the engine gets `W̃ ⊙ M` (re-activated
 *   entries come back with their retained value) and the Sparse Architecture Divergence (SAD)
 *   per network is recorded: the fraction of mask entries of its masked layers flipped since the
 *   previous mask update, and since initialisation (`maskDivergence`).
 *
 * Targets: `shared` (default, as RLx2) — target layers get the online masks at every mask update
 * and the engine's `polyakFrom` re-masks them with the online masks after each Polyak step;
 * `own` — the agent runs an unmasked Polyak average (`targetMasks: 'own'`) and after each target
 * update every eligible target layer is re-projected with its own magnitudes, `M' = P(W')`
 * (pruned target entries are zeroed, no shadow for targets). Either way every M-group of every
 * row of every masked layer of all six TD3 networks has at most N non-zeros after every hook.
 *
 * Metrics: `sparsity/*`, plus `nm/sad/<network>`, `nm/sad_init/<network>` (last mask update),
 * `nm/mask_updates/<group>` (the SAD keys and the counter are also handed to the trainer through
 * `takeUpdateMetrics`, so `metrics.jsonl` has them at the env step of every mask update), `nm/density` (N/M) and `nm/hardware_support` (1 for 2:4 and 1:2,
 * `nmHardwareSupported`). Training FLOPs come from the masks in `flops/*` (`src/sparse/flops.ts`);
 * `denseGradientInterval` is 1 in `ste`/`srste` (dense weight gradient every step).
 */
export class NmSparsifier extends BaseSparsifier {
  readonly targetMasks: 'online' | 'own';
  readonly denseGradientInterval?: number;
  /** Every SAD measurement, in order (also the source of the `nm/sad*` metrics). */
  readonly sadHistory: SadRecord[] = [];
  private readonly shadows = new Map<string, Float32Array>();
  private readonly masks = new Map<string, Float32Array>();
  private readonly previousMasks = new Map<string, Float32Array>();
  private readonly initialMasks = new Map<string, Float32Array>();
  private readonly counters = new GroupCounters();
  private readonly last: Record<string, number> = {};
  private pending: Record<string, number> | null = null;

  /** @throws RangeError unless 0 < n < m are integers, maskInterval ≥ 0, srsteLambda ≥ 0 */
  constructor(private readonly options: NmOptions) {
    super();
    const { n, m } = options;
    if (!(Number.isInteger(n) && Number.isInteger(m) && n > 0 && n < m)) throw new RangeError(`sparsifier.nm: needs integers 0 < n < m, got ${n}:${m}`);
    if (!(Number.isInteger(options.maskInterval) && options.maskInterval >= 0)) throw new RangeError(`sparsifier.nm: maskInterval must be an integer >= 0, got ${options.maskInterval}`);
    if (!(options.srsteLambda >= 0)) throw new RangeError(`sparsifier.nm: srsteLambda must be >= 0, got ${options.srsteLambda}`);
    this.targetMasks = options.targetMode === 'own' ? 'own' : 'online';
    if (options.gradMode !== 'masked-retain') this.denseGradientInterval = 1;
  }

  /** The dense shadow W̃ `[out, in]` of an online layer by weight name (`actor.l1.weight`), or undefined when unmasked. Live. */
  denseWeights(name: string): Float32Array | undefined {
    return this.shadows.get(name);
  }

  /** Whether layer `index` of `net` gets an N:M mask under `layers` and `padMode`. */
  eligible(net: Mlp, index: number): boolean {
    const last = net.layers.length - 1;
    const { layers, padMode, m } = this.options;
    if (index === 0 && (layers === 'skip-first' || layers === 'skip-first-last')) return false;
    if (index === last && (layers === 'skip-last' || layers === 'skip-first-last')) return false;
    if (padMode === 'dense-first-layer' && net.layers[index].inFeatures % m !== 0) return false;
    return true;
  }

  private project(weight: Float32Array, net: Mlp, index: number): Float32Array {
    const l = net.layers[index];
    return nmMask(weight, l.outFeatures, l.inFeatures, this.options.n, this.options.m);
  }

  /** @inheritdoc Sets `M = P_{N:M}(W_init)` on every eligible online and target layer. */
  initialize(groups: readonly NetworkGroup[], _rng: Rng): void {
    for (const group of groups) {
      this.counters.start(group.name);
      group.networks.forEach((net, k) => {
        const target = group.targets[k];
        net.layers.forEach((layer, index) => {
          if (!this.eligible(net, index)) return;
          const name = key(net, index);
          const shadow = Float32Array.from(layer.weight);
          const mask = this.project(shadow, net, index);
          this.shadows.set(name, shadow);
          this.masks.set(name, mask);
          this.previousMasks.set(name, mask);
          this.initialMasks.set(name, mask);
          setGroupMask(group, net, index, mask);
          if (target) {
            this.previousMasks.set(key(target, index), mask);
            this.initialMasks.set(key(target, index), mask);
          }
        });
      });
    }
  }

  /** @inheritdoc STE / SR-STE need the gradient at every position, every step. */
  override needsDenseGradient(_group: NetworkGroup): boolean {
    return this.options.gradMode !== 'masked-retain';
  }

  /**
   * @inheritdoc Counts the group's update. In `ste`/`srste`: adds SR-STE's `λ(1 − M) ⊙ W̃` to the
   * (dense) weight gradient, lifts the engine mask and loads W̃, so the optimizer step updates all
   * of W̃; `afterOptimizerStep` puts the mask back. Never skips the step.
   */
  override beforeOptimizerStep(group: NetworkGroup): boolean {
    this.counters.increment(group.name);
    if (this.options.gradMode === 'masked-retain') return true;
    const lambda = this.options.gradMode === 'srste' ? this.options.srsteLambda : 0;
    for (const net of group.networks) {
      net.layers.forEach((layer, index) => {
        const shadow = this.shadows.get(key(net, index));
        if (!shadow) return;
        const mask = this.masks.get(key(net, index))!;
        if (lambda > 0) {
          const g = layer.weightGrad;
          for (let i = 0; i < g.length; i++) if (mask[i] === 0) g[i] += lambda * shadow[i];
        }
        net.setMask(index, null);
        layer.weight.set(shadow);
      });
    }
    return true;
  }

  /** @inheritdoc Updates W̃, re-projects the masks when due (logging SAD), restores `W̃ ⊙ M` in the engine. */
  override afterOptimizerStep(group: NetworkGroup): void {
    const call = this.counters.get(group.name);
    const interval = this.options.maskInterval;
    const due = interval > 0 && call % interval === 0;
    const retain = this.options.gradMode === 'masked-retain';
    for (const net of group.networks) {
      net.layers.forEach((layer, index) => {
        const name = key(net, index);
        const shadow = this.shadows.get(name);
        if (!shadow) return;
        let mask = this.masks.get(name)!;
        const w = layer.weight;
        if (retain) {
          for (let i = 0; i < w.length; i++) if (mask[i] !== 0) shadow[i] = w[i];
        } else shadow.set(w);
        if (due) {
          mask = this.project(shadow, net, index);
          this.masks.set(name, mask);
        }
        if (due || !retain) {
          w.set(shadow);
          // shared: the target takes the new online mask now (Polyak re-masks it after each target update)
          if (due && this.options.targetMode === 'shared') setGroupMask(group, net, index, mask);
          else net.setMask(index, mask);
        }
      });
    }
    if (due) this.recordDivergence(group, call);
  }

  /** Per network of `group` (and per target in `own` mode): SAD since the last update and since init. */
  private recordDivergence(group: NetworkGroup, call: number): void {
    const nets = this.options.targetMode === 'own' ? [...group.networks, ...group.targets] : group.networks;
    for (const net of nets) {
      let flips = 0;
      let flipsInit = 0;
      let entries = 0;
      net.layers.forEach((layer, index) => {
        const name = key(net, index);
        const prev = this.previousMasks.get(name);
        const init = this.initialMasks.get(name);
        const now = layer.mask;
        if (!prev || !init || !now) return;
        flips += maskDivergence(prev, now) * now.length;
        flipsInit += maskDivergence(init, now) * now.length;
        entries += now.length;
        this.previousMasks.set(name, Float32Array.from(now));
      });
      if (!entries) continue;
      const record: SadRecord = { group: group.name, call, network: net.spec.name, sad: flips / entries, sadInit: flipsInit / entries };
      this.sadHistory.push(record);
      this.last[`nm/sad/${record.network}`] = record.sad;
      this.last[`nm/sad_init/${record.network}`] = record.sadInit;
    }
    const updates = `nm/mask_updates/${group.name}`;
    this.last[updates] = (this.last[updates] ?? 0) + 1;
    this.pending = { ...this.pending };
    for (const r of this.sadHistory.slice(-nets.length)) {
      if (r.group !== group.name || r.call !== call) continue;
      this.pending[`nm/sad/${r.network}`] = r.sad;
      this.pending[`nm/sad_init/${r.network}`] = r.sadInit;
    }
    this.pending[updates] = this.last[updates];
  }

  /** @inheritdoc The SAD of every mask update since the last call (so it is logged at each mask update). */
  takeUpdateMetrics(): Record<string, number> | null {
    const out = this.pending;
    this.pending = null;
    return out;
  }

  /** @inheritdoc In `own` mode: re-projects every eligible target layer with its own magnitudes. */
  override afterTargetUpdate(group: NetworkGroup): void {
    if (this.options.targetMode !== 'own') return;
    for (const target of group.targets) {
      target.layers.forEach((layer, index) => {
        if (!this.eligible(target, index)) return;
        target.setMask(index, this.project(layer.weight, target, index));
      });
    }
  }

  /** @inheritdoc `sparsity/*` plus `nm/*` (see the class docs). */
  override metrics(groups: readonly NetworkGroup[]): Record<string, number> {
    return {
      ...super.metrics(groups),
      ...this.last,
      'nm/density': this.options.n / this.options.m,
      'nm/hardware_support': nmHardwareSupported(this.options.n, this.options.m) ? 1 : 0,
    };
  }

  /**
   * Counters, the dense shadows W̃ (base64 float32, they are not in the engine's tensors) and the
   * SAD reference masks (base64 bytes).
   */
  override state(): unknown {
    const map = (m: Map<string, Float32Array>, f: (a: Float32Array) => string) => Object.fromEntries([...m].map(([k, v]) => [k, f(v)]));
    return {
      counters: this.counters.toJSON(), last: this.last,
      shadows: map(this.shadows, encodeFloat32), masks: map(this.masks, encodeMask), previousMasks: map(this.previousMasks, encodeMask), initialMasks: map(this.initialMasks, encodeMask),
    };
  }

  /** Restores `state()` (after `initialize`). */
  override loadState(state: unknown): void {
    const s = state as { counters: Record<string, number>; last: Record<string, number>; shadows: Record<string, string>; masks: Record<string, string>; previousMasks: Record<string, string>; initialMasks: Record<string, string> };
    this.counters.load(s.counters);
    Object.assign(this.last, s.last);
    for (const [k, v] of Object.entries(s.shadows)) this.shadows.set(k, decodeFloat32(v));
    for (const [k, v] of Object.entries(s.masks)) this.masks.set(k, decodeMask(v));
    for (const [k, v] of Object.entries(s.previousMasks)) this.previousMasks.set(k, decodeMask(v));
    for (const [k, v] of Object.entries(s.initialMasks)) this.initialMasks.set(k, decodeMask(v));
  }
}
