import {
  checkWindowsSupport, concatRows, copyToTargets, createTwinCritics, gatherBootstrapStates, initLinearDefault, nStepTarget, polyakUpdateTargets, stepGroup, updateTwinCritics,
  type Agent, type AgentContext, type AgentCostModel, type DeterministicPolicy, type Mlp, type NetworkGroup, type ReplayBuffer, type Rng, type SparsifierHooks,
} from '../../src/index.js';
import type { SacOptions } from './sac-options.js';
import { sampleTanhGaussian, tanhGaussianActorGrad, type LogStdBounds } from './tanh-gaussian.js';

export type { SacOptions } from './sac-options.js';

/**
 * Soft Actor-Critic (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications"), with
 * automatic entropy tuning, as RLx2 runs it ([R-code] `RLx2_SAC/SAC.py`), on the engine's network
 * interface only.
 *
 * Networks: actor obs→h…→2·act (linear: mean μ and raw log-std ℓ̃, bounded to [logStdMin,
 * logStdMax] by `logStdBounding`);
 * twin critics (obs+act)→h…→1 and their target critics; **no target actor** (the `actor` group
 * has empty `targets`). Actions are normalised to [−1, 1] (a = tanh(μ + σε); the trainer scales).
 *
 * Per iteration: critic target `y = r + γ(1 − terminated)·(min Q'(s', a') − α·log π(a'|s'))` with
 * a' ~ π(·|s') from the online actor (n-step: `src/rl/n-step.ts` with the entropy terms);
 * critic loss MSE(Q1, y) + MSE(Q2, y); every `actorUpdateInterval` iterations the actor loss
 * `mean(α·log π(a|s) − min(Q1, Q2)(s, a))` with a reparameterised, whose gradient w.r.t. the
 * actor outputs is computed analytically (`tanhGaussianActorGrad`) from dQ/da (critic backward
 * with `inputGrad`, `paramGrad: false`); then `J(α) = α·mean(−log π − H̄)` (log π detached) by
 * Adam on log α (RLx2 [R-code] / pytorch_sac form); every `targetUpdateInterval` iterations a
 * Polyak update of the target critics.
 * Sparsifier hooks (docs/architecture.md §4): the `critic` group every iteration
 * (`updateTwinCritics`), the `actor` group on actor iterations (`stepGroup`), and
 * `afterTargetUpdate(critic)` after each target update (`polyakUpdateTargets`). Weights use
 * PyTorch's default Linear init (RLx2's SAC uses orthogonal init; not reproduced,
 * docs/methods.md §1.h.9). Options and their defaults: `sac-options.ts`, README.md.
 */
export class SacAgent implements Agent {
  readonly groups: readonly NetworkGroup[];
  readonly learningStarts: number;
  private readonly baseCost: AgentCostModel;
  private readonly actor: Mlp;
  private readonly critics: readonly [Mlp, Mlp];
  private readonly criticTargets: readonly [Mlp, Mlp];
  private readonly actorGroup: NetworkGroup;
  private readonly criticGroup: NetworkGroup;
  private readonly sparsifier: SparsifierHooks;
  private readonly rng: Rng;
  private readonly obsDim: number;
  private readonly actDim: number;
  private readonly targetEntropy: number;
  private readonly bounds: LogStdBounds;
  private iterations = 0;
  private logAlpha = 0;
  /** Adam state of log α (PyTorch semantics). */
  private alphaAdam = { m: 0, v: 0, t: 0 };
  private readonly criticInput: Float32Array;
  private readonly targetQ: Float32Array;
  private readonly gradQ: Float32Array;

