import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { latestCheckpoint } from '../train/checkpoint.js';
import { RunLock } from '../train/run-lock.js';
import { writeJsonAtomic } from '../train/run-directory.js';
import type { ExperimentConfig } from '../config/experiment-config.js';
import { ConfigError, formatIssue, loadConfig } from '../config/validate.js';
import type { ValidatedRun } from './expand.js';
import type { SweepFile } from './sweep-file.js';

/** What a run of a sweep needs: nothing (`skip`: completed), `resume` from its checkpoint, or a `fresh` start. */
export type RunAction = 'skip' | 'resume' | 'fresh';

/** Status of a run in the sweep manifest. */
export type SweepRunStatus = 'pending' | 'running' | 'completed' | 'failed' | 'interrupted';

/** One run's record in `manifest.json`. */
export interface ManifestRun {
  readonly name: string;
  readonly method: string;
  readonly env: string;
  readonly seed: number;
  readonly recipe: string;
  /** Relative to the sweep directory: `runs/<name>`. */
  readonly runDir: string;
  status: SweepRunStatus;
  /** Attempts started by sweep invocations (all of them, over re-runs). */
  attempts: number;
  lastExitCode?: number | null;
  message?: string;
}

/** `manifest.json` of a sweep directory. */
export interface Manifest {
  readonly sweep: string;
  readonly sweepFile: string;
  readonly createdAt: string;
  updatedAt: string;
  /** `completed` when every run is; `failed` when the sweep ended with failed runs; `interrupted` when stopped. */
  status: 'running' | 'completed' | 'failed' | 'interrupted';
  mode: string;
  counts: Record<SweepRunStatus, number>;
  runs: ManifestRun[];
}

/** A run directory's `metadata.json`, or null. */
export function readRunMetadata(runDir: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(join(runDir, 'metadata.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** What `runDir` needs (the same rule as the Ray driver's `plan`): completed → skip; a complete checkpoint → resume; else fresh. */
export function planRun(runDir: string): RunAction {
  if (readRunMetadata(runDir)?.status === 'completed') return 'skip';
  return latestCheckpoint(join(runDir, 'checkpoints')) ? 'resume' : 'fresh';
}

/** The holder of `<runDir>/.lock` when it is a live process on this host, else null (another host's lock is not judged here). */
export function liveLockHolder(runDir: string): { pid: number; hostname: string } | null {
  try {
    const h = JSON.parse(readFileSync(join(runDir, '.lock'), 'utf8')) as { pid: number; hostname: string };
    if (h.hostname !== hostname()) return null;
    process.kill(h.pid, 0);
    return h;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? { pid: -1, hostname: hostname() } : null;
  }
}

/** The outcome of one trainer process (the same rule as the Ray driver's `classify`). */
export interface AttemptOutcome {
  readonly status: 'completed' | 'interrupted' | 'failed' | 'lost';
  /** false for a configuration error (retrying cannot help). */
  readonly retryable: boolean;
  readonly message?: string;
}

/** Classifies a trainer's exit from its code and the run's `metadata.json`. */
export function classifyExit(runDir: string, exitCode: number): AttemptOutcome {
  const meta = readRunMetadata(runDir);
  const status = meta?.status as string | undefined;
  const error = meta?.error as { name?: string; message?: string } | undefined;
  if (exitCode === 0 && status === 'completed') return { status: 'completed', retryable: false };
  if (exitCode === 130 || exitCode === 143) return { status: 'interrupted', retryable: true, message: `trainer exited ${exitCode} (signal), status ${status}` };
  const configError = (exitCode === 1 && !meta) || error?.name === 'ConfigError';
  return { status: 'failed', retryable: !configError, message: error?.message ?? `trainer exited ${exitCode} (status ${status ?? 'none'})` };
}

/** Paths whose values differ between two JSON values (at most `limit`). */
function differences(a: unknown, b: unknown, path = '', out: string[] = [], limit = 5): string[] {
  if (out.length >= limit) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k, out, limit);
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push(`${path || '(root)'}: ${JSON.stringify(b)} in the run, ${JSON.stringify(a)} in the sweep`);
  }
  return out;
}

/**
 * A sweep's directory `<storage>/<sweep name>/`: `sweep.json` (a copy of the sweep file),
 * `manifest.json` (every run's status, attempts, last exit code; rewritten atomically),
 * `runs/<run>/` (the run directories), `logs/<run>.log` (each run's trainer output, all
 * attempts appended) and the `.lock` of the one sweep process driving it.
 */
