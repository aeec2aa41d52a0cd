import { Agent } from '../core/agent.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, formatIssue } from '../config/validate.js';
import { startedEnvironmentIssues } from '../config/cross-field.js';
import { EnvironmentError, EvalEnvironment, TrainEnvironment, environmentSpec, type BoxSpace, type Environment, type EnvironmentSnapshot } from '../core/environment.js';
import { Logger } from '../core/logger.js';
import { ReplayBuffer } from '../core/replay-buffer.js';
import { Sparsifier, type SparsifierHooks } from '../core/sparsifier.js';
import { TrainingContribution } from '../core/training-contribution.js';
import { Engine } from '../nn/engine.js';
import type { RunContainer } from '../plugin/run-container.js';
import { CompressionTracker, flopsMetrics } from '../sparse/flops.js';
import { RngStreams } from '../util/rng.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { agentPolicy, Evaluator } from './evaluator.js';
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
  /** `completed`, or `interrupted` by `signal` (SIGINT / SIGTERM) with a checkpoint at `steps`. */
  readonly status: 'completed' | 'interrupted';
  readonly signal?: NodeJS.Signals;
}

/** Options of `train`. */
export interface TrainOptions {
  /** Write the run here instead of `<output.dir>/<name>/<timestamp>` (it must not hold a run). */
  readonly runDir?: string;
  /** Continue the run in this directory from its latest complete checkpoint (`run.config` must be its `config.json`). */
  readonly resume?: string;
  /**
   * Handle SIGINT / SIGTERM: the first finishes the current step, writes a checkpoint and
   * returns `interrupted`; a second SIGINT exits at once (status still written). Default false
   * (the CLI turns it on).
   */
  readonly handleSignals?: boolean;
}

/** Exit code of a process stopped by `signal` (128 + its number: SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1);
}

/** Seed offset of the training envs' reset when a resumed run cannot restore their state (k-th resume: `seed + k·stride`). */
const RESUME_RESET_SEED_STRIDE = 7_919_011;

/** The trainer's own counters in a checkpoint (`state.json` `trainer`). */
interface TrainerState {
  readonly evalCount: number;
  readonly lastEvalReturn: number | null;
  readonly lastReturn: number | null;
  readonly lossSums: Record<string, number>;
  readonly lossCounts: Record<string, number>;
  readonly sparsityNow: number;
  readonly compression: { sum: number; iterations: number };
  readonly rollout: unknown;
  readonly contributions: unknown[];
  /** false for the checkpoint written after a failure (state between two steps not guaranteed). */
  readonly exact: boolean;
}

/**
 * The training loop (docs/architecture.md §5): the run's services come from `run` (its
 * container); the `Rollout` collects one vector-env step at a time (warm-up with uniform random
 * actions for the agent's `learningStarts` env steps, then exploration), one gradient update
 * per env step, the `Evaluator` at step 0 (`evaluation.atStart`) and every `evaluation.interval`
 * steps on a separate env reset with `seed + seedOffset` at every evaluation (`evaluation.reseed`;
 * deterministic policy), checkpoints, metrics.
 *
 * Run directory (`RunDirectory`): `config.json` (validated, defaults applied), `metadata.json`
 * (versions, engine, seeds, plugins, git commit, status, error, resumes, restarts),
 * `metrics.jsonl`, `metrics.csv`, `checkpoints/`, `summary.json`, and a `.lock` held while the run
 * writes. On failure the status, the error (with the plugin id and the original stack when a
 * plugin threw, the environment's stderr tail when the env failed, the file when a write failed)
 * and a checkpoint of the last state are written before the error is re-thrown.
 *
 * Exact resume (`options.resume`): everything a step depends on is in the checkpoint — networks,
 * masks, Adam moments, agent / sparsifier / contribution state, every RNG stream, the replay
 * buffer, the trainer's counters and the environments' state (`Environment.saveState`) — so a
 * resumed run logs the same `eval/*` and `losses/*` values and ends with the same weights as one
 * that never stopped. Envs that cannot restore their state are reset (seeded) instead and
 * `metadata.json` `resumes[]` says so; so does a checkpoint saved without the replay buffer.
 * @throws the first error of the run, after recording it; RunLockedError when the directory is in use
 */
