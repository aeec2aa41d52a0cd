import type { AgentCostModel } from '../core/agent.js';
import type { NetworkGroup } from '../core/network-group.js';
import type { Mlp } from '../nn/engine.js';

/**
 * What a sparsifier tells the accounting about its parameterisation (a `Sparsifier` is one).
 * `storedWeights(net, index)` gives the values layer `index` of `net` stores when that is not its
 * active mask entries (GST's block-circulant layers: b per active block), else undefined.
 */
export interface CostInfo {
  readonly denseGradientInterval?: number;
  storedWeights?(net: Mlp, index: number): number | undefined;
}

/** Active entries of layer `index`: |M| (all entries when unmasked). */
function activeEntries(net: Mlp, index: number): number {
  const l = net.layers[index];
  if (!l.mask) return l.inFeatures * l.outFeatures;
  let c = 0;
  for (let i = 0; i < l.mask.length; i++) c += l.mask[i] !== 0 ? 1 : 0;
  return c;
}

/** Active weights of a network: Σ_l |M_l| (all entries of an unmasked layer). Biases excluded. */
export function activeWeights(net: Mlp): number {
  let c = 0;
  for (let k = 0; k < net.layers.length; k++) c += activeEntries(net, k);
  return c;
}

/**
 * Stored weight values of a network: Σ_l `info.storedWeights(net, l)` where the parameterisation
 * defines it (b per active circulant block), else the layer's active entries. Biases excluded.
 */
export function storedWeights(net: Mlp, info: CostInfo = {}): number {
  let c = 0;
  for (let k = 0; k < net.layers.length; k++) c += info.storedWeights?.(net, k) ?? activeEntries(net, k);
  return c;
}

/** Stored and dense weight counts summed over `nets`. */
function size(nets: readonly Mlp[], info: CostInfo): { stored: number; dense: number } {
  let stored = 0;
  let dense = 0;
  for (const net of nets) {
    stored += storedWeights(net, info);
    dense += net.weightCount;
  }
  return { stored, dense };
}

const online = (groups: readonly NetworkGroup[]) => groups.flatMap((g) => g.networks);

/** Compression ratio of the online networks: `1 − stored values / dense weights` (docs/methods.md §3.e). */
export function compressionRatio(groups: readonly NetworkGroup[], info: CostInfo = {}): number {
  const { stored, dense } = size(online(groups), info);
  return dense ? 1 - stored / dense : 0;
}

/**
 * GST's headline metric (Lee et al. 2021, docs/methods.md §3.e / §9.2.7): the **average compression
 * ratio over training iterations**, `mean_t (1 − stored_t / dense)`, next to the current one. The
 * ratio is recomputed only when an online network's `maskVersion` changed, so recording every
 * gradient iteration costs O(networks).
 */
export class CompressionTracker {
  private version = -1;
  private ratio = 0;
  private sum = 0;
  private iterations = 0;

  constructor(private readonly groups: readonly NetworkGroup[], private readonly info: CostInfo = {}) {}

  /** The current ratio (recomputed when a mask changed since the last call). */
  current(): number {
    let v = 0;
    for (const g of this.groups) for (const n of g.networks) v += n.maskVersion;
    if (v !== this.version) {
      this.version = v;
      this.ratio = compressionRatio(this.groups, this.info);
    }
    return this.ratio;
  }

  /** Counts `iterations` gradient iterations run at the current ratio. */
  record(iterations: number): void {
    this.sum += iterations * this.current();
    this.iterations += iterations;
  }

  /** `compression/ratio` (now) and `compression/average_ratio` (mean over recorded iterations; the current ratio before any). */
  metrics(): Record<string, number> {
    const now = this.current();
    return { 'compression/ratio': now, 'compression/average_ratio': this.iterations ? this.sum / this.iterations : now, 'compression/iterations': this.iterations };
  }

  /** JSON state for checkpoints. */
  state(): { sum: number; iterations: number } {
    return { sum: this.sum, iterations: this.iterations };
  }

  /** Restores `state()`. */
  loadState(state: { sum: number; iterations: number }): void {
    this.sum = state.sum;
    this.iterations = state.iterations;
  }
}

/**
 * Forward FLOPs of one sample through `net`: 2 per active weight (a multiply and an add,
 * RigL/Evci et al. 2020 counting as used by DS-TD3 [S-paper] §4.3); biases and activations are
 * not counted (every paper counts weights only, docs/methods.md §0.2). `dense` counts every weight.
 */
export function forwardFlops(net: Mlp, dense = false): number {
  return 2 * (dense ? net.weightCount : activeWeights(net));
}

/**
 * An `AgentCostModel` that also says how many next-action passes the TD target makes per sample:
 * RLx2's SAC n-step target samples a' from the online actor at each of the n next states
 * ([R-code] `RLx2_SAC/SAC.py`, the loop over `k < current_nstep`), TD3's n-step target evaluates
 * the target actor at the bootstrap state only. Absent = 1 (the 1-step target).
 */
export interface NStepCostModel extends AgentCostModel {
  /** Forward passes of the next-action network per sample in the TD target (≥ 1; SAC n-step: the current n). */
  readonly nextActionPasses?: number;
}

/**
 * Training FLOPs of one gradient iteration (see `flopsMetrics`); `dense` = the dense reference,
 * which always has one next-action pass (the dense agent with the 1-step target, RLx2 Table 2's
 * "original dense model"; docs/methods.md §1.e).
 */
