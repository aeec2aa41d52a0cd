import {
  checkWindowsSupport, concatRows, copyToTargets, createTwinCritics, gatherBootstrapStates, initLinearDefault, nStepTarget, polyakUpdateTargets, stepGroup, updateTwinCritics,
  type Agent, type AgentContext, type AgentCostModel, type DeterministicPolicy, type Mlp, type NetworkGroup, type ReplayBuffer, type Rng, type SparsifierHooks,
} from '../../src/index.js';
import type { Td3Options } from './td3-options.js';

export type { Td3Options } from './td3-options.js';

/**
 * TD3 (Fujimoto, van Hoof, Meger 2018, "Addressing Function Approximation Error in Actor-Critic
 * Methods"; reference implementation github.com/sfujim/TD3), on the engine's network interface.
 *
 * Actions are normalised to [-1, 1] (the actor ends in tanh; the trainer scales to the action
 * space), so `policyNoise`, `noiseClip` and `explorationNoise` are in units of max action.
 * Networks: actor obs→h…→act (tanh); critics (obs+act)→h…→1; targets are copies.
 * Terminated transitions do not bootstrap; truncated ones do (`y = r + γ(1−terminated)·min Q'`).
 * With `nStep.n > 1`, after `nStep.delayIterations` gradient iterations the target is RLx2's
 * n-step target over buffer windows (`src/rl/n-step.ts`; the buffer must implement
 * `sampleWindows`), bootstrapped at s'_m with the smoothed target action.
 *
 * Sparsifier hooks (docs/architecture.md §4): every iteration the `critic` group is updated
 * (`updateTwinCritics`); every `policyDelay`-th iteration the `actor` group (`stepGroup`), then
 * all three targets are Polyak-updated and `afterTargetUpdate(actor)`, `afterTargetUpdate(critic)`
 * follow (`polyakUpdateTargets`). Options and their defaults: `td3-options.ts`, README.md.
 */
export class Td3Agent implements Agent {
  readonly groups: readonly NetworkGroup[];
  readonly learningStarts: number;
  readonly costModel: AgentCostModel;
  private readonly actor: Mlp;
  private readonly actorTarget: Mlp;
  private readonly critics: readonly [Mlp, Mlp];
  private readonly criticTargets: readonly [Mlp, Mlp];
  private readonly actorGroup: NetworkGroup;
  private readonly criticGroup: NetworkGroup;
  private readonly sparsifier: SparsifierHooks;
  private readonly rng: Rng;
  private readonly obsDim: number;
  private readonly actDim: number;
  /** Gradient updates done (the TD3 iteration counter `it`). */
  private iterations = 0;
  // scratch buffers reused by update()
  private readonly criticInput: Float32Array;
  private readonly targetQ: Float32Array;
  private readonly gradQ: Float32Array;

  constructor(
    private readonly options: Td3Options,
    context: AgentContext,
  ) {
    const { engine, rng } = context;
    this.rng = rng;
    this.sparsifier = context.sparsifier;
    this.learningStarts = options.learningStarts;
    this.obsDim = context.observationSize;
    this.actDim = context.actionSpace.shape.reduce((a, b) => a * b, 1);
    const hidden = options.hiddenSizes;
    const actorSpec = (name: string) => ({
      name, layerSizes: [this.obsDim, ...hidden, this.actDim], hiddenActivation: 'relu', outputActivation: 'tanh',
    }) as const;
    this.actor = engine.createMlp(actorSpec('actor'));
    this.actorTarget = engine.createMlp(actorSpec('actorTarget'));
    const twin = createTwinCritics(engine, this.obsDim + this.actDim, hidden, { lr: options.criticLr, weightDecay: options.weightDecay });
    this.critics = twin.critics;
    this.criticTargets = twin.targets;
    const initRng = rng.fork('init');
    for (const net of [this.actor, ...this.critics]) initLinearDefault(net, initRng);

    const actorOptimizer = engine.createAdam(this.actor, { lr: options.actorLr, weightDecay: options.weightDecay });
    this.actorGroup = { name: 'actor', networks: [this.actor], targets: [this.actorTarget], optimizers: [actorOptimizer] };
    this.criticGroup = twin.group;
    this.groups = [this.actorGroup, this.criticGroup];

    // initial masks, then targets start as exact (masked) copies of the online networks
    this.sparsifier.initialize(this.groups, rng.fork('sparsifier'));
    copyToTargets(this.groups);

    const b = options.batchSize;
    this.criticInput = new Float32Array(b * (this.obsDim + this.actDim));
    this.targetQ = new Float32Array(b);
    this.gradQ = new Float32Array(b);
    this.costModel = { batchSize: b, actorUpdateInterval: options.policyDelay, criticsInActorLoss: 1, targetActor: true };
  }

  /** @inheritdoc @throws Error when nStep.n > 1 and the buffer cannot sample windows */
  checkReplayBuffer(buffer: ReplayBuffer): void {
    if (this.options.nStep) checkWindowsSupport('td3', this.options.nStep, buffer);
  }

  /**
   * @inheritdoc
   * @param observations `[n, obsDim]`
   * @returns `[n, actDim]` normalised actions in [−1, 1]: π(s), plus N(0, explorationNoise²) noise
   *   clipped to [−1, 1] unless `deterministic`
   */
  act(observations: Float32Array, n: number, deterministic: boolean): Float32Array {
    const a = this.actor.predict(observations, n);
    return deterministic ? a : this.explore(a);
  }

