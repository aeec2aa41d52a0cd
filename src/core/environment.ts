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

/** A Gymnasium `MultiDiscrete` space: per entry `start[i] <= x < start[i] + nvec[i]`. */
export interface MultiDiscreteSpace {
  readonly type: 'multi-discrete';
  readonly shape: readonly number[];
  /** `prod(shape)` entries, C order. */
  readonly nvec: readonly number[];
  /** `prod(shape)` entries, C order. */
  readonly start: readonly number[];
}

/** A Gymnasium `MultiBinary` space (entries 0 or 1). */
export interface MultiBinarySpace {
  readonly type: 'multi-binary';
  readonly shape: readonly number[];
}

/** A Gymnasium `Dict` space (observations only), children in Gymnasium's flatten order. */
export interface DictSpace {
  readonly type: 'dict';
  readonly spaces: readonly { readonly key: string; readonly space: Space }[];
}

/** A Gymnasium `Tuple` space (observations only). */
export interface TupleSpace {
  readonly type: 'tuple';
  readonly spaces: readonly Space[];
}

/**
 * A space as the environment reports it. Every element travels as one flat float vector of
 * {@link flatSize} entries: Box values (C order), a Discrete value (1 entry), MultiDiscrete /
 * MultiBinary values (C order), and for Dict / Tuple Gymnasium's `flatten` layout (children
 * concatenated in order; nested Discrete / MultiDiscrete one-hot).
 */
export type Space = BoxSpace | DiscreteSpace | MultiDiscreteSpace | MultiBinarySpace | DictSpace | TupleSpace;

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

/**
 * What `Environment.saveState` captured: either an opaque payload that `restoreState` turns back
 * into the same vector env mid-episode (bit-for-bit: simulator state, every env's RNG, time-limit
 * counters, episode statistics, pending autoresets), or the reason it cannot.
 */
export type EnvironmentSnapshot =
  | { readonly restorable: true; readonly payload: Uint8Array }
  | { readonly restorable: false; readonly reason: string };

/** One restart of an environment after a crash (`restartOnCrash`). */
export interface EnvironmentRestart {
  /** 1 for the first restart. */
  readonly count: number;
  /** The seed the new envs were reset with (env `i` gets `seed + i`), derived from the run seed and `count`. */
  readonly seed: number | null;
  /** What failed (the transport error's message). */
  readonly reason: string;
  /** ISO time of the restart. */
  readonly at: string;
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
  /**
   * Optional: captures the state of every env between two steps (for exact resume from a
   * checkpoint). An env that cannot be captured answers `{ restorable: false, reason }`.
   * @throws EnvironmentError when the environment failed
   */
  saveState?(): Promise<EnvironmentSnapshot>;
  /**
   * Optional: restores a payload of `saveState` from an env of the same id, kwargs and `numEnvs`.
   * @returns the current observations `[numEnvs, obsDim]`
   * @throws EnvironmentError naming what does not match
   */
  restoreState?(payload: Uint8Array): Promise<Float32Array>;
  /** Optional: `listener` is called after each restart (`restartOnCrash`); the trainer logs `env/restarts`. */
  onRestart?(listener: (restart: EnvironmentRestart) => void): void;
}

/** Which of a run's environments a factory call is for. */
export type EnvironmentRole = 'train' | 'eval';

/**
 * Creates and starts an environment. The trainer asks for one `train` and one `eval`
 * environment per run (separate processes, disjoint seeds).
 */
export type EnvironmentFactory = (role: EnvironmentRole) => Promise<Environment>;

/** DI token of the `EnvironmentFactory` (bound by the environment plugin). */
export const EnvironmentFactory = Symbol.for('sparse-rl.EnvironmentFactory');

/** DI tokens of the run's started training and evaluation environments (bound by the host from the factory). */
export const TrainEnvironment = Symbol.for('sparse-rl.TrainEnvironment');
export const EvalEnvironment = Symbol.for('sparse-rl.EvalEnvironment');

/** The spaces of the run's training environment: what agents and replay buffers are sized by. */
export interface EnvironmentSpec {
  readonly envId: string;
  readonly observationSpace: Space;
  readonly actionSpace: Space;
  /** `flatSize(observationSpace)`. */
  readonly observationSize: number;
  /** `flatSize(actionSpace)`. */
  readonly actionSize: number;
  /** Envs stepped together by the training environment. */
  readonly numEnvs: number;
}

/** DI token of the run's `EnvironmentSpec` (bound by the host). */
export const EnvironmentSpec = Symbol.for('sparse-rl.EnvironmentSpec');

/** The `EnvironmentSpec` of a started environment. */
export function environmentSpec(env: Environment): EnvironmentSpec {
  return environmentSpecOf(env.info.envId, env.observationSpace, env.actionSpace, env.numEnvs);
}

/** The `EnvironmentSpec` of spaces recorded earlier (a run's `metadata.json` `environment`), without an environment. */
export function environmentSpecOf(envId: string, observationSpace: Space, actionSpace: Space, numEnvs: number): EnvironmentSpec {
  return { envId, observationSpace, actionSpace, observationSize: flatSize(observationSpace), actionSize: flatSize(actionSpace), numEnvs };
}

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

const prod = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Length of `gymnasium.spaces.flatdim(space)`: one-hot for (Multi)Discrete. */
function gymnasiumFlatDim(space: Space): number {
  switch (space.type) {
    case 'discrete':
      return space.n;
    case 'multi-discrete':
      return space.nvec.reduce((a, b) => a + b, 0);
    case 'dict':
      return space.spaces.reduce((a, c) => a + gymnasiumFlatDim(c.space), 0);
    case 'tuple':
      return space.spaces.reduce((a, c) => a + gymnasiumFlatDim(c), 0);
    default:
      return prod(space.shape);
  }
}

/**
 * Flattened size of a space as a float vector: Box / MultiDiscrete / MultiBinary `prod(shape)`;
 * Discrete 1 (the value); Dict / Tuple `gymnasium.spaces.flatdim` (nested Discrete `n`,
 * MultiDiscrete `sum(nvec)`, Box / MultiBinary `prod(shape)`).
 */
export function flatSize(space: Space): number {
  switch (space.type) {
    case 'discrete':
      return 1;
    case 'dict':
    case 'tuple':
      return gymnasiumFlatDim(space);
    default:
      return prod(space.shape);
  }
}