function iterationFlops(groups: readonly NetworkGroup[], cost: NStepCostModel, denseGradientInterval: number | null, dense: boolean): number {
  const actor = groups.find((g) => g.name === 'actor');
  const critic = groups.find((g) => g.name === 'critic');
  if (!actor || !critic) return Number.NaN;
  const f = (n: Mlp) => forwardFlops(n, dense);
  const d = cost.actorUpdateInterval;
  let perSample = 0;
  // TD target: next action from the target actor (TD3) or the online actor (SAC, n passes with the
  // n-step target), target critics
  const passes = dense ? 1 : Math.max(1, cost.nextActionPasses ?? 1);
  perSample += passes * (cost.targetActor && actor.targets[0] ? f(actor.targets[0]) : f(actor.networks[0]));
  for (const t of critic.targets) perSample += f(t);
  // critic training: forward + backward (input-side and weight gradients) ≈ 3 forwards per head
  for (const c of critic.networks) perSample += 3 * f(c);
  // actor update every d iterations: actor 3F, critic heads in the loss forward + input gradient
  let actorPart = 3 * f(actor.networks[0]);
  for (let k = 0; k < Math.min(cost.criticsInActorLoss, critic.networks.length); k++) actorPart += 2 * f(critic.networks[k]);
  perSample += actorPart / d;
  // RigL: once per ΔT calls the weight-gradient pass is dense (F_D instead of F_S)
  if (!dense && denseGradientInterval) {
    for (const c of critic.networks) perSample += (forwardFlops(c, true) - f(c)) / denseGradientInterval;
    perSample += (forwardFlops(actor.networks[0], true) - f(actor.networks[0])) / (d * denseGradientInterval);
  }
  return cost.batchSize * perSample;
}

/**
 * Size and FLOPs accounting of an actor-critic agent (docs/methods.md §1.e RLx2, §2.e DS-TD3), as
 * `flops/*` metrics, absolute and as ratios to the same count with dense networks:
 *
 * - `flops/params`, `flops/params_ratio`: stored weights of the online networks (`storedWeights`:
 *   active weights, or b per active block of a block-circulant layer);
 *   `flops/params_with_targets`, `…_ratio`: including targets (RLx2's "Total Size").
 * - `flops/inference`, `flops/inference_ratio`: one actor forward per sample (RLx2 "FLOPs (Test)"
 *   = actor density).
 * - `flops/train_per_iteration`, `flops/train_ratio`: one gradient iteration of batch B:
 *   B·[p·F(next-action actor) + Σ F(target critics) + Σ 3F(critic) + (3F(actor) + Σ_{critics in the
 *   actor loss} 2F(critic))/d] plus, when the sparsifier needs dense gradients every ΔT updates
 *   (RigL grow), B·(F_D − F_S)/ΔT per critic and /(d·ΔT) for the actor. p = `nextActionPasses`
 *   (SAC n-step: n; else 1). The ratio's dense reference is the same count with dense networks and
 *   p = 1, i.e. the dense agent with the ordinary 1-step target, as RLx2 Table 2 compares with the
 *   original dense model (docs/methods.md §1.e: with p = 1 in the reference, SAC Walker2d at
 *   uniform 10 % density gives 0.113 as in Table 2; a same-p reference would give 0.100).
 * - `flops/density/<layer>.weight`: density (1 − sparsity) of every online layer.
 *
 * F(net) = `forwardFlops` (2 FLOPs per active weight). RLx2's training-FLOPs formula (App. C.3)
 * is unknown; this follows the recommendation of docs/methods.md §1.e, and the residual gap to
 * RLx2 Table 2 is pinned in test/sparse/flops-rlx2-table2.spec.ts (TD3 ≤ 3 %, SAC ≤ 6.5 %).
 * FLOPs count 2 per active entry of the weight as executed (a block-circulant layer runs on its
 * materialised weight).
 * @param info the sparsifier: `denseGradientInterval` ΔT of dense-gradient backward passes and
 *   `storedWeights` of its parameterisation
 */
export function flopsMetrics(groups: readonly NetworkGroup[], cost: NStepCostModel, info: CostInfo = {}): Record<string, number> {
  const denseGradientInterval = info.denseGradientInterval ?? null;
  const out: Record<string, number> = {};
  for (const net of online(groups)) {
    net.layers.forEach((l, k) => {
      out[`flops/density/${l.name}.weight`] = activeEntries(net, k) / (l.inFeatures * l.outFeatures);
    });
  }
  const params = size(online(groups), info);
  const withTargets = size(groups.flatMap((g) => [...g.networks, ...g.targets]), info);
  out['flops/params'] = params.stored;
  out['flops/params_ratio'] = params.stored / params.dense;
  out['flops/params_with_targets'] = withTargets.stored;
  out['flops/params_with_targets_ratio'] = withTargets.stored / withTargets.dense;
  const actor = groups.find((g) => g.name === 'actor')?.networks[0];
  if (actor) {
    out['flops/inference'] = forwardFlops(actor);
    out['flops/inference_ratio'] = forwardFlops(actor) / forwardFlops(actor, true);
  }
  const train = iterationFlops(groups, cost, denseGradientInterval, false);
  if (Number.isFinite(train)) {
    out['flops/train_per_iteration'] = train;
    out['flops/train_ratio'] = train / iterationFlops(groups, cost, null, true);
  }
  return out;
}
