import 'reflect-metadata';
import { Container } from 'inversify';
import type { ExperimentConfig, PluginSection } from '../config/experiment-config.js';
import type { PluginRegistry } from './plugin-registry.js';
import type { PluginKind } from './plugin-manifest.js';

/** DI token of the validated, frozen `ExperimentConfig` of the run. */
export const ExperimentConfigToken = Symbol.for('sparse-rl.ExperimentConfig');

/**
 * Builds the run's container (one per run, docs/architecture.md §2): binds the config and loads the module
 * of the plugin chosen by each config section, with that section's validated options.
 * Single-slot kinds (agent, environment, sparsifier, replay buffer) are bound once; loggers are
 * multi-slot contributions.
 */
export function buildExperimentContainer(config: ExperimentConfig, registry: PluginRegistry): Container {
  const container = new Container();
  container.bind(ExperimentConfigToken).toConstantValue(config);
  const load = (kind: PluginKind, section: PluginSection) => {
    container.load(registry.get(`${kind}.${section.type}`).createModule(section as never));
  };
  load('environment', config.environment);
  load('agent', config.agent);
  load('sparsifier', config.sparsifier);
  load('replay-buffer', config.replayBuffer);
  for (const logger of config.loggers) load('logger', logger);
  return container;
}