  constructor(
    private readonly options: SacOptions,
    context: AgentContext,
  ) {
    const { engine, rng } = context;
    this.rng = rng;
    this.sparsifier = context.sparsifier;
    this.learningStarts = options.learningStarts;
    this.obsDim = context.observationSize;
    this.actDim = context.actionSpace.shape.reduce((a, b) => a * b, 1);
    this.targetEntropy = options.targetEntropy ?? -this.actDim;
    this.bounds = { min: options.logStdMin, max: options.logStdMax, mode: options.logStdBounding };
    if (typeof options.entropyCoefficient === 'number') this.logAlpha = Math.log(options.entropyCoefficient);
    const hidden = options.hiddenSizes;
    this.actor = engine.createMlp({ name: 'actor', layerSizes: [this.obsDim, ...hidden, 2 * this.actDim], hiddenActivation: 'relu', outputActivation: 'linear' });
    const twin = createTwinCritics(engine, this.obsDim + this.actDim, hidden, { lr: options.criticLr, weightDecay: options.weightDecay });
    this.critics = twin.critics;
    this.criticTargets = twin.targets;
    const initRng = rng.fork('init');
    for (const net of [this.actor, ...this.critics]) initLinearDefault(net, initRng);
    const actorOptimizer = engine.createAdam(this.actor, { lr: options.actorLr, weightDecay: options.weightDecay });
    this.actorGroup = { name: 'actor', networks: [this.actor], targets: [], optimizers: [actorOptimizer] };
    this.criticGroup = twin.group;
    this.groups = [this.actorGroup, this.criticGroup];
    this.sparsifier.initialize(this.groups, rng.fork('sparsifier'));
    copyToTargets(this.groups);
    const b = options.batchSize;
    this.criticInput = new Float32Array(b * (this.obsDim + this.actDim));
    this.targetQ = new Float32Array(b);
    this.gradQ = new Float32Array(b);
    this.baseCost = { batchSize: b, actorUpdateInterval: options.actorUpdateInterval, criticsInActorLoss: 2, targetActor: false };
  }

  /**
   * @inheritdoc What the **next** gradient iteration computes, for `flops/*` (`src/sparse/flops.ts`):
   * B, actor every `actorUpdateInterval`, both critics in the actor loss, the online actor for the
   * next action, and `nextActionPasses` = the n of that iteration's TD target (RLx2 [R-code]
   * `SAC.train` samples a' at each of the n next states: n actor forwards per sample once the
   * n-step target is on, 1 before `nStep.delayIterations`).
   */
  get costModel(): AgentCostModel & { readonly nextActionPasses: number } {
    const ns = this.options.nStep;
    const n = ns.n > 1 && this.iterations + 1 >= ns.delayIterations ? ns.n : 1;
    return { ...this.baseCost, nextActionPasses: n };
  }

  /** Current entropy coefficient α. */
  get alpha(): number {
    return Math.exp(this.logAlpha);
  }

  /** @inheritdoc @throws Error when nStep.n > 1 and the buffer cannot sample windows */
  checkReplayBuffer(buffer: ReplayBuffer): void {
    checkWindowsSupport('sac', this.options.nStep, buffer);
  }

  private noise(count: number): Float32Array {
    const eps = new Float32Array(count);
    for (let i = 0; i < count; i++) eps[i] = this.rng.normal();
    return eps;
  }

  /**
   * @inheritdoc Deterministic: tanh(μ); else a sample tanh(μ + σε), ε ~ N(0, I).
   * @param observations `[n, obsDim]`
   * @returns `[n, actDim]` normalised actions in (−1, 1)
   */
  act(observations: Float32Array, n: number, deterministic: boolean): Float32Array {
    const out = this.actor.predict(observations, n);
    const eps = deterministic ? new Float32Array(n * this.actDim) : this.noise(n * this.actDim);
    return sampleTanhGaussian(out, eps, n, this.actDim, this.bounds).action;
  }

  /** @inheritdoc One actor pass: `action` = tanh(μ + σε), `mean` = tanh(μ). */
  actWithMean(observations: Float32Array, n: number): { action: Float32Array; mean: Float32Array } {
    const out = this.actor.predict(observations, n);
    const action = sampleTanhGaussian(out, this.noise(n * this.actDim), n, this.actDim, this.bounds).action;
    return { action, mean: sampleTanhGaussian(out, new Float32Array(n * this.actDim), n, this.actDim, this.bounds).action };
  }

