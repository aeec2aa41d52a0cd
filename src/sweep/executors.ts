import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';
import type { ValidatedRun } from './expand.js';
import { classifyExit, planRun, type AttemptOutcome, type RunAction } from './sweep-directory.js';

/** What an executor reports while it runs a sweep's runs. */
export interface SweepEvents {
  /** An attempt of `run` was started (local) or submitted (Ray: `queued` until its trainer runs). */
  started(run: string, attempt: number, action: RunAction, state: 'running' | 'queued'): void;
  /** An attempt ended; `retryAt` is the next attempt's number when it is retried. */
  finished(run: string, attempt: number, outcome: AttemptOutcome & { exitCode?: number | null }, retryAt?: number): void;
}

/** What both executors are given. */
export interface ExecutorContext {
  readonly runs: readonly ValidatedRun[];
  readonly runDir: (name: string) => string;
  readonly logFile: (name: string) => string;
  /** Retries of a failed / preempted run (each resumes from the last checkpoint). */
  readonly maxRetries: number;
  readonly events: SweepEvents;
  /** Node executable and the CLI script (`dist/src/cli/main.js`) the runs are started with. */
  readonly node: string;
  readonly cli: string;
}

/** `<package root>/dist/src/cli/main.js`: the built CLI each run is started with. */
export function builtCli(): string {
  return join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
}

/** A local sweep's handle: `stop(signal)` forwards the signal to every trainer (each checkpoints) and starts nothing more. */
export interface RunningSweep {
  readonly done: Promise<{ interrupted: boolean }>;
  stop(signal: NodeJS.Signals): void;
}

/**
 * Runs the sweep locally, `workers` runs at a time, each as a separate `node <cli> train ...`
 * process (output appended to its log). Each attempt resumes a run with a checkpoint and starts
 * one without afresh (its folder removed); a failed or interrupted attempt that is not a
 * configuration error is retried up to `maxRetries` times.
 */
export function runLocal(ctx: ExecutorContext, workers: number): RunningSweep {
  const queue = ctx.runs.map((r) => ({ run: r, attempt: 1 }));
  const children = new Set<ChildProcess>();
  let stopping: NodeJS.Signals | null = null;

  const attemptOnce = (run: ValidatedRun, attempt: number): Promise<AttemptOutcome & { exitCode: number | null }> => {
    const dir = ctx.runDir(run.name);
    const action = planRun(dir);
    if (action === 'skip') return Promise.resolve({ status: 'completed', retryable: false, exitCode: 0 });
    if (action === 'fresh') rmSync(dir, { recursive: true, force: true });
    const args = action === 'resume' ? ['train', '--resume', dir] : ['train', ...run.trainArgs, '--run-dir', dir];
    const fd = openSync(ctx.logFile(run.name), 'a');
    writeSync(fd, `=== sweep attempt ${attempt} (${action}) at ${new Date().toISOString()}: ${ctx.node} ${ctx.cli} ${args.join(' ')}\n`);
    ctx.events.started(run.name, attempt, action, 'running');
    return new Promise((resolveAttempt) => {
      // its own process group: a Ctrl-C at the terminal reaches the sweep only, which sends one SIGTERM
      const child = spawn(ctx.node, [ctx.cli, ...args], { stdio: ['ignore', fd, fd], detached: true });
      children.add(child);
      const settle = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
        children.delete(child);
        const exitCode = code ?? (signal ? 128 + ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] : null);
        try {
          writeSync(fd, `=== sweep attempt ${attempt} exited ${exitCode}${error ? ` (${error.message})` : ''}\n`);
        } finally {
          closeSync(fd);
        }
        if (error) resolveAttempt({ status: 'failed', retryable: false, message: `could not start ${ctx.node}: ${error.message}`, exitCode: null });
        else resolveAttempt({ ...classifyExit(dir, exitCode ?? 1), exitCode });
      };
      child.once('error', (e) => settle(null, null, e));
      child.once('exit', (code, signal) => settle(code, signal));
    });
  };

  const worker = async () => {
    for (;;) {
      if (stopping) return;
      const next = queue.shift();
      if (!next) return;
      const outcome = await attemptOnce(next.run, next.attempt);
      const retry = outcome.status !== 'completed' && outcome.retryable && next.attempt <= ctx.maxRetries && !stopping;
      if (outcome.status === 'interrupted' && stopping) ctx.events.finished(next.run.name, next.attempt, { ...outcome, retryable: false });
      else ctx.events.finished(next.run.name, next.attempt, outcome, retry ? next.attempt + 1 : undefined);
      if (retry) queue.unshift({ run: next.run, attempt: next.attempt + 1 });
    }
  };
  const done = Promise.all(Array.from({ length: Math.max(1, Math.min(workers, queue.length)) }, worker)).then(() => ({ interrupted: stopping !== null }));
  return {
    done,
    stop(signal) {
      if (stopping) return;
      stopping = signal;
      for (const c of children) c.kill('SIGTERM');
    },
  };
}

