import type { Rng } from '../util/rng.js';

/** A sampled minibatch; arrays are reused between `sample` calls. */
export interface TransitionBatch {
  readonly size: number;
  /** `[B, obsDim]` */
  readonly observations: Float32Array;
  /** `[B, actDim]` executed actions (env units) */
  readonly actions: Float32Array;
  /** `[B]` */
  readonly rewards: Float32Array;
  /** `[B, obsDim]` the observation after the action (the final observation at episode ends) */
  readonly nextObservations: Float32Array;
  /** `[B]` 1 where `nextObservations` is terminal (no bootstrap) */
  readonly terminated: Float32Array;
  /** `[B]` 1 where the episode was cut by a time limit (still bootstraps) */
  readonly truncated: Float32Array;
}

/** One environment transition `(s, a, r, s', terminated, truncated)`. */
export interface Transition {
  readonly observation: Float32Array;
  readonly action: Float32Array;
  readonly reward: number;
  readonly nextObservation: Float32Array;
  readonly terminated: boolean;
  readonly truncated: boolean;
}

/** The `ReplayBuffer` extension point. */
export interface ReplayBuffer {
  readonly capacity: number;
  /** Number of stored transitions. */
  readonly size: number;
  /** Stores a transition (copies the arrays). */
  add(transition: Transition): void;
  /**
   * Samples `batchSize` transitions.
   * @throws Error when the buffer is empty
   */
  sample(batchSize: number, rng: Rng): TransitionBatch;
}

/** What a replay buffer needs to know of the run. */
export interface ReplayBufferContext {
  readonly observationSize: number;
  readonly actionSize: number;
}

/** Builds the run's replay buffer once the environment's dimensions are known. */
export type ReplayBufferFactory = (context: ReplayBufferContext) => ReplayBuffer;
/** DI token of the `ReplayBufferFactory`. */
export const ReplayBufferFactory = Symbol.for('sparse-rl.ReplayBufferFactory');
