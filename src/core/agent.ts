import type { Engine } from '../nn/engine.js';
import type { Rng } from '../util/rng.js';
import type { BoxSpace } from './environment.js';
import type { NetworkGroup } from './network-group.js';
import type { ReplayBuffer } from './replay-buffer.js';
import type { Sparsifier } from './sparsifier.js';

/** What an agent needs to know of the run to build its networks. */
export interface AgentContext {
  readonly observationSize: number;
  /** Continuous action space; actions are produced in its units. */
  readonly actionSpace: BoxSpace;
  readonly engine: Engine;
  readonly sparsifier: Sparsifier;
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
   * One gradient update from the replay buffer.
   * @returns scalar training statistics (`losses/*` metric keys)
   */
  update(buffer: ReplayBuffer): Record<string, number>;
  /** JSON-serialisable scalar state (update counters, RNG); tensors live in `groups`. */
  state(): unknown;
  loadState(state: unknown): void;
}

/** Builds the run's agent once the environment's spaces are known. */
export type AgentFactory = (context: AgentContext) => Agent;
/** DI token of the `AgentFactory`. */
export const AgentFactory = Symbol.for('sparse-rl.AgentFactory');
