import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Container } from 'inversify';
import { AgentFactory, type Agent } from '../core/agent.js';
import { EnvironmentFactory, flatSize, type BoxSpace, type Environment } from '../core/environment.js';
import { Logger } from '../core/logger.js';
import { ReplayBufferFactory, type ReplayBuffer } from '../core/replay-buffer.js';
import { Sparsifier } from '../core/sparsifier.js';
import type { ExperimentConfig } from '../config/experiment-config.js';
import type { Engine } from '../nn/engine.js';
import { createEngine } from '../nn/engines.js';
import { CompressionTracker, flopsMetrics } from '../sparse/flops.js';
import { packageRoot } from '../util/paths.js';
import { RngStreams } from '../util/rng.js';
import { saveCheckpoint } from './checkpoint.js';
import { MetricsWriter } from './metrics-writer.js';
import { Progress } from './progress.js';

/** What `train` returns. */
export interface TrainResult {
  readonly runDir: string;
  readonly steps: number;
  readonly lastEvalReturn: number | null;
  readonly wallSeconds: number;
}

/** Writes `file` atomically (temp file + rename); ±Infinity and NaN become the strings "inf", "-inf", "nan". */
export function writeJsonAtomic(file: string, value: unknown): void {
  const finite = (_key: string, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf') : v;
  writeFileSync(`${file}.tmp`, `${JSON.stringify(value, finite, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: packageRoot(), stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return null;
  }
}

/**
 * Affine map between the agent's normalised actions in [-1, 1] and a bounded Box action space.
 * @throws Error naming the space when a bound is infinite
 */
export class ActionScaler {
  private readonly low: Float32Array;
  private readonly scale: Float32Array;
  constructor(space: BoxSpace) {
    const n = flatSize(space);
    this.low = Float32Array.from(space.low);
    this.scale = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(space.low[i]) || !Number.isFinite(space.high[i])) {
        throw new Error(`action space must be bounded for continuous-control agents, got low=${space.low[i]} high=${space.high[i]} at index ${i}`);
      }
      this.scale[i] = (space.high[i] - space.low[i]) / 2;
    }
  }
  /** `[n, actDim]` in [-1, 1] → env units (new array). */
  toEnv(a: Float32Array): Float32Array {
    const out = new Float32Array(a.length);
    const d = this.scale.length;
    for (let i = 0; i < a.length; i++) out[i] = this.low[i % d] + (a[i] + 1) * this.scale[i % d];
    return out;
  }
}

/**
 * The training loop (docs/architecture.md §5): warm-up with uniform random actions for the agent's
 * `learningStarts` env steps, then act with exploration noise, step every env, store the
 * transitions (the final observation as s' at episode ends; `terminated` and `truncated` kept
 * apart), one gradient update per env step, evaluation every `evaluation.interval` steps on a
 * separate env seeded `seed + seedOffset` (deterministic policy), checkpoints, metrics.
 *
 * Run directory `<output.dir>/<name>/<timestamp>/`: `config.json` (validated, defaults
 * applied), `metadata.json` (versions, engine, seeds, git commit, status, error), `metrics.jsonl`,
 * `metrics.csv`, `checkpoints/`, `summary.json`. On failure the status, the error (with the
 * environment's stderr tail) and a checkpoint of the last consistent state are written before
 * the error is re-thrown.
 */
export async function train(config: ExperimentConfig, container: Container, options: { runDir?: string } = {}): Promise<TrainResult> {
  const started = Date.now();
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  const runDir = options.runDir ?? resolve(config.output.dir, config.name, stamp);
  mkdirSync(runDir, { recursive: true });
  writeJsonAtomic(join(runDir, 'config.json'), config);
  const streams = new RngStreams(config.seed);
  const seeds = { run: config.seed, trainEnv: config.seed, evalEnv: config.seed + config.evaluation.seedOffset };
  const metadata: Record<string, unknown> = {
    name: config.name, status: 'starting', startedAt: new Date(started).toISOString(),
    versions: { sparseRl: '0.1.0', node: process.version }, seeds, gitCommit: gitCommit(),
  };
  const saveMetadata = () => writeJsonAtomic(join(runDir, 'metadata.json'), metadata);
  saveMetadata();

  const metrics = new MetricsWriter(runDir);
  const loggers: Logger[] = [metrics, ...(container.isBound(Logger) ? container.getAll<Logger>(Logger) : [])];
  const log = (step: number, m: Record<string, number>) => loggers.forEach((l) => l.log(step, m));
  const envs: Environment[] = [];
  let agent: Agent | null = null;
  let sparsifier: Sparsifier | null = null;
  let step = 0;
  let evalCount = 0;
  let lastEvalReturn: number | null = null;
  let progress: Progress | null = null;
  const checkpointRoot = join(runDir, 'checkpoints');
  const checkpoint = () => {
    if (!agent || !sparsifier) return;
    saveCheckpoint(checkpointRoot, agent.groups, {
      step, agent: agent.state(), sparsifier: sparsifier.state(), trainer: { evalCount, lastEvalReturn },
    }, config.checkpoint.keep);
  };

  try {
    const engine: Engine = await createEngine(config.runtime);
    metadata.engine = engine.description;
    const envFactory = container.get<EnvironmentFactory>(EnvironmentFactory);
    const env = await envFactory('train');
    envs.push(env);
    if (config.evaluation.seedOffset < env.numEnvs) throw new Error(`evaluation.seedOffset (${config.evaluation.seedOffset}) must be >= environment.numEnvs (${env.numEnvs}) so train and eval seeds are disjoint`);
    const evalEnv = await envFactory('eval');
    envs.push(evalEnv);
    metadata.environment = { ...env.info, observationSpace: env.observationSpace, actionSpace: env.actionSpace, numEnvs: env.numEnvs };
    if (env.actionSpace.type !== 'box') throw new Error(`agent ${config.agent.type} needs a continuous (Box) action space; ${env.info.envId} has ${env.actionSpace.type}`);
    if (env.observationSpace.type !== 'box') throw new Error(`agent ${config.agent.type} needs a Box observation space; ${env.info.envId} has ${env.observationSpace.type}`);
    const scaler = new ActionScaler(env.actionSpace);
    const obsDim = flatSize(env.observationSpace);
    const actDim = flatSize(env.actionSpace);

    sparsifier = container.get<Sparsifier>(Sparsifier);
    agent = container.get<AgentFactory>(AgentFactory)({
      observationSize: obsDim, actionSpace: env.actionSpace, engine, sparsifier, rng: streams.stream('agent'),
    });
    const buffer: ReplayBuffer = container.get<ReplayBufferFactory>(ReplayBufferFactory)({ observationSize: obsDim, actionSize: actDim, numEnvs: env.numEnvs });
    agent.checkReplayBuffer?.(buffer);
    // buffers with a shrink hook (RLx2 dynamic capacity) also store the noise-free action
    const wantsActionMean = typeof buffer.maybeShrink === 'function';
    const policy = (o: Float32Array, count: number) => agent!.act(o, count, true);
    const compression = new CompressionTracker(agent.groups, sparsifier);
    const costMetrics = () => ({ ...(agent!.costModel ? flopsMetrics(agent!.groups, agent!.costModel, sparsifier!) : {}), ...compression.metrics() });
    const warmupRng = streams.stream('warmup');
    metadata.status = 'running';
    saveMetadata();
    if (config.output.progress !== 'none') {
      const v = env.info.versions;
      process.stderr.write(
        `run ${runDir}\nengine ${engine.description}; ${env.info.envId} x${env.numEnvs} via bridge ${v.bridge} (Python ${v.python}, Gymnasium ${v.gymnasium}, MuJoCo ${v.mujoco ?? '-'})\n`,
      );
    }
    const initialSparsity = sparsifier.metrics(agent.groups);
    log(0, { ...initialSparsity, ...costMetrics() });

    const n = env.numEnvs;
    progress = new Progress(config.totalSteps, config.output.progress);
    let obs = await env.reset(seeds.trainEnv);
    let lastReturn: number | null = null;
    let lossSums: Record<string, number> = {};
    let lossCounts: Record<string, number> = {};
    let tick = Date.now();
    let tickStep = 0;
    let sps = 0;
    let sparsityNow = initialSparsity['sparsity/total'] ?? 0;

    const evaluate = async () => {
      let o = await evalEnv.reset(evalCount === 0 ? seeds.evalEnv : undefined);
      const returns: number[] = [];
      while (returns.length < config.evaluation.episodes) {
        const r = await evalEnv.step(scaler.toEnv(agent!.act(o, 1, true)));
        if (r.episodes[0]) returns.push(r.episodes[0].return);
        o = r.observations;
      }
      evalCount++;
      const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
      const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / returns.length);
      lastEvalReturn = mean;
      sparsifier!.onEvaluation(mean, step);
      const sp = sparsifier!.metrics(agent!.groups);
      sparsityNow = sp['sparsity/total'] ?? 0;
      log(step, { 'eval/mean_return': mean, 'eval/std_return': std, ...sp, ...costMetrics() });
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
      const actions = new Float32Array(n * actDim);
      const warmup = step < agent.learningStarts;
      if (warmup) for (let i = 0; i < actions.length; i++) actions[i] = warmupRng.uniformRange(-1, 1);
      else actions.set(agent.act(obs, n, false));
      const actionMeans = wantsActionMean ? (warmup ? actions : agent.act(obs, n, true)) : null;
      const pending = env.step(scaler.toEnv(actions));
      pending.catch(() => {}); // awaited below; keeps the rejection handled while updates run
      // overlap: the gradient updates of this env step run while the bridge steps the env
      // (they see the buffer up to the previous transition)
      const overlapped = config.runtime.overlapEnvStep && step + n > agent.learningStarts && buffer.size > 0;
      if (overlapped) update();
      const result = await pending;
      for (let i = 0; i < n; i++) {
        const final = result.finalObservations[i];
        buffer.add({
          observation: obs.subarray(i * obsDim, (i + 1) * obsDim),
          action: actions.subarray(i * actDim, (i + 1) * actDim),
          reward: result.rewards[i],
          nextObservation: final ?? result.observations.subarray(i * obsDim, (i + 1) * obsDim),
          terminated: result.terminated[i] === 1,
          truncated: result.truncated[i] === 1,
          ...(actionMeans ? { actionMean: actionMeans.subarray(i * actDim, (i + 1) * actDim) } : {}),
        });
        const ep = result.episodes[i];
        if (ep) {
          lastReturn = ep.return;
          log(step + i + 1, { 'charts/episodic_return': ep.return, 'charts/episodic_length': ep.length });
        }
      }
      obs = result.observations;
      const before = step;
      step += n;
      if (!overlapped && step > agent.learningStarts) update();
      const updateMetrics = sparsifier.takeUpdateMetrics?.();
      if (updateMetrics) log(step, updateMetrics);
      const bufferMetrics = buffer.maybeShrink?.(step, policy);
      if (bufferMetrics) log(step, bufferMetrics);
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
    progress.stop();
    const wallSeconds = (Date.now() - started) / 1000;
    const summary = { steps: step, wallSeconds, lastEvalReturn, evaluations: evalCount, finalSparsity: sparsifier.metrics(agent.groups), flops: costMetrics(), bufferSize: buffer.size, engine: engine.description };
    writeJsonAtomic(join(runDir, 'summary.json'), summary);
    metadata.status = 'completed';
    metadata.finishedAt = new Date().toISOString();
    saveMetadata();
    return { runDir, steps: step, lastEvalReturn, wallSeconds };
  } catch (error) {
    progress?.stop();
    metadata.status = 'failed';
    metadata.finishedAt = new Date().toISOString();
    metadata.failedAtStep = step;
    metadata.error = { name: (error as Error).name, message: (error as Error).message, ...((error as { details?: object }).details ?? {}) };
    saveMetadata();
    try {
      checkpoint();
    } catch (e) {
      metadata.checkpointError = (e as Error).message;
      saveMetadata();
    }
    throw error;
  } finally {
    for (const l of loggers) await l.close();
    await Promise.allSettled(envs.map((e) => e.close()));
  }
}
