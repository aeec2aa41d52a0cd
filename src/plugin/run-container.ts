import { Container, ContainerModule } from 'inversify';
import { Agent, AgentContext } from '../core/agent.js';
import { EnvironmentFactory, EnvironmentSpec, EvalEnvironment, TrainEnvironment, environmentSpec, type BoxSpace, type Environment } from '../core/environment.js';
import { Logger } from '../core/logger.js';
import { ReplayBuffer, ReplayBufferContext } from '../core/replay-buffer.js';
import { Sparsifier } from '../core/sparsifier.js';
import type { ExperimentConfig, PluginSection } from '../config/experiment-config.js';
import { Engine } from '../nn/engine.js';
import { createEngine } from '../nn/engines.js';
import { RngStreams, rngStreams } from '../util/rng.js';
import { guardService, PluginError } from './plugin-checks.js';
import type { PluginBinder, PluginKind, Token } from './plugin-manifest.js';
import type { PluginRegistry } from './plugin-registry.js';

/** DI token of the validated, frozen `ExperimentConfig` of the run. */
export const RunConfig = Symbol.for('sparse-rl.RunConfig');

/**
 * DI token of the run directory's absolute path (a string; bound by the trainer once the directory
 * exists, before loggers and training contributions are resolved): where a logger plugin writes.
 */
export const RunDirectoryPath = Symbol.for('sparse-rl.RunDirectoryPath');

/** The token each kind's plugin must bind. */
const KIND_TOKENS: Readonly<Record<PluginKind, symbol>> = {
  agent: Agent, sparsifier: Sparsifier, environment: EnvironmentFactory, 'replay-buffer': ReplayBuffer, logger: Logger,
};

/** Services the host binds itself instead of resolving them (the sparsifier tester runs without an environment). */
export interface RunOverrides {
  /** The spaces to size agent and buffer by; no environment is started. */
  readonly environmentSpec?: EnvironmentSpec;
  /** An engine already created. */
  readonly engine?: Engine;
  /** Size agent and buffer by the evaluation environment; no training environment is started (`sparse-rl eval`). */
  readonly evaluationOnly?: boolean;
}

/**
 * The run's dependency-injection container (inversify; one per run, docs/architecture.md §2):
 * the host binds the config (`RunConfig`), the run's RNG streams (`RngStreams`), the engine
 * (`Engine`, created from `runtime`), the training and evaluation environments (from the
 * environment plugin's factory), their `EnvironmentSpec`, and the contexts agents and buffers
 * are built from (`AgentContext`, `ReplayBufferContext`); each config section loads its plugin's
 * `register`. Every plugin service is checked against its contract and guarded (errors name the
 * plugin) as it is resolved. Resolve with `get`; `close` stops the environments started.
 */
export class RunContainer {
  private readonly container = new Container({ defaultScope: 'Singleton' });
  private readonly started: Environment[] = [];

