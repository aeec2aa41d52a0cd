import type { Engine, Mlp } from '../nn/engine.js';
import type { Rng } from '../util/rng.js';
import type { BoxSpace } from './environment.js';
import type { NetworkGroup } from './network-group.js';
import type { ReplayBuffer } from './replay-buffer.js';
import type { SparsifierHooks } from './sparsifier.js';

/**
 * What an agent needs to know of the run to build its networks; the host binds it to the
 * `AgentContext` token (inject it in the agent's `toResolvedValue`).
 */
export interface AgentContext {
  readonly observationSize: number;
  /** Continuous action space; actions are produced in its units. */
  readonly actionSpace: BoxSpace;
  readonly engine: Engine;
  /** The run's sparsifier, optional hooks filled with their defaults. */
  readonly sparsifier: SparsifierHooks;
  /** Stream for initialisation, exploration and target-policy noise, derived from the run seed. */
  readonly rng: Rng;
}

/** The `Agent` extension point (an off-policy actor-critic learner). */
export interface Agent {
  /** Network groups, for the sparsifier, checkpoints and metrics. */
  readonly groups: readonly NetworkGroup[];
  /** Env steps of uniform random actions before learning starts. */
  readonly learningStarts: number;
  /**
   * Actions for a batch of observations.
   * @param observations `[n, obsDim]`
   * @param deterministic true for evaluation (no exploration noise)
   * @returns `[n, actDim]` in action-space units, clipped to its bounds
   */
  act(observations: Float32Array, n: number, deterministic: boolean): Float32Array;
  /**
   * Optional: the exploration actions and the noise-free actions of the same observations from
   * one actor pass (what a replay buffer with `maybeShrink` stores per transition). Must equal
   * `{ action: act(obs, n, false), mean: act(obs, n, true) }` made in that order, drawing the
   * same random numbers; without it the rollout makes those two calls.
   * @param observations `[n, obsDim]`
   * @returns `action` and `mean`, each `[n, actDim]` normalised to [−1, 1]
   */
  actWithMean?(observations: Float32Array, n: number): { action: Float32Array; mean: Float32Array };
  /**
   * One gradient update from the replay buffer.
   * @returns scalar training statistics (`losses/*` metric keys)
   */
  update(buffer: ReplayBuffer): Record<string, number>;
  /**
   * Optional start-up check of the run's replay buffer (called once by the trainer before any
   * step). @throws Error when the agent's options need a buffer feature it lacks (e.g. nStep > 1
   * without `sampleWindows`)
   */
  checkReplayBuffer?(buffer: ReplayBuffer): void;
  /** Optional description of one gradient iteration, for FLOPs accounting (`src/sparse/flops.ts`). */
  readonly costModel?: AgentCostModel;
  /** Optional: the deterministic policy as one network (what `sparse-rl export` writes). */
  deterministicPolicy?(): DeterministicPolicy;
  /** JSON-serialisable scalar state (update counters, RNG); tensors live in `groups`. */
  state(): unknown;
  loadState(state: unknown): void;
}

/**
 * The agent's deterministic policy as a network, for export (`sparse-rl export`): the normalised
 * action `[actDim]` in [−1, 1] is `squash(network(obs)[outputOffset … outputOffset + actDim))`
 * (TD3: the actor, whose output layer is tanh, `squash: 'none'`; SAC: the mean half of the
 * actor's output, `squash: 'tanh'`). Must equal `act(obs, n, true)`.
 */
export interface DeterministicPolicy {
  readonly network: Mlp;
  readonly outputOffset: number;
  readonly squash: 'none' | 'tanh';
}

/** What one gradient iteration of an actor-critic agent computes (for `flops/*`). */
export interface AgentCostModel {
  /** Minibatch size B. */
  readonly batchSize: number;
  /** Iterations per actor update (TD3 policy delay d; SAC 1). */
  readonly actorUpdateInterval: number;
  /** Critic heads the actor loss back-propagates through (TD3 1: Q1; SAC 2: min(Q1, Q2)). */
  readonly criticsInActorLoss: number;
  /** Whether the TD target evaluates the target actor (TD3) or the online actor (SAC). */
  readonly targetActor: boolean;
}

/** DI token of the run's `Agent` (bound by the agent plugin). */
export const Agent = Symbol.for('sparse-rl.Agent');
/** DI token of the run's `AgentContext` (bound by the host: engine, env spaces, sparsifier, the `agent` RNG stream). */
export const AgentContext = Symbol.for('sparse-rl.AgentContext');
