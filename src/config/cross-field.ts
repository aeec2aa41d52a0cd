import { constants as bufferConstants } from 'node:buffer';
import { availableParallelism, freemem, totalmem } from 'node:os';
import type { ExperimentConfig, PluginSection } from './experiment-config.js';
import type { ConfigIssue } from './validate.js';

/**
 * Cross-field rules of a schema-valid config: what one field's JSON Schema cannot say because it
 * depends on another field, on the machine, or on the environment's sizes. They run after the
 * schema (on the config with its defaults) in `loadConfig` and `sparse-rl validate`, so that a
 * config that cannot run fails before anything starts; the trainer runs the environment-dependent
 * ones again once the env has started (`startedEnvironmentIssues`) with the real sizes.
 *
 * Rules (each issue names the JSON path to change; `related` the other paths the rule read):
 *
 * | path | level | rule |
 * |------|-------|------|
 * | `agent.learningStarts` | error | < `totalSteps` (td3, sac), else the run is all random warm-up |
 * | `agent.batchSize` | error | <= `replayBuffer.capacity` (td3, sac with uniform, dynamic-capacity) |
 * | `evaluation.seedOffset` | error | >= `environment.numEnvs` (gymnasium, or the started env), so eval and train seeds are disjoint |
 * | `environment.numEnvs` | error | <= {@link MAX_ASYNC_ENVS} with `vectorization: "async"` (one worker process per env) |
 * | `environment.numEnvs` | warning | <= this machine's cores with `vectorization: "async"` (not with `remote`) |
 * | `replayBuffer.capacity` | error | the buffer's bytes (estimate) <= this machine's total memory, and every storage array <= the largest Float32Array |
 * | `replayBuffer.capacity` | warning | the buffer's bytes (twice that while a checkpoint copies it) <= the memory free now |
 * | `replayBuffer.minSize` | warning | < `replayBuffer.capacity` (dynamic-capacity), else it never shrinks |
 *
 * Rules that read a plugin's options apply to the plugin types named above only; the sections of
 * other (external) plugins are not read.
 */

/** What a cross-field check found: errors (the config cannot run) and warnings (it may run badly). */
export interface CrossFieldResult {
  readonly errors: ConfigIssue[];
  readonly warnings: ConfigIssue[];
}

/** Facts about this machine the rules compare the config with. */
export interface MachineFacts {
  /** Bytes of memory the process may use: `os.totalmem()`, or the cgroup limit when lower (`process.constrainedMemory()`). */
  readonly totalMemory: number;
  /** Bytes available now (`os.freemem()`: `MemAvailable` on Linux). */
  readonly freeMemory: number;
  /** CPU cores this process may use (`os.availableParallelism()`). */
  readonly cores: number;
  /** Most elements of one Float32Array in this Node.js (`buffer.constants.MAX_LENGTH`: 2^32 on Node.js 20). */
  readonly maxTypedArrayLength: number;
}

/** Flat observation and action sizes (float32 elements per transition) of an environment. */
export interface EnvironmentSizes {
  readonly observationSize: number;
  readonly actionSize: number;
}

/** Facts the rules use instead of their validate-time estimates; every field optional. */
export interface CrossFieldFacts {
  /** The started environment's real sizes (else {@link estimateEnvironmentSizes}). */
  readonly sizes?: EnvironmentSizes;
  /** The started training environment's `numEnvs` (else `environment.numEnvs` of gymnasium). */
  readonly numEnvs?: number;
  /** Overrides of {@link machineFacts} (tests; a remote host). */
  readonly machine?: Partial<MachineFacts>;
}

/**
 * Most `numEnvs` with `vectorization: "async"`: each env is a Gymnasium AsyncVectorEnv worker
 * process (≈ 64 MiB resident each with MuJoCo loaded, measured for Humanoid-v5, plus pipes), and
 * every step waits for all of them; 256 workers already take ≈ 16 GiB and need 256 cores to pay
 * off (the native engine's `runtime.threads` has the same ceiling). A larger number is almost
 * always a typo, which would otherwise be found only after spawning that many processes.
 */
export const MAX_ASYNC_ENVS = 256;

/**
 * Flat observation / action sizes of Gymnasium's MuJoCo v5 tasks with their default kwargs
 * (checked with gymnasium 1.2.3: `gym.make(id).observation_space.shape`, `.action_space.shape`).
 * Some kwargs change them, e.g. Ant-v5 `include_cfrc_ext_in_observation: false` gives 27
 * observations, `exclude_current_positions_from_observation: false` 107.
 */
