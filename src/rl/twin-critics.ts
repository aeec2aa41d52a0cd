import type { NetworkGroup } from '../core/network-group.js';
import type { Sparsifier } from '../core/sparsifier.js';
import type { Mlp } from '../nn/engine.js';

/** out[i] = [a[i], b[i]] for rows i < n; a `[n, da]`, b `[n, db]`, out `[n, da+db]` (critic input `(s, a)`). */
export function concatRows(a: Float32Array, da: number, b: Float32Array, db: number, n: number, out: Float32Array): void {
  const w = da + db;
  for (let i = 0; i < n; i++) {
    out.set(a.subarray(i * da, (i + 1) * da), i * w);
    out.set(b.subarray(i * db, (i + 1) * db), i * w + da);
  }
}

/**
 * One update of the twin critics shared by TD3 (Fujimoto et al. 2018) and SAC (Haarnoja et al.
 * 2018): loss = MSE(Q1(s,a), y) + MSE(Q2(s,a), y), backward with the sparsifier's dense-gradient
 * request, then the optimizer steps unless the sparsifier skips them (topology update).
 * @param input `[B, obs+act]` critic input `(s, a)`
 * @param target `[B]` TD target y
 * @param gradScratch `[B]` reused buffer for dL/dQ
 * @returns the critic loss (sum of both heads' mean squared errors)
 */
export function updateTwinCritics(
  group: NetworkGroup,
  sparsifier: Sparsifier,
  input: Float32Array,
  target: Float32Array,
  batch: number,
  gradScratch: Float32Array,
): number {
  const denseGrad = sparsifier.needsDenseGradient(group);
  let loss = 0;
  for (const critic of group.networks as readonly Mlp[]) {
    const q = critic.forward(input, batch);
    for (let i = 0; i < batch; i++) {
      const d = q[i] - target[i];
      loss += (d * d) / batch;
      gradScratch[i] = (2 * d) / batch;
    }
    critic.backward(gradScratch, { denseGrad });
  }
  if (sparsifier.beforeOptimizerStep(group)) {
    for (const opt of group.optimizers) opt.step();
    sparsifier.afterOptimizerStep(group);
  }
  return loss;
}