  /**
   * @inheritdoc One SAC iteration (Haarnoja et al. 2018, Alg. 1; RLx2 [R-code] `SAC.update`).
   * @returns `losses/critic_loss`, `losses/alpha` (α before this iteration's α step), and on actor
   *   iterations `losses/actor_loss`, `losses/entropy` (nats) and, with `entropyCoefficient: auto`,
   *   `losses/alpha_loss`
   * @throws Error when the buffer is empty, or has too few transitions for (or no) windows once
   *   the n-step target is on
   */
  update(buffer: ReplayBuffer): Record<string, number> {
    const { batchSize: b, gamma, tau } = this.options;
    const { obsDim, actDim } = this;
    const alpha = this.alpha;
    const ns = this.options.nStep;
    this.iterations++;
    // RLx2 [R-code]: n_cur = n if it ≥ delay_nstep, `it` the 1-based gradient iteration
    const n = ns.n > 1 && this.iterations >= ns.delayIterations ? ns.n : 1;

    // 1. soft TD target; next actions sampled from the online actor (no target actor)
    let obs: Float32Array;
    let actions: Float32Array;
    const y = this.targetQ;
    let bootstrapObs: Float32Array;
    let bootstrapAct: Float32Array;
    let ret: ArrayLike<number>;
    let factor: ArrayLike<number>;
    if (n === 1) {
      const batch = buffer.sample(b, this.rng);
      obs = batch.observations;
      actions = batch.actions;
      const next = sampleTanhGaussian(this.actor.predict(batch.nextObservations, b), this.noise(b * actDim), b, actDim, this.bounds);
      bootstrapObs = batch.nextObservations;
      bootstrapAct = next.action;
      const r = new Float64Array(b);
      const f = new Float64Array(b);
      for (let i = 0; i < b; i++) {
        f[i] = gamma * (1 - batch.terminated[i]);
        r[i] = batch.rewards[i] - f[i] * alpha * next.logProb[i];
      }
      ret = r;
      factor = f;
    } else {
      if (!buffer.sampleWindows) throw new Error('agent.sac: nStep needs a replay buffer with sampleWindows');
      const w = buffer.sampleWindows(b, n, this.rng);
      obs = w.observations;
      actions = w.actions;
      const next = sampleTanhGaussian(this.actor.predict(w.nextObservations, b * n), this.noise(b * n * actDim), b * n, actDim, this.bounds);
      const entropy = next.logProb.map((lp) => -alpha * lp);
      const t = nStepTarget(w, gamma, entropy);
      ret = t.partialReturn;
      factor = t.bootstrapFactor;
      bootstrapObs = gatherBootstrapStates(w, t.bootstrapSlot, obsDim, new Float32Array(b * obsDim));
      bootstrapAct = new Float32Array(b * actDim);
      for (let i = 0; i < b; i++) {
        const src = (i * n + t.bootstrapSlot[i]) * actDim;
        bootstrapAct.set(next.action.subarray(src, src + actDim), i * actDim);
      }
    }
    concatRows(bootstrapObs, obsDim, bootstrapAct, actDim, b, this.criticInput);
    const q1Next = this.criticTargets[0].predict(this.criticInput, b);
    const q2Next = this.criticTargets[1].predict(this.criticInput, b);
    for (let i = 0; i < b; i++) y[i] = ret[i] + factor[i] * Math.min(q1Next[i], q2Next[i]);

    // 2. critic loss = MSE(Q1(s,a), y) + MSE(Q2(s,a), y)
    concatRows(obs, obsDim, actions, actDim, b, this.criticInput);
    const criticLoss = updateTwinCritics(this.criticGroup, this.sparsifier, this.criticInput, y, b, this.gradQ);
    const stats: Record<string, number> = { 'losses/critic_loss': criticLoss, 'losses/alpha': alpha };

    // 3. actor (and α) update
    if (this.iterations % this.options.actorUpdateInterval === 0) {
      const out = this.actor.forward(obs, b);
      const eps = this.noise(b * actDim);
      const { action, logProb } = sampleTanhGaussian(out, eps, b, actDim, this.bounds);
      concatRows(obs, obsDim, action, actDim, b, this.criticInput);
      const q1 = this.critics[0].forward(this.criticInput, b);
      const q2 = this.critics[1].forward(this.criticInput, b);
      const g1 = new Float32Array(b);
      const g2 = new Float32Array(b);
      let actorLoss = 0;
      let meanLogProb = 0;
      for (let i = 0; i < b; i++) {
        const use1 = q1[i] <= q2[i];
        (use1 ? g1 : g2)[i] = -1 / b;
        actorLoss += (alpha * logProb[i] - Math.min(q1[i], q2[i])) / b;
        meanLogProb += logProb[i] / b;
      }
      const w = obsDim + actDim;
      const gradAction = new Float32Array(b * actDim);
      for (const [critic, g] of [[this.critics[0], g1], [this.critics[1], g2]] as const) {
        const gi = critic.backward(g, { inputGrad: true, paramGrad: false })!;
        for (let i = 0; i < b; i++) for (let j = 0; j < actDim; j++) gradAction[i * actDim + j] += gi[i * w + obsDim + j];
      }
      const gradOut = tanhGaussianActorGrad(out, eps, gradAction, alpha, b, actDim, this.bounds);
      stepGroup(this.actorGroup, this.sparsifier, (denseGrad) => this.actor.backward(gradOut, { denseGrad }));
      stats['losses/actor_loss'] = actorLoss;
      stats['losses/entropy'] = -meanLogProb;
      if (this.options.entropyCoefficient === 'auto') {
        // J(α) = α·mean(−log π − H̄) with log π detached; dJ/dlog α = α·mean(−log π − H̄)
        const grad = alpha * (-meanLogProb - this.targetEntropy);
        stats['losses/alpha_loss'] = grad;
        this.logAlpha = adamScalar(this.alphaAdam, this.logAlpha, grad, this.options.alphaLr);
      }
    }

    // 4. Polyak update of the target critics
    if (this.iterations % this.options.targetUpdateInterval === 0) polyakUpdateTargets([this.criticGroup], tau, this.sparsifier);
    return stats;
  }

