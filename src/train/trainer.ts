import { Agent } from '../core/agent.js';
import { EvalEnvironment, TrainEnvironment, type BoxSpace, type Environment } from '../core/environment.js';
import { Logger } from '../core/logger.js';
import { ReplayBuffer } from '../core/replay-buffer.js';
import { Sparsifier, type SparsifierHooks } from '../core/sparsifier.js';
import { TrainingContribution } from '../core/training-contribution.js';
import { Engine } from '../nn/engine.js';
import type { RunContainer } from '../plugin/run-container.js';
import { CompressionTracker, flopsMetrics } from '../sparse/flops.js';
import { RngStreams } from '../util/rng.js';
import { saveCheckpoint } from './checkpoint.js';
import { Evaluator } from './evaluator.js';
import { MetricsWriter } from './metrics-writer.js';
import { Progress } from './progress.js';
import { ActionScaler, Rollout } from './rollout.js';
import { RunDirectory } from './run-directory.js';

/** What `train` returns. */
export interface TrainResult {
  readonly runDir: string;
  readonly steps: number;
  readonly lastEvalReturn: number | null;
  readonly wallSeconds: number;
}

/**
 * The training loop (docs/architecture.md §5): the run's services come from `run` (its
 * container); the `Rollout` collects one vector-env step at a time (warm-up with uniform random
 * actions for the agent's `learningStarts` env steps, then exploration), one gradient update
 * per env step, the `Evaluator` every `evaluation.interval` steps on a separate env seeded
 * `seed + seedOffset` (deterministic policy), checkpoints, metrics.
 *
 * Run directory (`RunDirectory`): `config.json` (validated, defaults applied), `metadata.json`
 * (versions, engine, seeds, plugins, git commit, status, error), `metrics.jsonl`, `metrics.csv`,
 * `checkpoints/`, `summary.json`. On failure the status, the error (with the plugin id and the
 * original stack when a plugin threw, the environment's stderr tail when the env failed) and a
 * checkpoint of the last consistent state are written before the error is re-thrown.
 */