  /** @inheritdoc One actor pass: `mean` = π(s), `action` = π(s) plus the clipped exploration noise. */
  actWithMean(observations: Float32Array, n: number): { action: Float32Array; mean: Float32Array } {
    const mean = this.actor.predict(observations, n);
    return { action: this.explore(mean.slice()), mean };
  }

  /** a ← clip(a + N(0, explorationNoise²), −1, 1) in place (`[n, actDim]`). */
  private explore(a: Float32Array): Float32Array {
    const sigma = this.options.explorationNoise;
    for (let i = 0; i < a.length; i++) a[i] = clip(a[i] + sigma * this.rng.normal(), -1, 1);
    return a;
  }

  /**
   * @inheritdoc One TD3 iteration (Fujimoto et al. 2018, Alg. 1; github.com/sfujim/TD3 `TD3.train`).
   * @returns `losses/critic_loss`, and `losses/actor_loss` on actor iterations
   * @throws Error when the buffer is empty, or has too few transitions for (or no) windows once
   *   the n-step target is on
   */
  update(buffer: ReplayBuffer): Record<string, number> {
    const { batchSize: b, gamma, tau, policyNoise, noiseClip, policyDelay } = this.options;
    const { obsDim, actDim } = this;
    const ns = this.options.nStep;
    this.iterations++;
    // RLx2 [R-code]: n_cur = n if it ≥ delay_nstep, `it` the 1-based gradient iteration
    const n = ns && ns.n > 1 && this.iterations >= ns.delayIterations ? ns.n : 1;
    let batch: { observations: Float32Array; actions: Float32Array };
    let ret: Float64Array | Float32Array;
    let factor: Float64Array | null = null;
    let bootstrapObs: Float32Array;
    let terminated: Float32Array | null = null;
    if (n === 1) {
      const one = buffer.sample(b, this.rng);
      batch = one;
      ret = one.rewards;
      terminated = one.terminated;
      bootstrapObs = one.nextObservations;
    } else {
      if (!buffer.sampleWindows) throw new Error('agent.td3: nStep needs a replay buffer with sampleWindows');
      const w = buffer.sampleWindows(b, n, this.rng);
      batch = w;
      const t = nStepTarget(w, gamma);
      ret = t.partialReturn;
      factor = t.bootstrapFactor;
      bootstrapObs = gatherBootstrapStates(w, t.bootstrapSlot, obsDim, new Float32Array(b * obsDim));
    }

    // 1. TD target with target policy smoothing: y = r + γ(1 − terminated)·min(Q1', Q2')(s', a')
    //    (n-step: y = acc + alive·γ^{m+1}·min Q'(s'_m, a'))
    const nextAction = this.actorTarget.predict(bootstrapObs, b);
    for (let i = 0; i < nextAction.length; i++) {
      const noise = clip(policyNoise * this.rng.normal(), -noiseClip, noiseClip);
      nextAction[i] = clip(nextAction[i] + noise, -1, 1);
    }
    concatRows(bootstrapObs, obsDim, nextAction, actDim, b, this.criticInput);
    const q1Next = this.criticTargets[0].predict(this.criticInput, b);
    const q2Next = this.criticTargets[1].predict(this.criticInput, b);
    const y = this.targetQ;
    for (let i = 0; i < b; i++) {
      const f = factor ? factor[i] : gamma * (1 - terminated![i]);
      y[i] = ret[i] + f * Math.min(q1Next[i], q2Next[i]);
    }

    // 2. critic loss = MSE(Q1(s,a), y) + MSE(Q2(s,a), y)
    concatRows(batch.observations, obsDim, batch.actions, actDim, b, this.criticInput);
    const criticLoss = updateTwinCritics(this.criticGroup, this.sparsifier, this.criticInput, y, b, this.gradQ);
    const stats: Record<string, number> = { 'losses/critic_loss': criticLoss };
    if (this.iterations % policyDelay !== 0) return stats;

    // 3. delayed actor update: maximise Q1(s, π(s)); dL/da flows back through critic 1
    const action = this.actor.forward(batch.observations, b);
    concatRows(batch.observations, obsDim, action, actDim, b, this.criticInput);
    const q = this.critics[0].forward(this.criticInput, b);
    let actorLoss = 0;
    for (let i = 0; i < b; i++) actorLoss -= q[i] / b;
    this.gradQ.fill(-1 / b);
    const gradInput = this.critics[0].backward(this.gradQ, { inputGrad: true, paramGrad: false })!;
    const gradAction = new Float32Array(b * actDim);
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < actDim; j++) gradAction[i * actDim + j] = gradInput[i * (obsDim + actDim) + obsDim + j];
    }
    stepGroup(this.actorGroup, this.sparsifier, (denseGrad) => this.actor.backward(gradAction, { denseGrad }));

    // 4. Polyak updates of all three targets, then afterTargetUpdate(actor), afterTargetUpdate(critic)
    polyakUpdateTargets(this.groups, tau, this.sparsifier);
    stats['losses/actor_loss'] = actorLoss;
    return stats;
  }

  /** @inheritdoc The actor (its tanh output layer is the squash). */
  deterministicPolicy(): DeterministicPolicy {
    return { network: this.actor, outputOffset: 0, squash: 'none' };
  }

  /** @inheritdoc */
  state(): unknown {
    return { iterations: this.iterations, rng: this.rng.getState() };
  }

  /** @inheritdoc */
  loadState(state: unknown): void {
    const s = state as { iterations: number; rng: ReturnType<Rng['getState']> };
    this.iterations = s.iterations;
    this.rng.setState(s.rng);
  }
}

function clip(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