  /** @inheritdoc tanh of the mean μ, the first actDim outputs of the actor. */
  deterministicPolicy(): DeterministicPolicy {
    return { network: this.actor, outputOffset: 0, squash: 'tanh' };
  }

  /** @inheritdoc */
  state(): unknown {
    return { iterations: this.iterations, rng: this.rng.getState(), logAlpha: this.logAlpha, alphaAdam: { ...this.alphaAdam } };
  }

  /** @inheritdoc */
  loadState(state: unknown): void {
    const s = state as { iterations: number; rng: ReturnType<Rng['getState']>; logAlpha: number; alphaAdam: { m: number; v: number; t: number } };
    this.iterations = s.iterations;
    this.rng.setState(s.rng);
    this.logAlpha = s.logAlpha;
    this.alphaAdam = { ...s.alphaAdam };
  }
}

/**
 * One step of PyTorch's `torch.optim.Adam` (β₁ 0.9, β₂ 0.999, ε 1e-8, bias-corrected, no weight
 * decay) on a scalar parameter; `agent.sac` steps log α with it (pytorch_sac / RLx2 [R-code]).
 * @param s Adam state: first moment m, second moment v, step count t; updated in place
 * @param x the current value
 * @param grad dJ/dx
 * @param lr learning rate
 * @returns the new value x − lr·m̂/(√v̂ + ε)
 */
export function adamScalar(s: { m: number; v: number; t: number }, x: number, grad: number, lr: number): number {
  s.t++;
  s.m = 0.9 * s.m + 0.1 * grad;
  s.v = 0.999 * s.v + 0.001 * grad * grad;
  const mHat = s.m / (1 - 0.9 ** s.t);
  const vHat = s.v / (1 - 0.999 ** s.t);
  return x - (lr * mHat) / (Math.sqrt(vHat) + 1e-8);
}
