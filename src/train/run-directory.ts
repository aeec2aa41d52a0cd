import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ExperimentConfig } from '../config/experiment-config.js';
import { packageRoot } from '../util/paths.js';
import { sparseRlVersion } from '../util/version.js';
import { RunLock } from './run-lock.js';

/**
 * A failed write of one of a run's files (e.g. `ENOSPC`): names the file; the write's temporary
 * file has been removed. `code` is the system error code.
 */
export class RunWriteError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(`writing ${file} failed: ${(cause as Error).message}`, { cause });
    this.name = 'RunWriteError';
    this.code = (cause as NodeJS.ErrnoException).code;
  }
}

/**
 * Writes `data` to `file` through `<file>.tmp` and a rename, so readers see the old or the new
 * content, never a torn one.
 * @throws RunWriteError naming `file` (the temporary file removed) when the write fails
 */
export function writeFileAtomic(file: string, data: string | NodeJS.ArrayBufferView): void {
  const tmp = `${file}.tmp`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new RunWriteError(file, e);
  }
}

const finite = (_key: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf') : v);

/** Writes `file` atomically (`writeFileAtomic`); ±Infinity and NaN become the strings "inf", "-inf", "nan". @throws RunWriteError */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, finite, 2)}\n`);
}

/** The commit of sparse-rl's own checkout, or null (an installed package inside another git project has none). */
function gitCommit(): string | null {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: packageRoot(), stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return realpathSync(git('rev-parse', '--show-toplevel')) === realpathSync(packageRoot()) ? git('rev-parse', 'HEAD') : null;
  } catch {
    return null;
  }
}

/** Run status in `metadata.json`. */
export type RunStatus = 'starting' | 'running' | 'completed' | 'failed' | 'interrupted';

/**
 * Creates `path` as a new, empty run directory (parents as needed) — exclusively, so two runs
 * started in the same millisecond never share one: when `exclusiveSuffix` is set and `path`
 * exists, `path-1`, `path-2`, … are tried.
 * @throws Error when `path` exists and is not empty (and no suffix is allowed): it names `--resume`
 */
function createExclusive(path: string, exclusiveSuffix: boolean): string {
  mkdirSync(dirname(path), { recursive: true });
  for (let k = 0; ; k++) {
    const candidate = k === 0 ? path : `${path}-${k}`;
    try {
      mkdirSync(candidate);
      return candidate;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RunWriteError(candidate, e);
      if (!exclusiveSuffix) {
        if (readdirSync(candidate).length === 0) return candidate;
        const what = existsSync(join(candidate, 'metadata.json')) ? 'holds a run' : 'is not empty';
        throw new Error(`run directory ${candidate} ${what}; continue it with \`sparse-rl train --resume ${candidate}\`, or choose another --run-dir`);
      }
    }
  }
}

/** Temporary files a killed writer can leave (`*.tmp`, `.step-*.tmp-*` checkpoint folders). */
function removeTemporaries(dir: string): string[] {
  const removed: string[] = [];
  const visit = (d: string) => {
    if (!existsSync(d)) return;
    for (const f of readdirSync(d)) {
      if (f.endsWith('.tmp') || /^\.step-\d+\.tmp-\d+$/.test(f)) {
        rmSync(join(d, f), { recursive: true, force: true });
        removed.push(join(d, f));
      }
    }
  };
  visit(dir);
  visit(join(dir, 'checkpoints'));
  return removed;
}

/**
 * A run's directory `<output.dir>/<name>/<timestamp>/` (or the one given): `config.json` (the
 * validated config, written once), `metadata.json` (status, versions, seeds, plugins, git
 * commit, resumes, restarts; rewritten atomically on every change), `summary.json`, the
 * `checkpoints/` folder and the `.lock` of its one writer (`RunLock`). Metrics files are the
 * `MetricsWriter`'s.
 */
export class RunDirectory {
  /** The metadata record; change it, then `saveMetadata()`. */
  readonly metadata: Record<string, unknown>;

  private constructor(
    readonly path: string,
    metadata: Record<string, unknown>,
    private readonly lock: RunLock,
  ) {
    this.metadata = metadata;
  }