export async function train(run: RunContainer, options: TrainOptions = {}): Promise<TrainResult> {
  const config = run.config;
  const started = Date.now();
  const dir = options.resume
    ? RunDirectory.open(options.resume)
    : RunDirectory.create(config, started, options.runDir, { plugins: pluginRecords(run) }, (path) => run.registry.referencesFrom(path));
  const metadata = dir.metadata;
  const resumeFrom = options.resume ? latestCheckpoint(dir.checkpoints) : null;
  if (options.resume && !resumeFrom) {
    dir.release();
    throw new Error(`${dir.path} has no complete checkpoint to resume from (checkpoints/ is empty); start a new run instead`);
  }
  let resumeStep = 0;
  if (resumeFrom) resumeStep = (JSON.parse(readFileSync(join(resumeFrom, 'state.json'), 'utf8')) as { step: number }).step;
  let metrics: MetricsWriter;
  try {
    metrics = new MetricsWriter(dir.path, options.resume ? resumeStep : undefined);
  } catch (e) {
    dir.fail(e, resumeStep);
    dir.release();
    throw e;
  }
  const loggers: Logger[] = [metrics];
  const log = (step: number, m: Record<string, number>) => loggers.forEach((l) => l.log(step, m));
  let agent: Agent | null = null;
  let sparsifier: SparsifierHooks | null = null;
  let evaluator: Evaluator | null = null;
  let env: Environment | null = null;
  let evalEnv: Environment | null = null;
  let buffer: ReplayBuffer | null = null;
  let rollout: Rollout | null = null;
  let compression: CompressionTracker | null = null;
  let contributions: TrainingContribution[] = [];
  let step = resumeStep;
  let lastEvalReturn: number | null = null;
  let lastReturn: number | null = null;
  let lossSums: Record<string, number> = {};
  let lossCounts: Record<string, number> = {};
  let sparsityNow = 0;
  let progress: Progress | null = null;
  let stopSignal: NodeJS.Signals | null = null;

  const captureEnv = async (e: Environment | null): Promise<EnvironmentSnapshot> => {
    if (!e?.saveState) return { restorable: false, reason: 'the environment plugin cannot save its state (no saveState)' };
    try {
      return await e.saveState();
    } catch (err) {
      return { restorable: false, reason: `saveState failed: ${(err as Error).message}` };
    }
  };
  const checkpoint = async (exact: boolean) => {
    if (!agent || !sparsifier || !buffer || !rollout || !compression) return;
    const trainer: TrainerState = {
      evalCount: evaluator?.evaluations ?? 0, lastEvalReturn, lastReturn, lossSums, lossCounts, sparsityNow,
      compression: compression.state(), rollout: rollout.state(), contributions: contributions.map((c) => c.state?.() ?? null), exact,
    };
    const keepBuffer = config.checkpoint.replayBuffer && buffer.snapshot;
    saveCheckpoint(dir.checkpoints, agent.groups, {
      step, agent: agent.state(), sparsifier: sparsifier.state(), trainer,
      replayBuffer: keepBuffer ? undefined : { saved: false, reason: config.checkpoint.replayBuffer ? 'the replay buffer plugin cannot snapshot (no snapshot())' : 'checkpoint.replayBuffer is false' },
    }, config.checkpoint.keep, { replayBuffer: keepBuffer ? buffer.snapshot!() : null, environments: { train: await captureEnv(env), eval: await captureEnv(evalEnv) } });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopSignal) {
      process.stderr.write(`\n${signal} again: exiting now without a checkpoint (the last one stays)\n`);
      dir.interrupt(signal, step, false);
      dir.release();
      process.exit(signalExitCode(signal));
    }
    stopSignal = signal;
    process.stderr.write(`\n${signal}: finishing step ${step}, then writing a checkpoint (${signal === 'SIGINT' ? 'Ctrl-C again' : 'SIGINT'} to exit at once)\n`);
  };
  if (options.handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  try {
    run.setRunDirectory(dir.path);
    loggers.push(...(await run.getAll<Logger>(Logger)));
    const engine = await run.get<Engine>(Engine);
    metadata.engine = engine.description;
    env = await run.get<Environment>(TrainEnvironment);
    const checked = startedEnvironmentIssues(config, environmentSpec(env));
    if (checked.errors.length > 0) throw new ConfigError(join(dir.path, 'config.json'), checked.errors);
    for (const w of checked.warnings) process.stderr.write(`warning: ${formatIssue(w)}\n`);
    evalEnv = await run.get<Environment>(EvalEnvironment);
    metadata.environment = { ...env.info, observationSpace: env.observationSpace, actionSpace: env.actionSpace, numEnvs: env.numEnvs };
    const restarts = (metadata.restarts as unknown[] | undefined) ?? [];
    for (const [role, e] of [['train', env], ['eval', evalEnv]] as const) {
      e.onRestart?.((r) => {
        restarts.push({ role, step, ...r });
        metadata.restarts = restarts;
        dir.saveMetadata();
        log(step, { [`env/restarts${role === 'eval' ? '_eval' : ''}`]: restarts.filter((x) => (x as { role: string }).role === role).length });
      });
    }
    agent = await run.get<Agent>(Agent);
    sparsifier = await run.get<SparsifierHooks>(Sparsifier);
    buffer = await run.get<ReplayBuffer>(ReplayBuffer);
    agent.checkReplayBuffer?.(buffer);
    contributions = await run.getAll<TrainingContribution>(TrainingContribution);
    const scaler = new ActionScaler(env.actionSpace as BoxSpace);
    const policy = (o: Float32Array, count: number) => agent!.act(o, count, true);
    compression = new CompressionTracker(agent.groups, sparsifier);
    const costMetrics = () => ({ ...(agent!.costModel ? flopsMetrics(agent!.groups, agent!.costModel, sparsifier!) : {}), ...compression!.metrics() });
    const streams = await run.get<RngStreams>(RngStreams);
    rollout = new Rollout(env, agent, buffer, scaler, streams.stream('warmup'), config.runtime.overlapEnvStep);
    evaluator = new Evaluator(evalEnv, agentPolicy(agent, scaler), config.evaluation.episodes, config.seed + config.evaluation.seedOffset, config.evaluation.reseed);
    metadata.status = 'running';
    dir.saveMetadata();
    if (config.output.progress !== 'none') {
      const v = env.info.versions;
      process.stderr.write(
        `${resumeFrom ? `resuming ${dir.path} from ${resumeFrom}` : `run ${dir.path}`}\nengine ${engine.description}; ${env.info.envId} x${env.numEnvs} via bridge ${v.bridge} (Python ${v.python}, Gymnasium ${v.gymnasium}, MuJoCo ${v.mujoco ?? '-'})\n`,
      );
      for (const l of loggers) if (l.location) process.stderr.write(`${l.location}\n`);
    }
    for (const c of contributions) c.onStart?.({ groups: agent.groups, totalSteps: config.totalSteps });
    if (resumeFrom) {
      const ck = loadCheckpoint(resumeFrom, agent.groups);
      const t = ck.state.trainer as TrainerState;
      agent.loadState(ck.state.agent);
      sparsifier.loadState(ck.state.sparsifier);
      contributions.forEach((c, i) => c.loadState?.(t.contributions[i]));
      compression.loadState(t.compression);
      rollout.loadState(t.rollout);
      ({ lastEvalReturn, lastReturn, lossSums, lossCounts, sparsityNow } = t);
      const lost: string[] = [];
      if (!t.exact) lost.push(`the checkpoint was written after a failure at step ${step}; the state between two steps is not guaranteed`);
      if (ck.replayBuffer && buffer.restore) buffer.restore(ck.replayBuffer);
      else lost.push(`replay buffer starts empty: ${ck.replayBuffer ? 'the buffer plugin cannot restore' : (ck.state.replayBuffer as { reason?: string } | undefined)?.reason ?? 'not saved'}`);
      const resumes = (metadata.resumes as Record<string, unknown>[] | undefined) ?? [];
      /** Restores a saved env state; null with the reason when there is none or the env refuses it (e.g. other library versions). */
      const restore = async (e: Environment, role: 'train' | 'eval'): Promise<{ obs: Float32Array } | { reason: string }> => {
        const payload = ck.environments[role];
        if (!payload) return { reason: ck.state.environments?.[role]?.reason ?? 'state not saved' };
        if (!e.restoreState) return { reason: 'the environment plugin cannot restore a state (no restoreState)' };
        try {
          return { obs: await e.restoreState(payload) };
        } catch (err) {
          if (!(err instanceof EnvironmentError) || !/SET_STATE:|cannot restore env state/.test(err.message)) throw err; // a failed bridge stays an error
          return { reason: `the saved state was refused: ${err.message.split('\n')[0]}` };
        }
      };
      const train = await restore(env, 'train');
      if ('obs' in train) rollout.continueFrom(train.obs);
      else {
        const seed = config.seed + RESUME_RESET_SEED_STRIDE * (resumes.length + 1);
        lost.push(`training envs reset with seed ${seed} (${train.reason}); episodes in progress were cut`);
        await rollout.reset(seed);
      }
      const evaluation = await restore(evalEnv, 'eval');
      if ('reason' in evaluation) lost.push(`evaluation env re-seeded with ${config.seed + config.evaluation.seedOffset} (${evaluation.reason})`);
      evaluator.continueAfter(t.evalCount, 'obs' in evaluation);
      resumes.push({ at: new Date().toISOString(), fromStep: step, checkpoint: resumeFrom, exact: lost.length === 0, ...(lost.length ? { lost } : {}) });
      Object.assign(metadata, { resumes, status: 'running' });
      delete metadata.finishedAt;
      dir.saveMetadata();
      for (const l of lost) process.stderr.write(`warning: resume: ${l}\n`);
    } else {
      const initialSparsity = sparsifier.metrics(agent.groups);
      sparsityNow = initialSparsity['sparsity/total'] ?? 0;
      log(0, { ...initialSparsity, ...costMetrics() });
      await rollout.reset(config.seed);
    }

    const n = env.numEnvs;
    progress = new Progress(config.totalSteps, config.output.progress, process.stderr, step);
    let tick = performance.now();
    let tickStep = step;
    let sps = 0;
    let updateMs = 0; // wall time in gradient updates since the last 1000-step tick

    /** One evaluation at `step`; `feed` passes its return to the sparsifier and contributions (not the step-0 one of the untrained policy). */
    const evaluate = async (feed = true) => {
      const r = await evaluator!.evaluate();
      lastEvalReturn = r.meanReturn;
      if (feed) {
        sparsifier!.onEvaluation(r.meanReturn, step);
        for (const c of contributions) c.onEvaluation?.(r.meanReturn, step);
      }
      const sp = sparsifier!.metrics(agent!.groups);
      sparsityNow = sp['sparsity/total'] ?? 0;
      log(step, { 'eval/mean_return': r.meanReturn, 'eval/std_return': r.stdReturn, ...sp, ...costMetrics() });
    };

    /** One gradient update per env step of the vector env (n updates). */
    const update = () => {
      const t0 = performance.now();
      for (let k = 0; k < n; k++) {
        for (const [key, v] of Object.entries(agent!.update(buffer!))) {
          lossSums[key] = (lossSums[key] ?? 0) + v;
          lossCounts[key] = (lossCounts[key] ?? 0) + 1;
        }
      }
      compression!.record(n);
      updateMs += performance.now() - t0;
    };
    if (!resumeFrom && config.evaluation.atStart) await evaluate(false);
    while (step < config.totalSteps && !stopSignal) {
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
        const now = performance.now();
        const stepMs = (now - tick) / (step - tickStep);
        sps = 1000 / stepMs;
        // where the wall time of an env step goes: gradient updates (topology updates included)
        // and everything else (acting, env step not hidden behind updates, buffer, evaluation, bookkeeping)
        const m: Record<string, number> = {
          'time/steps_per_second': sps,
          'time/update_ms_per_step': updateMs / (step - tickStep),
          'time/non_update_ms_per_step': stepMs - updateMs / (step - tickStep),
        };
        tick = now;
        tickStep = step;
        updateMs = 0;
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
      if (crossed(config.checkpoint.interval)) await checkpoint(true);
      progress.update({ step, episodicReturn: lastReturn, evalReturn: lastEvalReturn, sparsity: sparsityNow, stepsPerSecond: sps }, force);
    }
    const wallSeconds = (Date.now() - started) / 1000;
    if (stopSignal) {
      progress.stop();
      if (step % config.checkpoint.interval !== 0) await checkpoint(true);
      dir.interrupt(stopSignal, step, true);
      process.stderr.write(`interrupted at step ${step}; checkpoint written. Continue with: sparse-rl train --resume ${dir.path}\n`);
      return { runDir: dir.path, steps: step, lastEvalReturn, wallSeconds, status: 'interrupted', signal: stopSignal };
    }
    if (step % config.evaluation.interval !== 0) await evaluate();
    if (step % config.checkpoint.interval !== 0) await checkpoint(true);
    for (const c of contributions) await c.onEnd?.();
    progress.stop();
    dir.complete({ steps: step, wallSeconds, lastEvalReturn, evaluations: evaluator.evaluations, finalSparsity: sparsifier.metrics(agent.groups), flops: costMetrics(), bufferSize: buffer.size, engine: engine.description });
    return { runDir: dir.path, steps: step, lastEvalReturn, wallSeconds, status: 'completed' };
  } catch (error) {
    progress?.stop();
    dir.fail(error, step);
    try {
      await checkpoint(false);
    } catch (e) {
      metadata.checkpointError = (e as Error).message;
      dir.fail(error, step);
    }
    throw error;
  } finally {
    if (options.handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    for (const l of loggers) await l.close?.();
    await run.close();
    dir.release();
  }
}

/** `metadata.plugins`: id, source (built-in, file or package), version or sha256 of every plugin the run uses. */
function pluginRecords(run: RunContainer): Record<string, unknown>[] {
  const c = run.config;
  const ids = [`environment.${c.environment.type}`, `agent.${c.agent.type}`, `sparsifier.${c.sparsifier.type}`, `replay-buffer.${c.replayBuffer.type}`, ...c.loggers.map((l) => `logger.${l.type}`)];
  return [...new Set(ids)].map((id) => ({ ...run.registry.source(id) }));
}
