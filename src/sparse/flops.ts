import type { AgentCostModel } from '../core/agent.js';
import type { NetworkGroup } from '../core/network-group.js';
import type { Mlp } from '../nn/engine.js';

/** Active weights of a network: Σ_l |M_l| (all entries of an unmasked layer). Biases excluded. */
export function activeWeights(net: Mlp): number {
  let c = 0;
  for (const l of net.layers) {
    if (!l.mask) c += l.weight.length;
    else for (let i = 0; i < l.mask.length; i++) c += l.mask[i] !== 0 ? 1 : 0;
  }
  return c;
}

/**
 * Forward FLOPs of one sample through `net`: 2 per active weight (a multiply and an add,
 * RigL/Evci et al. 2020 counting as used by DS-TD3 [S-paper] §4.3); biases and activations are
 * not counted (every paper counts weights only, methods.md §0.2). `dense` counts every weight.
 */
export function forwardFlops(net: Mlp, dense = false): number {
  return 2 * (dense ? net.weightCount : activeWeights(net));
}

/** Training FLOPs of one gradient iteration (see `flopsMetrics`); `dense` = the dense reference. */
function iterationFlops(groups: readonly NetworkGroup[], cost: AgentCostModel, denseGradientInterval: number | null, dense: boolean): number {
  const actor = groups.find((g) => g.name === 'actor');
  const critic = groups.find((g) => g.name === 'critic');
  if (!actor || !critic) return Number.NaN;
  const f = (n: Mlp) => forwardFlops(n, dense);
  const d = cost.actorUpdateInterval;
  let perSample = 0;
  // TD target: next action from the target actor (TD3) or the online actor (SAC), target critics
  perSample += cost.targetActor && actor.targets[0] ? f(actor.targets[0]) : f(actor.networks[0]);
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
 * Size and FLOPs accounting of an actor-critic agent (methods.md §1.e RLx2, §2.e DS-TD3), as
 * `flops/*` metrics, absolute and as ratios to the same count with dense networks:
 *
 * - `flops/params`, `flops/params_ratio`: active weights of the online networks;
 *   `flops/params_with_targets`, `…_ratio`: including targets (RLx2's "Total Size").
 * - `flops/inference`, `flops/inference_ratio`: one actor forward per sample (RLx2 "FLOPs (Test)"
 *   = actor density).
 * - `flops/train_per_iteration`, `flops/train_ratio`: one gradient iteration of batch B:
 *   B·[F(next-action actor) + Σ F(target critics) + Σ 3F(critic) + (3F(actor) + Σ_{critics in the
 *   actor loss} 2F(critic))/d] plus, when the sparsifier needs dense gradients every ΔT updates
 *   (RigL grow), B·(F_D − F_S)/ΔT per critic and /(d·ΔT) for the actor.
 * - `flops/density/<layer>.weight`: density (1 − sparsity) of every online layer.
 *
 * F(net) = `forwardFlops` (2 FLOPs per active weight). RLx2's training-FLOPs formula (App. C.3)
 * is unknown; this follows the recommendation of methods.md §1.e.
 * @param denseGradientInterval ΔT of dense-gradient backward passes, or null
 */
export function flopsMetrics(groups: readonly NetworkGroup[], cost: AgentCostModel, denseGradientInterval: number | null): Record<string, number> {
  const out: Record<string, number> = {};
  let params = 0;
  let paramsDense = 0;
  let withTargets = 0;
  let withTargetsDense = 0;
  for (const g of groups) {
    for (const net of g.networks) {
      params += activeWeights(net);
      paramsDense += net.weightCount;
      for (const l of net.layers) {
        let a = l.weight.length;
        if (l.mask) {
          a = 0;
          for (let i = 0; i < l.mask.length; i++) a += l.mask[i] !== 0 ? 1 : 0;
        }
        out[`flops/density/${l.name}.weight`] = a / l.weight.length;
      }
    }
    for (const net of [...g.networks, ...g.targets]) {
      withTargets += activeWeights(net);
      withTargetsDense += net.weightCount;
    }
  }
  out['flops/params'] = params;
  out['flops/params_ratio'] = params / paramsDense;
  out['flops/params_with_targets'] = withTargets;
  out['flops/params_with_targets_ratio'] = withTargets / withTargetsDense;
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
