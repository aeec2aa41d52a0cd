/**
 * The `Environment` extension point: a vector of `numEnvs` copies of one task, stepped together
 * with Gymnasium semantics (`terminated` and `truncated` kept apart, same-step autoreset).
 */

/** A Gymnasium `Box` space; `low`/`high` may hold ±Infinity. */
export interface BoxSpace {
  readonly type: 'box';
  readonly shape: readonly number[];
  readonly dtype: string;
  /** Flattened bounds, `prod(shape)` entries each. */
  readonly low: readonly number[];
  readonly high: readonly number[];
}

/** A Gymnasium `Discrete` space with `n` actions starting at `start`. */
export interface DiscreteSpace {
  readonly type: 'discrete';
  readonly n: number;
  readonly start: number;
}

export type Space = BoxSpace | DiscreteSpace;

/** Statistics of an episode that just ended (return in reward units, length in steps). */
export interface EpisodeStatistics {
  readonly return: number;
  readonly length: number;
}

/** The result of one vectorized step. */
export interface StepResult {
  /**
   * `[numEnvs, obsDim]` float32. For an env whose episode ended at this step (same-step
   * autoreset) this is already the first observation of its next episode; the last
   * observation of the finished episode is in `finalObservations`.
   */
  readonly observations: Float32Array;
  /** `[numEnvs]` rewards. */
  readonly rewards: Float64Array;
  /** `[numEnvs]` 1 where the episode reached a terminal state of the MDP. */
  readonly terminated: Uint8Array;
  /** `[numEnvs]` 1 where the episode was cut (time limit); such transitions still bootstrap. */
  readonly truncated: Uint8Array;
  /** Per env: the final observation `[obsDim]` when that env's episode ended, else `null`. */
  readonly finalObservations: readonly (Float32Array | null)[];
  /** Per env: statistics of the episode that ended at this step, else `null`. */
  readonly episodes: readonly (EpisodeStatistics | null)[];
}

/** Versions and facts the environment reports at start-up (stored in run metadata). */
export interface EnvironmentInfo {
  readonly envId: string;
  readonly maxEpisodeSteps: number | null;
  /** e.g. `{ bridge: '0.1.0', python: '3.11.7', gymnasium: '1.2.0', mujoco: '3.3.0' }` */
  readonly versions: Readonly<Record<string, string>>;
}

/** A started vector environment. */
export interface Environment {
  readonly numEnvs: number;
  readonly observationSpace: Space;
  readonly actionSpace: Space;
  readonly info: EnvironmentInfo;
  /**
   * Resets every env. Env `i` is seeded with `seed + i` when `seed` is given.
   * @returns observations `[numEnvs, obsDim]` float32
   */
  reset(seed?: number): Promise<Float32Array>;
  /**
   * Steps every env with `actions` `[numEnvs, actDim]` (float32, in the action space's units).
   * @throws EnvironmentError when the env raised (Gymnasium's message and traceback included)
   *   or the environment process died or missed its deadline.
   */
  step(actions: Float32Array): Promise<StepResult>;
  /** Stops the environment and frees its process; safe to call twice. */
  close(): Promise<void>;
}

/** Which of a run's environments a factory call is for. */
export type EnvironmentRole = 'train' | 'eval';

/**
 * Creates and starts an environment. The trainer asks for one `train` and one `eval`
 * environment per run (separate processes, disjoint seeds).
 */
export type EnvironmentFactory = (role: EnvironmentRole) => Promise<Environment>;

/** DI token of the `EnvironmentFactory`. */
export const EnvironmentFactory = Symbol.for('sparse-rl.EnvironmentFactory');

/** An error raised by or about an environment; `remoteTraceback` / `stderrTail` when known. */
export class EnvironmentError extends Error {
  constructor(
    message: string,
    readonly details: {
      readonly exceptionType?: string;
      readonly remoteTraceback?: string;
      readonly stderrTail?: string;
      readonly envIndex?: number;
    } = {},
  ) {
    super(message);
    this.name = 'EnvironmentError';
  }
}

/** Flattened size of a space as a float vector (Box: prod(shape); Discrete: 1). */
export function flatSize(space: Space): number {
  return space.type === 'box' ? space.shape.reduce((a, b) => a * b, 1) : 1;
}