  /**
   * Creates a new run directory (exclusively, see `createExclusive`), takes its lock, writes
   * `config.json` (its `plugins` rewritten by `pluginReferences` so that they resolve from the run
   * directory) and a `starting` `metadata.json`.
   * @throws Error when the given `path` already holds a run; RunWriteError when a write fails
   */
  static create(config: ExperimentConfig, started: number, path?: string, extra: Record<string, unknown> = {}, pluginReferences?: (dir: string) => string[]): RunDirectory {
    const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
    const dir = createExclusive(path ? resolve(path) : resolve(config.output.dir, config.name, stamp), path === undefined);
    const lock = RunLock.acquire(dir);
    try {
      writeJsonAtomic(join(dir, 'config.json'), pluginReferences ? { ...config, plugins: pluginReferences(dir) } : config);
      const metadata = {
        name: config.name, status: 'starting', startedAt: new Date(started).toISOString(),
        versions: { sparseRl: sparseRlVersion(), node: process.version },
        seeds: { run: config.seed, trainEnv: config.seed, evalEnv: config.seed + config.evaluation.seedOffset },
        gitCommit: gitCommit(), ...extra,
      };
      const run = new RunDirectory(dir, metadata, lock);
      run.saveMetadata();
      return run;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /**
   * Opens an existing run directory to resume it: takes its lock (a stale one is taken over with
   * a warning), removes temporary files a killed writer left, and reads `metadata.json`.
   * @throws Error naming the directory when it holds no run; RunLockedError when a live process holds it
   */
  static open(path: string): RunDirectory {
    const dir = resolve(path);
    const file = join(dir, 'metadata.json');
    if (!existsSync(file)) throw new Error(`${dir} is not a run directory (no metadata.json)`);
    const lock = RunLock.acquire(dir);
    try {
      removeTemporaries(dir);
      const metadata = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      return new RunDirectory(dir, metadata, lock);
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /** Where checkpoints go. */
  get checkpoints(): string {
    return join(this.path, 'checkpoints');
  }

  /** @throws RunWriteError naming metadata.json */
  saveMetadata(): void {
    writeJsonAtomic(join(this.path, 'metadata.json'), this.metadata);
  }

  /**
   * Writes the final status even on a full disk: atomically when possible, else in place
   * (truncating the old file frees its blocks first). Never throws.
   */
  private saveFinalMetadata(): void {
    try {
      this.saveMetadata();
    } catch {
      try {
        writeFileSync(join(this.path, 'metadata.json'), `${JSON.stringify(this.metadata, finite, 2)}\n`);
      } catch {
        // nothing more can be done on this disk; the error itself is reported by the caller
      }
    }
  }

  /** Marks the run completed, writes `summary.json` and releases the lock. @throws RunWriteError */
  complete(summary: Record<string, unknown>): void {
    writeJsonAtomic(join(this.path, 'summary.json'), summary);
    this.metadata.status = 'completed' satisfies RunStatus;
    this.metadata.finishedAt = new Date().toISOString();
    this.saveMetadata();
  }

  /** Marks the run interrupted by `signal` at `step` (a checkpoint there when `checkpointed`). Never throws. */
  interrupt(signal: NodeJS.Signals, step: number, checkpointed: boolean): void {
    Object.assign(this.metadata, { status: 'interrupted' satisfies RunStatus, finishedAt: new Date().toISOString(), interruptedAtStep: step, interruptedBy: signal, checkpointedAtInterrupt: checkpointed });
    this.saveFinalMetadata();
  }

  /** Marks the run failed at `step`, recording the error and whatever details it carries (plugin id, stack, env stderr, file). Never throws. */
  fail(error: unknown, step: number): void {
    const e = error as Error & { file?: string; code?: string; details?: object };
    this.metadata.status = 'failed' satisfies RunStatus;
    this.metadata.finishedAt = new Date().toISOString();
    this.metadata.failedAtStep = step;
    this.metadata.error = { name: e.name, message: e.message, ...(e.file ? { file: e.file, code: e.code } : {}), ...(e.details ?? {}) };
    this.saveFinalMetadata();
  }

  /** Releases the directory's lock; safe to call twice. */
  release(): void {
    this.lock.release();
  }
}
