import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ConfigError, type ConfigIssue } from '../config/validate.js';
import { defaultPython } from '../util/paths.js';
import { builtCli, runLocal, runRay, type RunningSweep, type SweepEvents } from './executors.js';
import { expandSweep, validateRuns, type ValidatedRun } from './expand.js';
import { SweepProgress } from './progress.js';
import { liveLockHolder, planRun, SweepDirectory, type Manifest, type RunAction } from './sweep-directory.js';
import { readSweepFile } from './sweep-file.js';

/** Options of {@link runSweep} (the `sparse-rl sweep` flags). */
export interface SweepOptions {
  /** Local runs at a time (default 1); ignored with `ray`. */
  readonly workers?: number;
  /** Ray address (`host:port` or `auto`): submit the runs to that cluster instead of running them here. */
  readonly ray?: string;
  /** Root of sweep directories (default: the sweep's `output`); with Ray it must be storage every worker sees at the same path. */
  readonly storage?: string;
  /** Retries of a failed / preempted run (default: the sweep's `maxRetries`, 2). */
  readonly maxRetries?: number;
  /**
   * `runtime.threads` of each run unless the sweep sets it. Default: locally
   * max(1, floor(cores / workers)); on Ray, the recipe's own (each task asks for that many CPUs).
   */
  readonly threadsPerRun?: number;
  /** Python of the Ray driver (default `$SPARSE_RL_PYTHON` or `.venv/bin/python`). */
  readonly python?: string;
  readonly progress?: 'auto' | 'bar' | 'lines' | 'none';
  /** Validate and print the plan; start nothing. */
  readonly dryRun?: boolean;
  /** Node and CLI script of the runs (default: this Node and `<root>/dist/src/cli/main.js`; on Ray, paths on the workers). */
  readonly node?: string;
  readonly cli?: string;
  /** Ray: a lock of a run held by another host counts as left by a lost node after this many seconds without change (default 120). */
  readonly staleLockSeconds?: number;
  /** Where messages go (default stderr). */
  readonly stream?: NodeJS.WriteStream;
}

/** What {@link runSweep} returns. */
export interface SweepResult {
  /** The sweep directory. */
  readonly dir: string;
  /** The manifest (undefined for a dry run, which writes nothing). */
  readonly manifest?: Manifest;
  /** Attempts started by this invocation (0 when everything was complete). */
  readonly attemptsStarted: number;
  /** Set when the sweep was stopped by a signal. */
  readonly signal?: NodeJS.Signals;
  /** What each run needed when the sweep started. */
  readonly plan: ReadonlyMap<string, RunAction>;
}

/**
 * `sparse-rl sweep SWEEP.json`: validates the sweep file, expands its grid and validates every
 * run (as `train` will) before anything starts, opens the sweep directory (refusing runs whose
 * existing directory was made with another config), then runs what is left — completed runs are
 * skipped, interrupted / failed ones with a checkpoint resumed, the others started fresh —
 * locally (`workers` processes) or on Ray, retrying failed or preempted runs. Progress goes to
 * `options.stream`; the manifest is updated on every event.
 * @throws ConfigError naming the sweep file (and the run and field) for an invalid sweep or run;
 *   Error for a run in use, a missing build, a Ray driver that cannot connect
 */