  constructor(readonly config: ExperimentConfig, readonly registry: PluginRegistry, overrides: RunOverrides = {}) {
    const c = this.container;
    c.bind(RunConfig).toConstantValue(config);
    c.bind(RngStreams).toConstantValue(rngStreams(config.seed));
    if (overrides.engine) c.bind(Engine).toConstantValue(overrides.engine);
    else c.bind(Engine).toResolvedValue(() => createEngine(config.runtime));
    const start = (role: 'train' | 'eval') => async (factory: EnvironmentFactory) => {
      const env = await factory(role);
      this.started.push(env);
      return env;
    };
    c.bind(TrainEnvironment).toResolvedValue(start('train'), [EnvironmentFactory]);
    c.bind(EvalEnvironment).toResolvedValue(start('eval'), [EnvironmentFactory]);
    if (overrides.environmentSpec) c.bind(EnvironmentSpec).toConstantValue(overrides.environmentSpec);
    else c.bind(EnvironmentSpec).toResolvedValue((env: Environment) => environmentSpec(env), [overrides.evaluationOnly ? EvalEnvironment : TrainEnvironment]);
    c.bind(AgentContext).toResolvedValue(
      (engine: Engine, spec: EnvironmentSpec, sparsifier: Sparsifier, streams: RngStreams): AgentContext => {
        for (const [what, space] of [['action', spec.actionSpace], ['observation', spec.observationSpace]] as const) {
          if (space.type !== 'box') throw new Error(`agent ${config.agent.type} needs a continuous (Box) ${what} space; ${spec.envId} has ${space.type}`);
        }
        return { observationSize: spec.observationSize, actionSpace: spec.actionSpace as BoxSpace, engine, sparsifier: sparsifier as AgentContext['sparsifier'], rng: streams.stream('agent') };
      },
      [Engine, EnvironmentSpec, Sparsifier, RngStreams],
    );
    c.bind(ReplayBufferContext).toResolvedValue(
      (spec: EnvironmentSpec): ReplayBufferContext => ({ observationSize: spec.observationSize, actionSize: spec.actionSize, numEnvs: spec.numEnvs }),
      [EnvironmentSpec],
    );
    if (!overrides.environmentSpec) this.load('environment', config.environment);
    this.load('agent', config.agent);
    this.load('sparsifier', config.sparsifier);
    this.load('replay-buffer', config.replayBuffer);
    for (const logger of config.loggers) this.load('logger', logger);
  }

  /** Loads the plugin a config section names: its `register` binds through a guarding binder. */
  private load(kind: PluginKind, section: PluginSection): void {
    const id = `${kind}.${section.type}`;
    const manifest = this.registry.get(id);
    const source = this.registry.source(id);
    const bound = new Set<symbol>();
    this.container.load(
      new ContainerModule(({ bind }) => {
        const binder: PluginBinder['bind'] = <T>(token: symbol) => {
          if (typeof token !== 'symbol') throw new PluginError(id, source.file, 'register', `bind() needs a token exported by sparse-rl (e.g. Sparsifier), got ${String(token)}`);
          bound.add(token);
          const guard = (v: T) => guardService(token, v, source);
          return {
            toConstantValue: (value: T) => {
              bind<T>(token).toConstantValue(guard(value));
            },
            toResolvedValue: (factory: (...deps: unknown[]) => T | Promise<T>, deps: readonly Token[] = []) => {
              bind<T>(token)
                .toResolvedValue((...args: unknown[]) => {
                  const r = factory(...args);
                  return r instanceof Promise ? r.then(guard) : guard(r);
                }, [...deps] as never)
                .inSingletonScope();
            },
          };
        };
        try {
          manifest.register({ options: section as never, bind: binder });
        } catch (e) {
          throw e instanceof PluginError ? e : new PluginError(id, source.file, 'register', `register threw: ${(e as Error).message}`, { cause: e });
        }
      }),
    );
    const token = KIND_TOKENS[kind];
    if (!bound.has(token)) throw new PluginError(id, source.file, 'register', `register must bind the ${kind} token (${Symbol.keyFor(token)}); it bound ${[...bound].map((t) => Symbol.keyFor(t) ?? String(t)).join(', ') || 'nothing'}`);
  }

  /** Binds `RunDirectoryPath` (the trainer does, once the run directory exists). @throws Error when already bound */
  setRunDirectory(path: string): void {
    if (this.container.isBound(RunDirectoryPath)) throw new Error('RunContainer: the run directory is already set');
    this.container.bind(RunDirectoryPath).toConstantValue(path);
  }

  /** The run's service for `token`, resolving what it depends on (async: engine and environments start on demand). */
  get<T>(token: symbol): Promise<T> {
    return this.container.getAsync<T>(token);
  }

  /** Every service bound to a multi-slot token (loggers), or [] when none is. */
  async getAll<T>(token: symbol): Promise<T[]> {
    return this.container.isBound(token) ? this.container.getAllAsync<T>(token) : [];
  }

  /** Environments started so far (closed by `close`). */
  get environments(): readonly Environment[] {
    return this.started;
  }

  /** Closes every started environment (never throws; safe to call twice). */
  async close(): Promise<void> {
    await Promise.allSettled(this.started.splice(0).map((e) => e.close()));
  }
}
