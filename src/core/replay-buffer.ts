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
  /**
   * `[actDim]` the noise-free policy action at collection time, normalised to [-1, 1] (TD3 π(s),
   * SAC tanh(μ); the random action during warm-up). Optional: the trainer fills it only for
   * buffers that define `maybeShrink` (RLx2's dynamic-capacity buffer, docs/methods.md §1.b.9).
   */
  readonly actionMean?: Float32Array;
}

/**
 * `B` windows of `n` consecutive transitions of one environment (RLx2 multi-step TD target,
 * docs/methods.md §1.b.2–3); arrays are reused between `sampleWindows` calls.
 */
export interface TransitionWindows {
  readonly size: number;
  /** Window length n. */
  readonly n: number;
  /** `[B, obsDim]` s₀ of each window */
  readonly observations: Float32Array;
  /** `[B, actDim]` a₀ of each window (normalised, as stored) */
  readonly actions: Float32Array;
  /** `[B, n]` r_k */
  readonly rewards: Float32Array;
  /** `[B, n]` 1 where slot k ended its episode in a terminal state (nd_k = 0) */
  readonly terminated: Float32Array;
  /** `[B, n]` 1 where slot k ended its episode by a time limit (reset flag rf_k) */
  readonly truncated: Float32Array;
  /** `[B, n, obsDim]` s'_k of every slot */
  readonly nextObservations: Float32Array;
}

/** The policy a buffer may query: `[n, obsDim]` → `[n, actDim]` noise-free normalised actions. */
export type PolicyFn = (observations: Float32Array, n: number) => Float32Array;

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
  /**
   * Optional: samples `batchSize` windows of `n` consecutive transitions of the same env,
   * uniformly over the live windows (agents' `nStep` option needs it).
   * @throws Error when fewer than `n` transitions per env are stored
   */
  sampleWindows?(batchSize: number, n: number, rng: Rng): TransitionWindows;
  /**
   * Optional hook called by the trainer after every env step (`step` = env steps done so far);
   * a buffer may drop old data here (RLx2 dynamic capacity). `policy` gives the current
   * noise-free actions. @returns metrics to log (e.g. `buffer/size`), or nothing
   */
  maybeShrink?(step: number, policy: PolicyFn): Record<string, number> | void;
  /** Optional: the buffer's contents for a checkpoint (exact resume); without it a resumed run starts with an empty buffer. */
  snapshot?(): ReplayBufferSnapshot;
  /**
   * Optional: restores a `snapshot()` of a buffer with the same capacity and sizes.
   * @throws Error naming the array whose length does not match
   */
  restore?(snapshot: ReplayBufferSnapshot): void;
}

/**
 * A replay buffer's contents for a checkpoint: typed arrays (written to the checkpoint's
 * `replay-buffer.safetensors`) and JSON scalars (cursors, counters).
 */
export interface ReplayBufferSnapshot {
  readonly arrays: Readonly<Record<string, Float32Array | Uint8Array | Uint16Array | Uint32Array>>;
  readonly state: unknown;
}

/** What a replay buffer needs to know of the run. */
export interface ReplayBufferContext {
  readonly observationSize: number;
  readonly actionSize: number;
  /** Envs stepped together; consecutive transitions of one env are `numEnvs` slots apart. Default 1. */
  readonly numEnvs?: number;
}

/** DI token of the run's `ReplayBuffer` (bound by the replay-buffer plugin). */
export const ReplayBuffer = Symbol.for('sparse-rl.ReplayBuffer');
/** DI token of the run's `ReplayBufferContext` (bound by the host from the environment spec). */
export const ReplayBufferContext = Symbol.for('sparse-rl.ReplayBufferContext');
