/** Options of the `environment.gymnasium` plugin: the TypeScript interface and its JSON Schema. */
import type { JsonSchema } from '../../src/index.js';
import type { RemoteBridgeOptions } from './bridge-session.js';
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
  /** Connect to `sparse-rl-bridge serve` instead of spawning a bridge. */
  readonly remote?: RemoteBridgeOptions;
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
