/**
 * Options of the `environment.gymnasium` plugin: the TypeScript interface, its JSON Schema, and
 * how they become the start options of the training and evaluation environments.
 */
import { resolve } from 'node:path';
import type { EnvironmentRole, ExperimentConfig, JsonSchema } from '../../src/index.js';
import type { RemoteBridgeOptions } from './bridge-session.js';
import type { LocalTransport } from './bridge-transport.js';
import type { GymnasiumEnvironmentOptions } from './gymnasium-environment.js';
import type { Vectorization } from './protocol.js';

/** Options of `environment.gymnasium`. */
export interface GymnasiumOptions {
  readonly id: string;
  readonly kwargs: Record<string, unknown>;
  readonly numEnvs: number;
  /** `sync` (envs stepped in order in the bridge process) or `async` (Gymnasium AsyncVectorEnv workers). */
  readonly vectorization: Vectorization;
  readonly python?: string;
  readonly startTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** The bridge exits after this many seconds without a request (0 = never). */
  readonly idleTimeoutS: number;
  /** Respawn a crashed bridge (reset, log the lost episodes, continue) at most this many times; 0 = fail the run. */
  readonly restartOnCrash: boolean;
  readonly maxRestarts: number;
  /** Local transport to the spawned bridge (`ipc` when unset; see `BridgeSessionOptions.transport`). */
  readonly transport?: LocalTransport;
  /** Connect to `sparse-rl-bridge serve` instead of spawning a bridge. */
  readonly remote?: RemoteBridgeOptions;
  /** Record every evaluation episode to MP4 (the evaluation env only). */
  readonly video?: GymnasiumVideoOptions;
}

/** Option `video` of `environment.gymnasium`. */
export interface GymnasiumVideoOptions {
  /** Folder of the videos; a relative path is resolved against the working directory. */
  readonly dir: string;
  /** Videos are `<namePrefix>-episode-<k>.mp4` (default `eval`). */
  readonly namePrefix: string;
}

/** JSON Schema of {@link GymnasiumOptions} (config section `environment`; defaults filled by the plugin loader). */
export const gymnasiumOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: { type: 'string', minLength: 1, description: 'Gymnasium environment id, e.g. "HalfCheetah-v5".' },
    kwargs: { type: 'object', default: {}, description: 'Keyword arguments of gymnasium.make (JSON data only).' },
    numEnvs: { type: 'integer', minimum: 1, maximum: 1024, default: 1, description: 'Copies stepped together (vector env).' },
    vectorization: {
      type: 'string',
      enum: ['sync', 'async'],
      default: 'sync',
      description: 'sync: envs stepped one after another in the bridge process (least overhead); async: one Gymnasium AsyncVectorEnv worker process per env (for expensive envs). Results are identical.',
    },
    transport: {
      type: 'string',
      enum: ['ipc', 'unix', 'tcp'],
      description: 'Local transport to the spawned bridge (unset: ipc; not used with remote). ipc: ZeroMQ over a private Unix socket; unix: the same messages over a plain Unix stream socket, without ZeroMQ\'s I/O threads (the least overhead per step; not on Windows); tcp: ZeroMQ over loopback TCP. Results are identical.',
    },
    python: { type: 'string', minLength: 1, description: 'Python interpreter; default .venv/bin/python made by `npm run setup`, or $SPARSE_RL_PYTHON.' },
    startTimeoutMs: { type: 'integer', minimum: 1, default: 60000, description: 'Deadline of the bridge start-up and handshake.' },
    requestTimeoutMs: { type: 'integer', minimum: 1, default: 30000, description: 'Deadline of every reset/step request.' },
    idleTimeoutS: { type: 'number', minimum: 0, default: 0, description: 'The bridge exits after this many seconds without a request (0 = never; it always exits with this process).' },
    restartOnCrash: {
      type: 'boolean',
      default: false,
      description: 'Respawn a bridge that died or missed its deadline: the step is not re-sent, the envs are reset, the interrupted episodes are logged as lost, and the run continues.',
    },
    maxRestarts: { type: 'integer', minimum: 0, default: 3, description: 'Most restarts per environment with restartOnCrash.' },
    video: {
      type: 'object',
      additionalProperties: false,
      required: ['dir'],
      description:
        'Record every evaluation episode to MP4 (the evaluation env only): the env is made with render_mode "rgb_array" and wrapped in Gymnasium RecordVideo, rendered offscreen with MuJoCo (MUJOCO_GL=egl or osmesa; probed when unset). Needs moviepy in the bridge Python (npm run setup installs it).',
      properties: {
        dir: { type: 'string', minLength: 1, description: 'Folder of the videos; relative to the working directory.' },
        namePrefix: { type: 'string', pattern: '^[A-Za-z0-9._-]+$', default: 'eval', description: 'Videos are <namePrefix>-episode-<k>.mp4, k counting on from the videos already in dir.' },
      },
    },
    remote: {
      type: 'object',
      additionalProperties: false,
      required: ['endpoint'],
      description: 'Connect to a running `sparse-rl-bridge serve --bind ...` instead of spawning a bridge.',
      properties: {
        endpoint: { type: 'string', minLength: 1, description: 'e.g. "tcp://gpu-box:5555".' },
        serverPublicKey: { type: 'string', minLength: 1, description: 'Server CURVE public key: Z85 string or the path of the NAME.key file from `sparse-rl-bridge keygen`.' },
        clientKeyFile: { type: 'string', minLength: 1, description: 'Client key pair (NAME.key_secret from keygen), needed when the server restricts client keys; default an ephemeral pair.' },
        token: { type: 'string', minLength: 1, description: 'Server token; default $SPARSE_RL_BRIDGE_TOKEN (prefer the variable over a config file).' },
      },
    },
  },
};

/**
 * The start options of the environment of `role` (see `docs/architecture.md` §5): the training
 * env has `numEnvs` copies (`vectorization` as configured) seeded from the run seed `run.seed`
 * (env `i` gets `seed + i`, the seed the trainer resets it with); the evaluation env is one copy,
 * `sync`, seeded `run.seed + run.evaluation.seedOffset`, and the only one that records `video`.
 * The seed is the first reset's default and the base of the restart seeds (`restartOnCrash`).
 */
export function environmentStartOptions(
  options: GymnasiumOptions,
  role: EnvironmentRole,
  run: Pick<ExperimentConfig, 'seed'> & { readonly evaluation: Pick<ExperimentConfig['evaluation'], 'seedOffset'> },
): GymnasiumEnvironmentOptions {
  const evalRole = role === 'eval';
  return {
    envId: options.id,
    kwargs: options.kwargs,
    numEnvs: evalRole ? 1 : options.numEnvs,
    vectorization: evalRole ? 'sync' : options.vectorization,
    seed: (evalRole ? run.seed + run.evaluation.seedOffset : run.seed) % 2 ** 32,
    python: options.python,
    startTimeoutMs: options.startTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs,
    idleTimeoutS: options.idleTimeoutS,
    restartOnCrash: options.restartOnCrash ? { maxRestarts: options.maxRestarts } : false,
    remote: options.remote,
    ...(options.transport ? { transport: options.transport } : {}),
    ...(evalRole && options.video ? { video: { dir: resolve(options.video.dir), namePrefix: options.video.namePrefix } } : {}),
  };
}