export async function train(run: RunContainer, options: { runDir?: string } = {}): Promise<TrainResult> {
  const config = run.config;
  const started = Date.now();
  const dir = new RunDirectory(config, started, options.runDir, { plugins: pluginRecords(run) }, (path) => run.registry.referencesFrom(path));
  const metadata = dir.metadata;
  const metrics = new MetricsWriter(dir.path);
  const loggers: Logger[] = [metrics];
  const log = (step: number, m: Record<string, number>) => loggers.forEach((l) => l.log(step, m));
  let agent: Agent | null = null;
  let sparsifier: SparsifierHooks | null = null;
  let evaluator: Evaluator | null = null;
  let step = 0;
  let lastEvalReturn: number | null = null;
  let progress: Progress | null = null;
  const checkpoint = () => {
    if (!agent || !sparsifier) return;
    saveCheckpoint(dir.checkpoints, agent.groups, {
      step, agent: agent.state(), sparsifier: sparsifier.state(), trainer: { evalCount: evaluator?.evaluations ?? 0, lastEvalReturn },
    }, config.checkpoint.keep);
  };

  try {
    loggers.push(...(await run.getAll<Logger>(Logger)));
    const engine = await run.get<Engine>(Engine);
    metadata.engine = engine.description;
    const env = await run.get<Environment>(TrainEnvironment);
    if (config.evaluation.seedOffset < env.numEnvs) throw new Error(`evaluation.seedOffset (${config.evaluation.seedOffset}) must be >= environment.numEnvs (${env.numEnvs}) so train and eval seeds are disjoint`);
    const evalEnv = await run.get<Environment>(EvalEnvironment);
    metadata.environment = { ...env.info, observationSpace: env.observationSpace, actionSpace: env.actionSpace, numEnvs: env.numEnvs };
    agent = await run.get<Agent>(Agent);
    sparsifier = await run.get<SparsifierHooks>(Sparsifier);
    const buffer = await run.get<ReplayBuffer>(ReplayBuffer);
    agent.checkReplayBuffer?.(buffer);
    const contributions = await run.getAll<TrainingContribution>(TrainingContribution);
    const scaler = new ActionScaler(env.actionSpace as BoxSpace);
    const policy = (o: Float32Array, count: number) => agent!.act(o, count, true);
    const compression = new CompressionTracker(agent.groups, sparsifier);
    const costMetrics = () => ({ ...(agent!.costModel ? flopsMetrics(agent!.groups, agent!.costModel, sparsifier!) : {}), ...compression.metrics() });
    const streams = await run.get<RngStreams>(RngStreams);
    const rollout = new Rollout(env, agent, buffer, scaler, streams.stream('warmup'), config.runtime.overlapEnvStep);
    evaluator = new Evaluator(evalEnv, agent, scaler, config.evaluation.episodes, config.seed + config.evaluation.seedOffset);
    metadata.status = 'running';
    dir.saveMetadata();
    if (config.output.progress !== 'none') {
      const v = env.info.versions;
      process.stderr.write(
        `run ${dir.path}\nengine ${engine.description}; ${env.info.envId} x${env.numEnvs} via bridge ${v.bridge} (Python ${v.python}, Gymnasium ${v.gymnasium}, MuJoCo ${v.mujoco ?? '-'})\n`,
      );
    }
    const initialSparsity = sparsifier.metrics(agent.groups);
    log(0, { ...initialSparsity, ...costMetrics() });
    for (const c of contributions) c.onStart?.({ groups: agent.groups, totalSteps: config.totalSteps });

    const n = env.numEnvs;
    progress = new Progress(config.totalSteps, config.output.progress);
    await rollout.reset(config.seed);
    let lastReturn: number | null = null;
    let lossSums: Record<string, number> = {};
    let lossCounts: Record<string, number> = {};
    let tick = Date.now();
    let tickStep = 0;
    let sps = 0;
    let sparsityNow = initialSparsity['sparsity/total'] ?? 0;

    const evaluate = async () => {
      const r = await evaluator!.evaluate();
      lastEvalReturn = r.meanReturn;
      sparsifier!.onEvaluation(r.meanReturn, step);
      for (const c of contributions) c.onEvaluation?.(r.meanReturn, step);
      const sp = sparsifier!.metrics(agent!.groups);
      sparsityNow = sp['sparsity/total'] ?? 0;
      log(step, { 'eval/mean_return': r.meanReturn, 'eval/std_return': r.stdReturn, ...sp, ...costMetrics() });
    };

    /** One gradient update per env step of the vector env (n updates). */
    const update = () => {
      for (let k = 0; k < n; k++) {
        for (const [key, v] of Object.entries(agent!.update(buffer))) {
          lossSums[key] = (lossSums[key] ?? 0) + v;
          lossCounts[key] = (lossCounts[key] ?? 0) + 1;
        }
      }
      compression.record(n);
    };
    while (step < config.totalSteps) {
      const { updated, episodes } = await rollout.step(step, update);
      for (const ep of episodes) {
        lastReturn = ep.return;
        log(ep.step, { 'charts/episodic_return': ep.return, 'charts/episodic_length': ep.length });
      }
      const before = step;
      step += n;
      if (!updated && step > agent.learningStarts) update();
      const updateMetrics = sparsifier.takeUpdateMetrics?.();
      if (updateMetrics) log(step, updateMetrics);
      const bufferMetrics = buffer.maybeShrink?.(step, policy);
      if (bufferMetrics) log(step, bufferMetrics);
      for (const c of contributions) {
        const m = c.onStep?.(step);
        if (m) log(step, m);
      }
      const crossed = (interval: number) => Math.floor(step / interval) > Math.floor(before / interval);
      if (crossed(1000)) {
        const now = Date.now();
        sps = ((step - tickStep) * 1000) / Math.max(1, now - tick);
        tick = now;
        tickStep = step;
        const m: Record<string, number> = { 'time/steps_per_second': sps };
        for (const key of Object.keys(lossSums)) m[key] = lossSums[key] / lossCounts[key];
        lossSums = {};
        lossCounts = {};
        log(step, m);
      }
      let force = false;
      if (crossed(config.evaluation.interval)) {
        await evaluate();
        force = true;
      }
      if (crossed(config.checkpoint.interval)) checkpoint();
      progress.update({ step, episodicReturn: lastReturn, evalReturn: lastEvalReturn, sparsity: sparsityNow, stepsPerSecond: sps }, force);
    }
    if (step % config.evaluation.interval !== 0) await evaluate();
    if (step % config.checkpoint.interval !== 0) checkpoint();
    for (const c of contributions) await c.onEnd?.();
    progress.stop();
    const wallSeconds = (Date.now() - started) / 1000;
    dir.complete({ steps: step, wallSeconds, lastEvalReturn, evaluations: evaluator.evaluations, finalSparsity: sparsifier.metrics(agent.groups), flops: costMetrics(), bufferSize: buffer.size, engine: engine.description });
    return { runDir: dir.path, steps: step, lastEvalReturn, wallSeconds };
  } catch (error) {
    progress?.stop();
    dir.fail(error, step);
    try {
      checkpoint();
    } catch (e) {
      metadata.checkpointError = (e as Error).message;
      dir.saveMetadata();
    }
    throw error;
  } finally {
    for (const l of loggers) await l.close?.();
    await run.close();
  }
}

/** `metadata.plugins`: id, source (built-in, file or package), version or sha256 of every plugin the run uses. */
function pluginRecords(run: RunContainer): Record<string, unknown>[] {
  const c = run.config;
  const ids = [`environment.${c.environment.type}`, `agent.${c.agent.type}`, `sparsifier.${c.sparsifier.type}`, `replay-buffer.${c.replayBuffer.type}`, ...c.loggers.map((l) => `logger.${l.type}`)];
  return [...new Set(ids)].map((id) => ({ ...run.registry.source(id) }));
}