export const MUJOCO_V5_SIZES: Readonly<Record<string, EnvironmentSizes>> = Object.freeze({
  'HalfCheetah-v5': { observationSize: 17, actionSize: 6 },
  'Hopper-v5': { observationSize: 11, actionSize: 3 },
  'Walker2d-v5': { observationSize: 17, actionSize: 6 },
  'Ant-v5': { observationSize: 105, actionSize: 8 },
  'Humanoid-v5': { observationSize: 348, actionSize: 17 },
  'HumanoidStandup-v5': { observationSize: 348, actionSize: 17 },
  'InvertedPendulum-v5': { observationSize: 4, actionSize: 1 },
  'InvertedDoublePendulum-v5': { observationSize: 9, actionSize: 1 },
  'Reacher-v5': { observationSize: 10, actionSize: 2 },
  'Swimmer-v5': { observationSize: 8, actionSize: 2 },
  'Pusher-v5': { observationSize: 23, actionSize: 7 },
});

/** Gymnasium MuJoCo kwargs that leave the spaces unchanged (reward weights, noise, ranges, rendering). */
const SHAPE_NEUTRAL_KWARG = /(_weight|_scale|_range|_reward|_cost)$|^(render_mode|width|height|camera_id|camera_name|default_camera_config|frame_skip|max_episode_steps|terminate_when_unhealthy|main_body|visual_options)$/;

/** This machine's {@link MachineFacts}, read now. */
export function machineFacts(): MachineFacts {
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  const total = totalmem();
  return {
    totalMemory: constrained > 0 && constrained < total ? constrained : total,
    freeMemory: freemem(),
    cores: availableParallelism(),
    maxTypedArrayLength: Math.min(bufferConstants.MAX_LENGTH, Math.floor(Number.MAX_SAFE_INTEGER / 4)),
  };
}

/**
 * The sizes the replay-memory rule assumes before the environment runs: the
 * {@link MUJOCO_V5_SIZES} entry of a `gymnasium` env with shape-neutral kwargs, else the lower
 * bound obs 1, act 1 (`exact: false`).
 * @returns the sizes and how they were found, for messages (`HalfCheetah-v5 (obs 17, act 6)`)
 */
export function estimateEnvironmentSizes(environment: PluginSection): EnvironmentSizes & { readonly exact: boolean; readonly description: string } {
  const id = typeof environment.id === 'string' ? environment.id : `a ${environment.type} environment`;
  if (environment.type === 'gymnasium') {
    const known = Object.hasOwn(MUJOCO_V5_SIZES, id) ? MUJOCO_V5_SIZES[id] : undefined;
    const kwargs = Object.keys((environment.kwargs as Record<string, unknown> | undefined) ?? {}).filter((k) => !SHAPE_NEUTRAL_KWARG.test(k));
    if (known && kwargs.length === 0) return { ...known, exact: true, description: `${id} (obs ${known.observationSize}, act ${known.actionSize})` };
    if (known) {
      return { observationSize: 1, actionSize: 1, exact: false, description: `${id} with environment.kwargs ${kwargs.join(', ')} (obs ≥ 1, act ≥ 1: a lower bound, as these kwargs may change the sizes)` };
    }
  }
  return { observationSize: 1, actionSize: 1, exact: false, description: `${id} (obs ≥ 1, act ≥ 1: a lower bound, its sizes are known only once it runs)` };
}

/**
 * Bytes per stored transition of the built-in replay buffers (float32 storage of
 * `src/rl/fifo-replay-buffer.ts`): `uniform` `(2·obs + act + 3)·4`; `dynamic-capacity` also keeps
 * each transition's `actionMean`, `(2·obs + 2·act + 3)·4`.
 * @returns undefined for other buffer types (their storage is unknown)
 */
export function replayBytesPerTransition(bufferType: string, sizes: EnvironmentSizes): number | undefined {
  const { observationSize: o, actionSize: a } = sizes;
  if (bufferType === 'uniform') return (2 * o + a + 3) * 4;
  if (bufferType === 'dynamic-capacity') return (2 * o + 2 * a + 3) * 4;
  return undefined;
}

/** `1e12` for round large numbers, else the digits (`1234567`). */
function count(n: number): string {
  const e = n.toExponential().replace('e+', 'e');
  return e.length < String(n).length ? e : String(n);
}