export async function runSweep(file: string, options: SweepOptions = {}): Promise<SweepResult> {
  const stream = options.stream ?? process.stderr;
  const sweep = readSweepFile(file);
  const workers = Math.max(1, options.workers ?? 1);
  const threads = options.threadsPerRun ?? (options.ray ? undefined : Math.max(1, Math.floor(availableParallelism() / workers)));
  const runs = await validateRuns(expandSweep(sweep, file, { threads }), file, (m) => stream.write(`warning: ${m}\n`));
  const maxRetries = options.maxRetries ?? sweep.maxRetries ?? 2;
  const storage = options.storage ?? sweep.output;
  const node = options.node ?? process.execPath;
  const cli = options.cli ?? builtCli();
  if (!options.cli && !existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (each run is started as \`node ${relative(process.cwd(), cli)} train ...\`)`);
  const mode = options.ray ? `ray ${options.ray}` : `local, ${workers} worker(s)`;
  if (options.dryRun) {
    const path = resolve(storage, sweep.name);
    const plan = new Map(runs.map((r) => [r.name, planRun(join(path, 'runs', r.name))] as const));
    const n = (a: RunAction) => runs.filter((r) => plan.get(r.name) === a).length;
    stream.write(`sweep ${sweep.name}: ${runs.length} runs in ${path} (${n('skip')} completed, ${n('resume')} to resume, ${n('fresh')} to start); ${mode}, ${maxRetries} retries\n`);
    for (const r of runs) stream.write(`  ${plan.get(r.name)!.padEnd(6)} ${r.name}: train ${r.trainArgs.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
    return { dir: path, attemptsStarted: 0, plan };
  }
  const dir = SweepDirectory.open(storage, sweep, file, runs, mode);
  try {
    const plan = new Map<string, RunAction>();
    const issues: ConfigIssue[] = [];
    for (const r of runs) {
      const runDir = dir.runDir(r.name);
      const action = planRun(runDir);
      plan.set(r.name, action);
      const holder = liveLockHolder(runDir);
      if (holder) issues.push({ path: `run ${r.name}`, message: `${runDir} is in use by pid ${holder.pid}; wait for it or stop it` });
      if (action === 'fresh') continue;
      const diff = await dir.configMismatch(r);
      if (diff.length > 0) issues.push({ path: `run ${r.name}`, message: `${runDir} was made with another config (${diff.join('; ')}); delete it or give the sweep another name` });
    }
    if (issues.length > 0) throw new ConfigError(file, issues);
    const todo = runs.filter((r) => plan.get(r.name) !== 'skip');
    const counts = (a: RunAction) => runs.filter((r) => plan.get(r.name) === a).length;
    stream.write(`sweep ${sweep.name}: ${runs.length} runs in ${dir.path} (${counts('skip')} completed, ${counts('resume')} to resume, ${counts('fresh')} to start); ${mode}, ${maxRetries} retries\n`);
    if (todo.length === 0) {
      dir.manifest.status = 'completed';
      dir.save();
      stream.write(`nothing to do: all ${runs.length} runs are completed\n`);
      return { dir: dir.path, manifest: dir.manifest, attemptsStarted: 0, plan };
    }
    return await execute(dir, runs, todo, plan, { ...options, maxRetries, node, cli, workers, stream });
  } finally {
    dir.release();
  }
}

async function execute(
  dir: SweepDirectory, runs: readonly ValidatedRun[], todo: readonly ValidatedRun[], plan: Map<string, RunAction>,
  o: SweepOptions & { maxRetries: number; node: string; cli: string; workers: number; stream: NodeJS.WriteStream },
): Promise<SweepResult> {
  const progress = new SweepProgress(runs.map((r) => ({ name: r.name, runDir: dir.runDir(r.name), totalSteps: r.config.totalSteps })), o.progress ?? 'auto', o.stream);
  for (const r of runs) if (plan.get(r.name) === 'skip') progress.skipped(r.name);
  let attemptsStarted = 0;
  const events: SweepEvents = {
    started(name, attempt, action, state) {
      attemptsStarted++;
      const m = dir.run(name);
      m.status = 'running';
      m.attempts++;
      dir.save();
      progress.started(name, attempt, action, state);
    },
    finished(name, _attempt, outcome, retryAt) {
      const m = dir.run(name);
      m.lastExitCode = outcome.exitCode ?? null;
      if (outcome.message) m.message = outcome.message;
      else delete m.message;
      m.status = retryAt !== undefined ? 'pending' : outcome.status === 'completed' ? 'completed' : outcome.status === 'interrupted' ? 'interrupted' : 'failed';
      dir.save();
      progress.finished(name, retryAt !== undefined ? 'retrying' : m.status === 'completed' ? 'completed' : m.status === 'interrupted' ? 'interrupted' : 'failed', outcome.status === 'completed' ? undefined : `${outcome.message ?? outcome.status}${retryAt !== undefined ? ` (attempt ${retryAt} resumes from the last checkpoint)` : ''}; log ${dir.logFile(name)}`);
    },
  };
  const ctx = { runs: todo, runDir: (n: string) => dir.runDir(n), logFile: (n: string) => dir.logFile(n), maxRetries: o.maxRetries, events, node: o.node, cli: o.cli };
  const env: Record<string, string> = {};
  if (process.env.SPARSE_RL_PYTHON) env.SPARSE_RL_PYTHON = process.env.SPARSE_RL_PYTHON;
  const running: RunningSweep = o.ray
    ? runRay(ctx, { address: o.ray, python: o.python ?? defaultPython(), sweepDir: dir.path, env, staleLockSeconds: o.staleLockSeconds ?? 120 })
    : runLocal(ctx, o.workers);
  let signal: NodeJS.Signals | undefined;
  const onSignal = (s: NodeJS.Signals) => {
    if (signal) return;
    signal = s;
    progress.line(`${s}: stopping the sweep; every running trainer writes a checkpoint (re-run the sweep to continue)`);
    running.stop(s);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  progress.start();
  try {
    const { interrupted } = await running.done;
    const statuses = dir.manifest.runs.map((r) => r.status);
    for (const r of dir.manifest.runs) if (r.status === 'running' || r.status === 'pending') r.status = interrupted ? 'interrupted' : 'failed';
    dir.manifest.status = interrupted || signal ? 'interrupted' : statuses.every((s) => s === 'completed') ? 'completed' : 'failed';
    dir.save();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.stop();
  }
  o.stream.write(`sweep ${dir.manifest.sweep} ${dir.manifest.status}: ${progress.summary()}; manifest ${dir.path}/manifest.json\n`);
  return { dir: dir.path, manifest: dir.manifest, attemptsStarted, signal, plan };
}
