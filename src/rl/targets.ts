import type { NetworkGroup } from '../core/network-group.js';
import type { SparsifierHooks } from '../core/sparsifier.js';
import type { PolyakOptions } from '../nn/engine.js';

/** The sparsifier members that `polyakUpdateTargets` reads. */
export type TargetHooks = Pick<SparsifierHooks, 'afterTargetUpdate' | 'targetMasks'>;

/**
 * Starts every target as an exact copy of its online network, masks included: for each group in
 * order, `targets[i].copyFrom(networks[i])`. Agents call it once, after `Sparsifier.initialize`
 * (docs/methods.md §1.h.2). A group without targets (SAC's actor) is skipped.
 * @throws whatever the engine's `copyFrom` throws (networks of different shapes)
 */
export function copyToTargets(groups: readonly NetworkGroup[]): void {
  for (const group of groups) group.targets.forEach((target, i) => target.copyFrom(group.networks[i]));
}

/**
 * The soft target update of TD3 (Fujimoto et al. 2018, github.com/sfujim/TD3 `TD3.train`) and SAC
 * (Haarnoja et al. 2018), in the order of docs/architecture.md §4: first, for each group in
 * order, `θ'_i ← τ·θ_i + (1 − τ)·θ'_i` for every `targets[i]` (weights and biases, `Mlp.polyakFrom`);
 * then `afterTargetUpdate(group)` for each group in order. Targets are re-masked with the
 * online masks (`masks: 'online'`), unless the sparsifier declares `targetMasks: 'own'`: then
 * the average is unmasked, the targets' masks are removed (`masks: 'none'`) and the sparsifier
 * sets them in `afterTargetUpdate` (DS-TD3, docs/methods.md §2.b.4).
 *
 * TD3 passes `[actor, critic]` (all three targets, then both hooks); SAC passes `[critic]`.
 * @param tau Polyak coefficient τ in [0, 1] (fraction of the online weights taken per update)
 * @throws RangeError from the engine when `tau` is outside [0, 1] or a target's shape differs
 */
export function polyakUpdateTargets(groups: readonly NetworkGroup[], tau: number, sparsifier: TargetHooks): void {
  const options: PolyakOptions = { masks: sparsifier.targetMasks === 'own' ? 'none' : 'online' };
  for (const group of groups) group.targets.forEach((target, i) => target.polyakFrom(group.networks[i], tau, options));
  for (const group of groups) sparsifier.afterTargetUpdate(group);
}
