import { definePlugin, EnvironmentFactory, type EnvironmentRole } from '../../src/index.js';
import { GymnasiumEnvironment } from './gymnasium-environment.js';
import { gymnasiumOptionsSchema, type GymnasiumOptions } from './gymnasium-options.js';

export type { GymnasiumOptions } from './gymnasium-options.js';

export default definePlugin<GymnasiumOptions>({
  id: 'environment.gymnasium',
  kind: 'environment',
  description: 'Any Gymnasium environment (MuJoCo v5 tasks first), served by the Python bridge over ZeroMQ',
  optionsSchema: gymnasiumOptionsSchema,
  register: ({ bind, options }) =>
    bind<EnvironmentFactory>(EnvironmentFactory).toConstantValue((role: EnvironmentRole) =>
        GymnasiumEnvironment.start({
          envId: options.id,
          kwargs: options.kwargs,
          numEnvs: role === 'eval' ? 1 : options.numEnvs,
          vectorization: role === 'eval' ? 'sync' : options.vectorization,
          python: options.python,
          startTimeoutMs: options.startTimeoutMs,
          requestTimeoutMs: options.requestTimeoutMs,
          idleTimeoutS: options.idleTimeoutS,
          restartOnCrash: options.restartOnCrash ? { maxRestarts: options.maxRestarts } : false,
          remote: options.remote,
        }),
    ),
});