export class SweepDirectory {
  /** The manifest; change it, then `save()`. */
  readonly manifest: Manifest;

  private constructor(
    readonly path: string,
    manifest: Manifest,
    private readonly lock: RunLock,
  ) {
    this.manifest = manifest;
  }

  /**
   * Opens (creating when needed) the directory of `sweep` under `storage`, takes its lock and
   * merges the runs into its manifest (a run's attempts carry over; its status is re-read from
   * its run directory).
   * @throws RunLockedError when another live sweep process drives this directory
   */
  static open(storage: string, sweep: SweepFile, sweepFile: string, runs: readonly ValidatedRun[], mode: string): SweepDirectory {
    const path = resolve(storage, sweep.name);
    mkdirSync(join(path, 'runs'), { recursive: true });
    mkdirSync(join(path, 'logs'), { recursive: true });
    const lock = RunLock.acquire(path);
    try {
      copyFileSync(sweepFile, join(path, 'sweep.json'));
      let previous: Manifest | null = null;
      try {
        previous = JSON.parse(readFileSync(join(path, 'manifest.json'), 'utf8')) as Manifest;
      } catch {
        previous = null;
      }
      const old = new Map((previous?.runs ?? []).map((r) => [r.name, r]));
      const now = new Date().toISOString();
      const manifest: Manifest = {
        sweep: sweep.name, sweepFile: resolve(sweepFile), createdAt: previous?.createdAt ?? now, updatedAt: now, status: 'running', mode,
        counts: { pending: 0, running: 0, completed: 0, failed: 0, interrupted: 0 },
        runs: runs.map((r) => ({
          name: r.name, method: r.method, env: r.env, seed: r.seed, recipe: r.recipe, runDir: join('runs', r.name),
          status: readRunMetadata(join(path, 'runs', r.name))?.status === 'completed' ? 'completed' : 'pending',
          attempts: old.get(r.name)?.attempts ?? 0,
          ...(old.get(r.name)?.lastExitCode !== undefined ? { lastExitCode: old.get(r.name)!.lastExitCode } : {}),
        })),
      };
      const dir = new SweepDirectory(path, manifest, lock);
      dir.save();
      return dir;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /** The run directory of run `name`. */
  runDir(name: string): string {
    return join(this.path, 'runs', name);
  }

  /** The log file of run `name`. */
  logFile(name: string): string {
    return join(this.path, 'logs', `${name}.log`);
  }

  /** The manifest record of run `name`. */
  run(name: string): ManifestRun {
    const r = this.manifest.runs.find((x) => x.name === name);
    if (!r) throw new Error(`sweep ${this.manifest.sweep}: no run ${name}`);
    return r;
  }

  /**
   * Why the existing run directory of `run` cannot be continued by this sweep: the fields of its
   * `config.json`, loaded as `train --resume` loads it (validated by today's schema, so a default
   * added since it was written is filled in and is no difference), that differ from the run's
   * config now (ignoring `$schema`, `plugins`, `runtime`, `output`); the reason when it no longer
   * validates; [] when it has none yet or it cannot be parsed (the run starts afresh).
   */
  async configMismatch(run: ValidatedRun): Promise<string[]> {
    const file = join(this.runDir(run.name), 'config.json');
    if (!existsSync(file)) return [];
    try {
      JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return [];
    }
    let existing: ExperimentConfig;
    try {
      existing = (await loadConfig(file)).config;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return [`its config.json no longer validates: ${e.issues.map(formatIssue).join('; ')}`];
    }
    const strip = (c: ExperimentConfig) => {
      const { $schema: _s, plugins: _p, runtime: _r, output: _o, ...rest } = c as unknown as Record<string, unknown>;
      return JSON.parse(JSON.stringify(rest)) as unknown;
    };
    return differences(strip(run.config), strip(existing));
  }

  /** Recounts and writes `manifest.json` atomically. */
  save(): void {
    const counts: Record<SweepRunStatus, number> = { pending: 0, running: 0, completed: 0, failed: 0, interrupted: 0 };
    for (const r of this.manifest.runs) counts[r.status]++;
    this.manifest.counts = counts;
    this.manifest.updatedAt = new Date().toISOString();
    writeJsonAtomic(join(this.path, 'manifest.json'), this.manifest);
  }

  /** Releases the sweep's lock; safe to call twice. */
  release(): void {
    this.lock.release();
  }
}