/** Options of the Ray executor. */
export interface RayOptions {
  /** `host:port` of the head's GCS, or `auto`. */
  readonly address: string;
  /** The Python with `ray` (and the bridge package on PYTHONPATH). */
  readonly python: string;
  /** Where the driver's spec and log go (the sweep directory). */
  readonly sweepDir: string;
  /** Environment variables of the trainers on the workers (SPARSE_RL_PYTHON when set). */
  readonly env: Readonly<Record<string, string>>;
  /** A lock held by another host is taken over when its run directory has not changed for this long. */
  readonly staleLockSeconds: number;
}

/**
 * Runs the sweep on a Ray cluster: writes `<sweep dir>/ray/spec.json` and starts the driver
 * `python -m sparse_rl_bridge.ray_sweep --spec FILE` (bridge-python/src on PYTHONPATH), which
 * submits one task per run and reports `SPARSE_RL_SWEEP {json}` lines on stdout; the driver's
 * stderr (Ray's own logging) goes to `<sweep dir>/ray/driver.log`. `stop` sends it SIGTERM: it
 * cancels the tasks (force), so each trainer gets SIGTERM from its dying worker and checkpoints.
 */
export function runRay(ctx: ExecutorContext, ray: RayOptions): RunningSweep {
  const specDir = join(ray.sweepDir, 'ray');
  rmSync(specDir, { recursive: true, force: true });
  const specFile = join(specDir, 'spec.json');
  const spec = {
    address: ray.address,
    maxRetries: ctx.maxRetries,
    common: { node: ctx.node, cli: ctx.cli, cwd: process.cwd(), env: ray.env, staleLockSeconds: ray.staleLockSeconds },
    runs: ctx.runs.map((r) => ({ name: r.name, runDir: ctx.runDir(r.name), log: ctx.logFile(r.name), trainArgs: r.trainArgs, threads: r.config.runtime.threads })),
  };
  mkdirSync(specDir, { recursive: true });
  writeFileSync(specFile, `${JSON.stringify(spec, null, 2)}\n`);
  const logFd = openSync(join(specDir, 'driver.log'), 'a');
  const bridgeSrc = join(packageRoot(), 'bridge-python', 'src');
  const env = { ...process.env, PYTHONPATH: [bridgeSrc, process.env.PYTHONPATH].filter(Boolean).join(':'), PYTHONUNBUFFERED: '1' };
  const child = spawn(ray.python, ['-m', 'sparse_rl_bridge.ray_sweep', '--spec', specFile], { stdio: ['ignore', 'pipe', logFd], env });
  let fatal: string | null = null;
  let interrupted = false;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    if (!line.startsWith('SPARSE_RL_SWEEP ')) return;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line.slice('SPARSE_RL_SWEEP '.length)) as Record<string, unknown>;
    } catch {
      return;
    }
    const run = e.run as string;
    const attempt = e.attempt as number;
    if (e.event === 'submitted') ctx.events.started(run, attempt, e.mode as RunAction, 'queued');
    else if (e.event === 'finished') {
      const outcome = { status: e.status as AttemptOutcome['status'], retryable: Boolean(e.retryable), message: e.message as string | undefined, exitCode: (e.exitCode as number | undefined) ?? null };
      ctx.events.finished(run, attempt, outcome, (e.retryAt as number | undefined) ?? undefined);
    } else if (e.event === 'done') interrupted = Boolean(e.interrupted);
    else if (e.event === 'error') fatal = String(e.message);
  });
  const done = new Promise<{ interrupted: boolean }>((resolveDone, reject) => {
    child.once('error', (e) => reject(new Error(`could not start the Ray driver with ${ray.python}: ${e.message}; run \`npm run setup\` or pass --python`)));
    child.once('close', (code) => {
      closeSync(logFd);
      if (fatal) reject(new Error(`Ray driver (${ray.address}): ${fatal} (driver log: ${join(specDir, 'driver.log')})`));
      else if (code !== 0 && !interrupted) reject(new Error(`the Ray driver exited ${code}; see ${join(specDir, 'driver.log')}`));
      else resolveDone({ interrupted });
    });
  });
  return {
    done,
    stop() {
      interrupted = true;
      child.kill('SIGTERM');
    },
  };
}
