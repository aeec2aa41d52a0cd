import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Reading run directories for the report (docs/reports.md §1). A run directory is what
 * `sparse-rl train` writes (src/train/run-directory.ts): `config.json`, `metadata.json` (its
 * `status`), `metrics.jsonl` and, once completed, `summary.json`.
 */

/** One evaluation of a run: a `metrics.jsonl` record with `eval/mean_return`. */
export interface EvaluationPoint {
  /** Env steps at the evaluation. */
  readonly step: number;
  /** `eval/mean_return`: mean undiscounted return of the deterministic policy over the evaluation episodes. */
  readonly meanReturn: number;
  /** Cumulative training FLOPs up to this evaluation (`cumulativeTrainingFlops`); NaN when the run records no `flops/train_per_iteration`. */
  readonly trainFlops: number;
}

/** A run directory as the report uses it. */
export interface RunRecord {
  readonly dir: string;
  /** `config.name`. */
  readonly name: string;
  /** `metadata.status` (`completed`, `running`, `failed`, `interrupted`, `starting`). */
  readonly status: string;
  /** `config.environment.id`, e.g. `HalfCheetah-v5`. */
  readonly envId: string;
  /** `methodName(config.name, envId)`. */
  readonly method: string;
  /** `config.sparsifier.type` (`dense` marks the dense reference). */
  readonly sparsifierType: string;
  /** `config.seed`. */
  readonly seed: number;
  readonly evaluations: readonly EvaluationPoint[];
  /** Final sparse metrics: `summary.json`'s `finalSparsity` and `flops` merged; from the last `metrics.jsonl` record carrying them when there is no summary. */
  readonly finalMetrics: Readonly<Record<string, number>>;
  /** Training FLOPs of the whole run (`cumulativeTrainingFlops`), NaN when unknown. */
  readonly totalTrainFlops: number;
  /** Training FLOPs over training as a ratio to dense networks trained the same way (cumulative sparse / cumulative dense), NaN when unknown. */
  readonly averageTrainFlopsRatio: number;
}

/** A run directory that is not in the report, with why. */
export interface ExcludedRun {
  readonly dir: string;
  readonly name: string;
  readonly status: string;
  readonly reason: string;
}

/**
 * The method of a run: `configName` without a trailing `-<envId lowercased>` (recipes and sweeps
 * name their runs `<method>-<env>`, e.g. `rlx2-td3-halfcheetah-v5` → `rlx2-td3`); the whole name
 * when it has no such suffix.
 */
export function methodName(configName: string, envId: string): string {
  const suffix = `-${envId.toLowerCase()}`;
  return configName.toLowerCase().endsWith(suffix) && configName.length > suffix.length ? configName.slice(0, -suffix.length) : configName;
}

const isRunDirectory = (dir: string) => existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'metadata.json'));

/**
 * Every run directory (one holding `config.json` and `metadata.json`) at or below each of `roots`,
 * sorted, without duplicates. A run directory's own sub-folders (checkpoints, tensorboard) are not
 * searched; neither are hidden folders and `node_modules`.
 * @throws Error naming the path when a root does not exist or is not a directory, or when a root holds no run directory
 */
export function findRunDirectories(roots: readonly string[]): string[] {
  const found = new Set<string>();
  for (const root of roots) {
    const abs = resolve(root);
    if (!existsSync(abs)) throw new Error(`${abs} does not exist (expected a sweep directory or a run directory)`);
    if (!statSync(abs).isDirectory()) throw new Error(`${abs} is not a directory (expected a sweep directory or a run directory)`);
    const before = found.size;
    const visit = (dir: string) => {
      if (isRunDirectory(dir)) {
        found.add(dir);
        return;
      }
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory() && !entry.name.startsWith('.') && entry.name !== 'node_modules') visit(join(dir, entry.name));
      }
    };
    visit(abs);
    if (found.size === before && ![...found].includes(abs)) {
      throw new Error(`${abs} holds no run directory (a folder with config.json and metadata.json, as \`sparse-rl train\` writes) at any depth`);
    }
  }
  return [...found].sort();
}

