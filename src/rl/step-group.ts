import type { NetworkGroup } from '../core/network-group.js';
import type { SparsifierHooks } from '../core/sparsifier.js';

/** The sparsifier hooks that `stepGroup` calls (all present on the agents' `SparsifierHooks`). */
export type StepHooks = Pick<SparsifierHooks, 'needsDenseGradient' | 'beforeOptimizerStep' | 'afterOptimizerStep'>;

/**
 * One gradient update of a network group, with the sparsifier's hooks in the order of
 * docs/architecture.md §4 ("Hook order"):
 *
 * ```
 * needsDenseGradient(group)    → denseGrad: must this backward fill dense weight gradients?
 * backward(denseGrad)          the caller's backward passes of the group's networks (and any
 *                              forward passes the caller has not run yet)
 * beforeOptimizerStep(group)   topology update if due; false skips the optimizer step
 * optimizers[i].step()         every optimizer of the group, in `group.optimizers` order (the
 *                              engine masks the gradients, steps Adam, re-applies the masks)
 * afterOptimizerStep(group)    only when the step ran
 * ```
 *
 * The target update and `afterTargetUpdate` are not part of it (`polyakUpdateTargets`): TD3
 * updates the targets of both groups after the actor's step. Used by both TD3 groups (Fujimoto
 * et al. 2018, github.com/sfujim/TD3 `TD3.train`), both SAC groups (Haarnoja et al. 2018) and
 * `updateTwinCritics`.
 *
 * @param group the group being trained: `optimizers[i]` trains `networks[i]`
 * @param sparsifier the run's sparsifier (hooks with defaults filled in)
 * @param backward computes the gradients of `group.networks` (e.g. `mlp.backward(grad, { denseGrad })`);
 *   receives the value `needsDenseGradient` returned
 * @returns true when the optimizers stepped, false when `beforeOptimizerStep` skipped them
 * @throws whatever a hook, `backward` or an optimizer throws; the hooks after it are not called
 */
export function stepGroup(group: NetworkGroup, sparsifier: StepHooks, backward: (denseGrad: boolean) => void): boolean {
  const denseGrad = sparsifier.needsDenseGradient(group);
  backward(denseGrad);
  if (!sparsifier.beforeOptimizerStep(group)) return false;
  for (const optimizer of group.optimizers) optimizer.step();
  sparsifier.afterOptimizerStep(group);
  return true;
}