/** 3 significant digits, exponent form from 1e6 on (`1.72e14`). */
function approx(n: number): string {
  return n < 1e6 ? String(Math.round(n)) : n.toPrecision(3).replace('e+', 'e');
}

/** Binary units with 3 significant digits: `156 TiB`, `23.5 GiB`, `512 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number(v.toPrecision(3))} ${units[u]}`;
}

function machine(partial?: Partial<MachineFacts>): MachineFacts {
  const defined = Object.fromEntries(Object.entries(partial ?? {}).filter(([, v]) => v !== undefined));
  return { ...machineFacts(), ...defined };
}

/**
 * The replay-memory rule alone: the buffer's storage, `capacity × bytes per transition`, against
 * this machine's memory, and its largest array against the largest Float32Array (what otherwise
 * fails as a bare `Invalid typed array length` or an out-of-memory kill). Errors and warnings
 * name `replayBuffer.capacity` with the estimate in bytes.
 * @param sizes the environment's real sizes (after it started); default {@link estimateEnvironmentSizes}
 * @param facts this machine's facts; default {@link machineFacts}
 * @returns nothing for buffer types other than `uniform` and `dynamic-capacity`
 */
export function replayMemoryIssues(config: ExperimentConfig, sizes?: EnvironmentSizes, facts?: Partial<MachineFacts>): CrossFieldResult {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const buffer = config.replayBuffer;
  const capacity = buffer.capacity;
  if (typeof capacity !== 'number') return { errors, warnings };
  const est = sizes
    ? { ...sizes, exact: true, description: `${typeof config.environment.id === 'string' ? config.environment.id : config.environment.type} (obs ${sizes.observationSize}, act ${sizes.actionSize})` }
    : estimateEnvironmentSizes(config.environment);
  const perTransition = replayBytesPerTransition(buffer.type, est);
  if (perTransition === undefined) return { errors, warnings };
  const m = machine(facts);
  const bytes = capacity * perTransition;
  const needs = `${count(capacity)} transitions need ≈ ${approx(bytes)} bytes (${formatBytes(bytes)}) for ${est.description}, ${perTransition} bytes per transition in a ${buffer.type} buffer`;
  const related = ['environment.id', 'environment.kwargs', 'replayBuffer.type'];
  // the largest storage arrays: obs / nextObs [C, O] and act (actMean) [C, A]
  const widest = Math.max(est.observationSize, est.actionSize);
  if (capacity * widest > m.maxTypedArrayLength) {
    errors.push({
      path: 'replayBuffer.capacity',
      message:
        `${count(capacity)} transitions need Float32Arrays of capacity × ${widest} = ${approx(capacity * widest)} elements for ${est.description}, ` +
        `more than the ${m.maxTypedArrayLength} one array can hold in Node.js ${process.version}; at most ${Math.floor(m.maxTypedArrayLength / widest)} transitions fit`,
      value: capacity,
      related,
    });
  }
  if (bytes > m.totalMemory) {
    errors.push({
      path: 'replayBuffer.capacity',
      message: `${needs}: more than this machine's ${formatBytes(m.totalMemory)} of memory; at most ≈ ${approx(Math.floor(m.totalMemory / perTransition))} transitions fit`,
      value: capacity,
      related,
    });
  } else {
    const copy = config.checkpoint.replayBuffer;
    const peak = copy ? 2 * bytes : bytes;
    if (peak > m.freeMemory) {
      warnings.push({
        path: 'replayBuffer.capacity',
        message:
          `${needs}${copy ? ', and as much again while a checkpoint copies it (checkpoint.replayBuffer)' : ''}: ` +
          `more than the ${formatBytes(m.freeMemory)} free now (of ${formatBytes(m.totalMemory)}); the run may swap or be killed when the buffer fills`,
        value: capacity,
        related: copy ? [...related, 'checkpoint.replayBuffer'] : related,
      });
    }
  }
  return { errors, warnings };
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const KNOWN_AGENTS = new Set(['td3', 'sac']);
const KNOWN_BUFFERS = new Set(['uniform', 'dynamic-capacity']);

function seedOffsetIssue(config: ExperimentConfig, numEnvs: number | undefined, started: boolean): ConfigIssue | undefined {
  const offset = config.evaluation.seedOffset;
  if (numEnvs === undefined || offset >= numEnvs) return undefined;
  return {
    path: 'evaluation.seedOffset',
    message:
      `must be >= environment.numEnvs (${numEnvs}${started ? ', of the started environment' : ''}): the training envs are seeded seed + 0 … seed + ${numEnvs - 1} ` +
      `and the evaluation env seed + seedOffset, which would repeat a training seed`,
    value: offset,
    related: ['environment.numEnvs'],
  };
}

/**
 * Every cross-field rule (table above) on a schema-valid config (defaults applied).
 * @param facts real environment sizes / numEnvs once known, and machine facts (default: this machine, now)
 * @returns errors (the run cannot work: `loadConfig` throws them as a ConfigError) and warnings (print them)
 */
export function crossFieldIssues(config: ExperimentConfig, facts: CrossFieldFacts = {}): CrossFieldResult {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const m = machine(facts.machine);
  const { agent, environment: env, replayBuffer: buffer } = config;

  if (KNOWN_AGENTS.has(agent.type) && isInt(agent.learningStarts) && agent.learningStarts >= config.totalSteps) {
    errors.push({
      path: 'agent.learningStarts',
      message: `must be < totalSteps (${config.totalSteps}): the agent acts uniformly at random for its first learningStarts env steps and would never learn`,
      value: agent.learningStarts,
      related: ['totalSteps'],
    });
  }

  if (KNOWN_AGENTS.has(agent.type) && KNOWN_BUFFERS.has(buffer.type) && isInt(agent.batchSize) && isInt(buffer.capacity) && agent.batchSize > buffer.capacity) {
    errors.push({
      path: 'agent.batchSize',
      message: `must be <= replayBuffer.capacity (${buffer.capacity}): every minibatch would repeat stored transitions`,
      value: agent.batchSize,
      related: ['replayBuffer.capacity'],
    });
  }

  const gym = env.type === 'gymnasium';
  const numEnvs = facts.numEnvs ?? (gym && isInt(env.numEnvs) ? env.numEnvs : undefined);
  const seed = seedOffsetIssue(config, numEnvs, facts.numEnvs !== undefined);
  if (seed) errors.push(seed);

  if (gym && env.vectorization === 'async' && isInt(env.numEnvs)) {
    if (env.numEnvs > MAX_ASYNC_ENVS) {
      errors.push({
        path: 'environment.numEnvs',
        message:
          `must be <= ${MAX_ASYNC_ENVS} with vectorization "async": each env is a worker process (≈ 64 MiB each with MuJoCo) and every step waits for all of them; ` +
          `use fewer envs, or vectorization "sync"`,
        value: env.numEnvs,
        related: ['environment.vectorization'],
      });
    } else if (env.remote === undefined && env.numEnvs > m.cores) {
      warnings.push({
        path: 'environment.numEnvs',
        message:
          `${env.numEnvs} async worker processes on the ${m.cores} core(s) of this machine: the workers compete for the cores and each step waits for the slowest; ` +
          `numEnvs <= ${m.cores} or vectorization "sync" is usually faster`,
        value: env.numEnvs,
        related: ['environment.vectorization'],
      });
    }
  }

  if (buffer.type === 'dynamic-capacity' && isInt(buffer.minSize) && isInt(buffer.capacity) && buffer.minSize >= buffer.capacity) {
    warnings.push({
      path: 'replayBuffer.minSize',
      message: `is >= replayBuffer.capacity (${buffer.capacity}): the buffer never shrinks, so it acts as a uniform buffer`,
      value: buffer.minSize,
      related: ['replayBuffer.capacity'],
    });
  }

  const memory = replayMemoryIssues(config, facts.sizes, m);
  errors.push(...memory.errors);
  warnings.push(...memory.warnings);
  return { errors, warnings };
}

/**
 * The rules that depend on the environment, re-run by the trainer with the started training
 * environment's real sizes and `numEnvs` (`environmentSpec(env)` fits): replay memory and
 * `evaluation.seedOffset`. Same messages as at validate time, with exact sizes.
 * @returns errors (throw them as a ConfigError before building the replay buffer) and warnings
 */
export function startedEnvironmentIssues(config: ExperimentConfig, env: EnvironmentSizes & { readonly numEnvs: number }, facts?: Partial<MachineFacts>): CrossFieldResult {
  const memory = replayMemoryIssues(config, { observationSize: env.observationSize, actionSize: env.actionSize }, facts);
  const seed = seedOffsetIssue(config, env.numEnvs, true);
  return { errors: [...(seed ? [seed] : []), ...memory.errors], warnings: memory.warnings };
}
