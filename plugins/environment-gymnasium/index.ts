import { definePlugin, EnvironmentFactory, RunConfig, type EnvironmentRole, type ExperimentConfig } from '../../src/index.js';
import { GymnasiumEnvironment } from './gymnasium-environment.js';
import { environmentStartOptions, gymnasiumOptionsSchema, type GymnasiumOptions } from './gymnasium-options.js';

export type { GymnasiumOptions } from './gymnasium-options.js';

export default definePlugin<GymnasiumOptions>({
  id: 'environment.gymnasium',
  kind: 'environment',
  description: 'Any Gymnasium environment (MuJoCo v5 tasks first), served by the Python bridge over ZeroMQ',
  optionsSchema: gymnasiumOptionsSchema,
  // The factory depends on the run config: the envs' seeds derive from the run seed (train: seed,
  // eval: seed + evaluation.seedOffset), so that restarts after a crash are seeded reproducibly.
  register: ({ bind, options }) =>
    bind<EnvironmentFactory>(EnvironmentFactory).toResolvedValue(
      (config: ExperimentConfig) => (role: EnvironmentRole) => GymnasiumEnvironment.start(environmentStartOptions(options, role, config)),
      [RunConfig],
    ),
});