const readJson = (file: string): Record<string, unknown> => {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file}: cannot read it as JSON: ${(e as Error).message}`, { cause: e });
  }
};

/** The records of a `metrics.jsonl` in file order; a torn (unparsable) last line, as a killed run leaves, is dropped. @throws Error naming the file on any other unparsable line */
export function readMetricsJsonl(file: string): Record<string, number>[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: Record<string, number>[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line) as Record<string, number>);
    } catch (e) {
      const last = lines.slice(i + 1).every((l) => !l.trim());
      if (!last) throw new Error(`${file}:${i + 1}: not a JSON record: ${(e as Error).message}`, { cause: e });
    }
  });
  return out;
}

/**
 * Cumulative training FLOPs along a run, from the records that carry both
 * `flops/train_per_iteration` (FLOPs of one gradient iteration at that moment, src/sparse/flops.ts)
 * and `compression/iterations` (gradient iterations so far): the step-0 record and every
 * evaluation. Between two such records the per-iteration cost is taken as the mean of its two
 * values (trapezoidal rule): exact for dense, static and constant-density dynamic sparse training
 * (RigL, SET, RLx2), an approximation where the density changes between evaluations (gradual
 * pruning). The dense reference is integrated the same way from `train_per_iteration / train_ratio`.
 * @returns for each input record the cumulative FLOPs so far (NaN before the first costed record or when none carries the keys), and the totals
 */
export function cumulativeTrainingFlops(records: readonly Record<string, number>[]): { perRecord: number[]; total: number; averageRatio: number } {
  let cum = Number.NaN;
  let cumDense = Number.NaN;
  let last: { it: number; f: number; d: number } | null = null;
  const perRecord = records.map((r) => {
    const f = r['flops/train_per_iteration'];
    const it = r['compression/iterations'];
    if (typeof f === 'number' && typeof it === 'number' && Number.isFinite(f)) {
      const ratio = r['flops/train_ratio'];
      const d = typeof ratio === 'number' && ratio > 0 ? f / ratio : Number.NaN;
      if (!last) {
        cum = it * f;
        cumDense = it * d;
      } else {
        cum += ((it - last.it) * (f + last.f)) / 2;
        cumDense += ((it - last.it) * (d + last.d)) / 2;
      }
      last = { it, f, d };
    }
    return cum;
  });
  return { perRecord, total: cum, averageRatio: cumDense > 0 ? cum / cumDense : Number.NaN };
}

const FINAL_KEYS = /^(sparsity|flops|compression)\//;

/**
 * Reads one run directory.
 * @returns the run, or why it is excluded: status other than `completed` (unless `includeIncomplete`),
 *   no `summary.json` for a completed run, no evaluation in `metrics.jsonl`
 * @throws Error naming the file when `config.json`, `metadata.json` or `metrics.jsonl` is unreadable, or the config has no `environment.id`
 */
export function readRun(dir: string, includeIncomplete = false): RunRecord | ExcludedRun {
  const config = readJson(join(dir, 'config.json'));
  const metadata = readJson(join(dir, 'metadata.json'));
  const name = String(config.name ?? metadata.name ?? dir);
  const status = String(metadata.status ?? 'unknown');
  const excluded = (reason: string): ExcludedRun => ({ dir, name, status, reason });
  if (status !== 'completed' && !includeIncomplete) return excluded(`status ${status} (only completed runs count; --include-incomplete to use their evaluations so far)`);
  const envId = (config.environment as { id?: unknown } | undefined)?.id;
  if (typeof envId !== 'string') throw new Error(`${join(dir, 'config.json')}: no environment.id`);
  const metricsFile = join(dir, 'metrics.jsonl');
  if (!existsSync(metricsFile)) return excluded('no metrics.jsonl');
  const summaryFile = join(dir, 'summary.json');
  const summary = existsSync(summaryFile) ? readJson(summaryFile) : null;
  if (status === 'completed' && !summary) return excluded('completed but summary.json is missing');
  const records = readMetricsJsonl(metricsFile);
  const flops = cumulativeTrainingFlops(records);
  const evaluations: EvaluationPoint[] = [];
  records.forEach((r, i) => {
    if (typeof r['eval/mean_return'] === 'number') evaluations.push({ step: r.step, meanReturn: r['eval/mean_return'], trainFlops: flops.perRecord[i] });
  });
  if (evaluations.length === 0) return excluded('no evaluation (no eval/mean_return record in metrics.jsonl)');
  let finalMetrics: Record<string, number> = {};
  if (summary) {
    finalMetrics = { ...((summary.finalSparsity as Record<string, number> | undefined) ?? {}), ...((summary.flops as Record<string, number> | undefined) ?? {}) };
  } else {
    for (const r of records) for (const [k, v] of Object.entries(r)) if (FINAL_KEYS.test(k) && typeof v === 'number') finalMetrics[k] = v;
  }
  const sparsifier = config.sparsifier as { type?: unknown } | undefined;
  return {
    dir, name, status, envId, method: methodName(name, envId), sparsifierType: String(sparsifier?.type ?? 'dense'),
    seed: Number(config.seed), evaluations, finalMetrics, totalTrainFlops: flops.total, averageTrainFlopsRatio: flops.averageRatio,
  };
}

/** Whether `readRun` returned a run (not an exclusion). */
export function isRunRecord(r: RunRecord | ExcludedRun): r is RunRecord {
  return 'evaluations' in r;
}
