import { execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ExperimentConfig } from '../config/experiment-config.js';
import { packageRoot } from '../util/paths.js';
import { sparseRlVersion } from '../util/version.js';

/** Writes `file` atomically (temp file + rename); ±Infinity and NaN become the strings "inf", "-inf", "nan". */
export function writeJsonAtomic(file: string, value: unknown): void {
  const finite = (_key: string, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf') : v;
  writeFileSync(`${file}.tmp`, `${JSON.stringify(value, finite, 2)}\n`);
  renameSync(`${file}.tmp`, file);
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

/**
 * A run's directory `<output.dir>/<name>/<timestamp>/` (or the one given): `config.json` (the
 * validated config, written once), `metadata.json` (status, versions, seeds, plugins, git
 * commit; rewritten atomically on every change), `summary.json`, and the `checkpoints/` folder.
 * Metrics files are the `MetricsWriter`'s.
 */
export class RunDirectory {
  readonly path: string;
  /** The metadata record; change it, then `saveMetadata()`. */
  readonly metadata: Record<string, unknown>;

  /**
   * Creates the folder and writes `config.json` (its `plugins` rewritten by `pluginReferences`
   * so that they resolve from the run directory) and a `starting` `metadata.json`.
   */
  constructor(config: ExperimentConfig, started: number, path?: string, extra: Record<string, unknown> = {}, pluginReferences?: (dir: string) => string[]) {
    const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
    this.path = path ?? resolve(config.output.dir, config.name, stamp);
    mkdirSync(this.path, { recursive: true });
    writeJsonAtomic(join(this.path, 'config.json'), pluginReferences ? { ...config, plugins: pluginReferences(this.path) } : config);
    this.metadata = {
      name: config.name, status: 'starting', startedAt: new Date(started).toISOString(),
      versions: { sparseRl: sparseRlVersion(), node: process.version },
      seeds: { run: config.seed, trainEnv: config.seed, evalEnv: config.seed + config.evaluation.seedOffset },
      gitCommit: gitCommit(), ...extra,
    };
    this.saveMetadata();
  }

  /** Where checkpoints go. */
  get checkpoints(): string {
    return join(this.path, 'checkpoints');
  }

  saveMetadata(): void {
    writeJsonAtomic(join(this.path, 'metadata.json'), this.metadata);
  }

  /** Marks the run completed and writes `summary.json`. */
  complete(summary: Record<string, unknown>): void {
    writeJsonAtomic(join(this.path, 'summary.json'), summary);
    this.metadata.status = 'completed';
    this.metadata.finishedAt = new Date().toISOString();
    this.saveMetadata();
  }

  /** Marks the run failed at `step`, recording the error and whatever details it carries (plugin id, stack, env stderr). */
  fail(error: unknown, step: number): void {
    this.metadata.status = 'failed';
    this.metadata.finishedAt = new Date().toISOString();
    this.metadata.failedAtStep = step;
    this.metadata.error = { name: (error as Error).name, message: (error as Error).message, ...((error as { details?: object }).details ?? {}) };
    this.saveMetadata();
  }
}
