import type { NetworkGroup } from '../core/network-group.js';
import type { AdamOptions, Engine, Mlp, Optimizer } from '../nn/engine.js';
import { copyRow } from '../util/arrays.js';
import { stepGroup, type StepHooks } from './step-group.js';

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
 * @param inputSize obs + act (the critic input `[B, obs+act]`)
 * @param hidden hidden layer widths (ReLU)
 * @param adam learning rate and L2 weight decay of both critics' Adam
 * @throws RangeError from the engine on an invalid size or learning rate
 */
export function createTwinCritics(engine: Engine, inputSize: number, hidden: readonly number[], adam: AdamOptions): TwinCritics {
  const spec = (name: string) => ({ name, layerSizes: [inputSize, ...hidden, 1], hiddenActivation: 'relu', outputActivation: 'linear' }) as const;
  const critics = [engine.createMlp(spec('critic1')), engine.createMlp(spec('critic2'))] as const;
  const targets = [engine.createMlp(spec('critic1Target')), engine.createMlp(spec('critic2Target'))] as const;
  const optimizers = [engine.createAdam(critics[0], adam), engine.createAdam(critics[1], adam)] as const;
  return { critics, targets, optimizers, group: { name: 'critic', networks: critics, targets, optimizers } };
}

/**
 * Row-wise concatenation `out[i] = [a[i], b[i]]` for rows i < n (the critic input `(s, a)`).
 * @param a `[n, da]`
 * @param b `[n, db]`
 * @param out `[n, da+db]` (or longer), overwritten
 * @throws RangeError when `out` is shorter than `n·(da+db)`
 */
export function concatRows(a: Float32Array, da: number, b: Float32Array, db: number, n: number, out: Float32Array): void {
  const w = da + db;
  if (out.length < n * w) throw new RangeError(`concatRows: out holds ${out.length} floats, ${n} rows of ${da} + ${db} need ${n * w}`);
  for (let i = 0; i < n; i++) {
    copyRow(a, i * da, out, i * w, da);
    copyRow(b, i * db, out, i * w + da, db);
  }
}

/**
 * One update of the twin critics shared by TD3 (Fujimoto et al. 2018, github.com/sfujim/TD3) and
 * SAC (Haarnoja et al. 2018): loss = MSE(Q1(s,a), y) + MSE(Q2(s,a), y), i.e. per head
 * dL/dQ_i = 2(Q_i − y_i)/B, through `stepGroup` (docs/architecture.md §4 hook order): the
 * dense-gradient request, forward and backward of both heads, then every optimizer steps unless
 * the sparsifier skips them (topology update).
 * @param group the `critic` group (`createTwinCritics(...).group`): its networks are the heads
 * @param input `[B, obs+act]` critic input `(s, a)`
 * @param target `[B]` TD target y
 * @param batch B
 * @param gradScratch `[B]` reused buffer for dL/dQ (overwritten)
 * @returns the critic loss (sum of both heads' mean squared errors)
 * @throws whatever the engine or a hook throws (e.g. a wrong input length)
 */
export function updateTwinCritics(
  group: NetworkGroup,
  sparsifier: StepHooks,
  input: Float32Array,
  target: Float32Array,
  batch: number,
  gradScratch: Float32Array,
): number {
  let loss = 0;
  stepGroup(group, sparsifier, (denseGrad) => {
    for (const critic of group.networks as readonly Mlp[]) {
      const q = critic.forward(input, batch);
      for (let i = 0; i < batch; i++) {
        const d = q[i] - target[i];
        loss += (d * d) / batch;
        gradScratch[i] = (2 * d) / batch;
      }
      critic.backward(gradScratch, { denseGrad });
    }
  });
  return loss;
}
