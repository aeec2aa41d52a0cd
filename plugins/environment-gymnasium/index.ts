import { ContainerModule } from 'inversify';
import { EnvironmentFactory } from '../../src/core/environment.js';
import { GymnasiumEnvironment } from '../../src/bridge/gymnasium-environment.js';
import type { PluginManifest } from '../../src/plugin/plugin-manifest.js';

/** Options of `environment.gymnasium`. */
export interface GymnasiumOptions {
  readonly id: string;
  readonly kwargs: Record<string, unknown>;
  readonly numEnvs: number;
  readonly python?: string;
  readonly startTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

const manifest: PluginManifest<GymnasiumOptions> = {
  id: 'environment.gymnasium',
  kind: 'environment',
  description: 'Any Gymnasium environment (MuJoCo v5 tasks first), served by the Python bridge over ZeroMQ',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['id'],
    properties: {
      id: { type: 'string', minLength: 1, description: 'Gymnasium environment id, e.g. "HalfCheetah-v5".' },
      kwargs: { type: 'object', default: {}, description: 'Keyword arguments of gymnasium.make (JSON data only).' },
      numEnvs: { type: 'integer', minimum: 1, maximum: 1024, default: 1, description: 'Copies stepped together (vector env).' },
      python: { type: 'string', minLength: 1, description: 'Python interpreter; default .venv/bin/python made by `npm run setup`, or $SPARSE_RL_PYTHON.' },
      startTimeoutMs: { type: 'integer', minimum: 1, default: 60000, description: 'Deadline of the bridge start-up and handshake.' },
      requestTimeoutMs: { type: 'integer', minimum: 1, default: 30000, description: 'Deadline of every reset/step request.' },
    },
  },
  createModule: (options) =>
    new ContainerModule((bind) => {
      bind<EnvironmentFactory>(EnvironmentFactory).toConstantValue((role) =>
        GymnasiumEnvironment.start({
          envId: options.id,
          kwargs: options.kwargs,
          numEnvs: role === 'eval' ? 1 : options.numEnvs,
          python: options.python,
          startTimeoutMs: options.startTimeoutMs,
          requestTimeoutMs: options.requestTimeoutMs,
        }),
      );
    }),
};
export default manifest;
