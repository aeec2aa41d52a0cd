import type { NetworkGroup } from '../core/network-group.js';
import type { SparsifierHooks } from '../core/sparsifier.js';
import type { AdamOptions, Engine, Mlp, Optimizer } from '../nn/engine.js';

/** The twin critics of TD3 / SAC with their targets and optimizers, as the `critic` network group. */
export interface TwinCritics {
  readonly critics: readonly [Mlp, Mlp];
  readonly targets: readonly [Mlp, Mlp];
  readonly optimizers: readonly [Optimizer, Optimizer];
  readonly group: NetworkGroup;
}

/**
 * Creates `critic1`, `critic2` ((obs+act) → hidden… → 1, ReLU, linear output), their targets
 * `critic1Target`, `critic2Target` and one Adam per critic (Fujimoto et al. 2018; Haarnoja et al.
 * 2018). Weights start at zero: the agent initialises them (its RNG order) and copies the targets.
 * @param inputSize obs + act
 */
export function createTwinCritics(engine: Engine, inputSize: number, hidden: readonly number[], adam: AdamOptions): TwinCritics {
  const spec = (name: string) => ({ name, layerSizes: [inputSize, ...hidden, 1], hiddenActivation: 'relu', outputActivation: 'linear' }) as const;
  const critics = [engine.createMlp(spec('critic1')), engine.createMlp(spec('critic2'))] as const;
  const targets = [engine.createMlp(spec('critic1Target')), engine.createMlp(spec('critic2Target'))] as const;
  const optimizers = [engine.createAdam(critics[0], adam), engine.createAdam(critics[1], adam)] as const;
  return { critics, targets, optimizers, group: { name: 'critic', networks: critics, targets, optimizers } };
}

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
  sparsifier: SparsifierHooks,
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
