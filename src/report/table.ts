import { Rng } from '../util/rng.js';
import type { RunRecord } from './runs.js';
import { iqmWithCI, mean, meanWithCI, sampleStd, type IntervalEstimate } from './stats.js';

/**
 * The paper table (docs/reports.md §3): one row per method × environment, seeds = runs, and one
 * aggregate row per method over environments when there are several.
 */

/** Options of the table and curves. */
export interface TableOptions {
  /** Final return of a run = mean of its last K evaluations (`eval/mean_return`). Default 3. */
  readonly lastK?: number;
  /** Bootstrap resamples for the IQM intervals. Default 50 000 (rliable's default). */
  readonly reps?: number;
  /** Bootstrap resamples per point of the learning-curve bands. Default 2 000. */
  readonly curveReps?: number;
  /** Confidence level of every interval. Default 0.95. */
  readonly confidence?: number;
  /** Seed of the bootstrap's random stream. Default 0. */
  readonly seed?: number;
  /** Only runs of this method are the dense reference (default: every run whose sparsifier type is `dense`). */
  readonly denseMethod?: string;
}

/** Mean over a group's runs of its final sparse metrics (NaN where no run records the key). */
export interface SparseColumns {
  /** `sparsity/actor`: fraction of zero actor weights (online network). */
  readonly actorSparsity: number;
  /** `sparsity/critic`: fraction of zero critic weights (online networks). */
  readonly criticSparsity: number;
  /** `flops/params_with_targets_ratio`: stored weights incl. target networks / dense (RLx2's "Total Size"). */
  readonly sizeWithTargets: number;
  /** `flops/train_ratio` at the end: training FLOPs per gradient iteration / dense. */
  readonly trainFlops: number;
  /** Training FLOPs over the whole run / dense (from the cumulative trace, runs.ts `cumulativeTrainingFlops`). */
  readonly trainFlopsAverage: number;
  /** `flops/inference_ratio`: actor forward FLOPs / dense ("FLOPs (Test)"). */
  readonly inferenceFlops: number;
  /** `compression/ratio`: 1 − stored weights / dense weights at the end. */
  readonly compression: number;
  /** `compression/average_ratio`: the compression ratio averaged over gradient iterations (GST's metric). */
  readonly compressionAverage: number;
  /** Training FLOPs of a whole run (absolute, mean over runs). */
  readonly totalTrainFlops: number;
}

/** One method × environment row. */
export interface GroupRow {
  readonly method: string;
  readonly envId: string;
  readonly runs: readonly RunRecord[];
  /** Final return of each run, in `runs` order (`finalReturn`). */
  readonly finalReturns: readonly number[];
  readonly mean: number;
  /** Sample standard deviation over seeds (ddof = 1; 0 for one seed). */
  readonly std: number;
  /** IQM of the final returns with its 95 % bootstrap interval over seeds. */
  readonly iqm: IntervalEstimate;
  /** Final returns divided by the env's dense reference mean; null when there is no usable dense reference. */
  readonly normalised: { readonly scores: readonly number[]; readonly mean: number; readonly iqm: IntervalEstimate } | null;
  /** Whether these are dense-reference runs. */
  readonly isDenseReference: boolean;
  readonly sparse: SparseColumns;
}

/** One aggregate row of a method over environments. */
export interface AggregateRow {
  readonly method: string;
  /** Environments with a dense reference where the method has runs (the strata). */
  readonly envIds: readonly string[];
  /** Runs pooled. */
  readonly runs: number;
  /** IQM of every run's dense-normalised final return, stratified bootstrap over environments. */
  readonly normalisedIqm: IntervalEstimate;
}

/** The dense reference of one environment. */
export interface DenseReference {
  readonly envId: string;
  /** Mean final return of the dense runs of this environment (the normaliser). */
  readonly mean: number;
  readonly runs: number;
  readonly methods: readonly string[];
}

/** The whole table. */
export interface ReportTable {
  readonly rows: readonly GroupRow[];
  readonly aggregates: readonly AggregateRow[];
  readonly denseReferences: readonly DenseReference[];
  /** Notes for the reader (fewer than K evaluations, unusable dense reference, …). */
  readonly notes: readonly string[];
}

/**
 * Final return of one run: the mean of its last `k` evaluations' `eval/mean_return` (all of them
 * when it has fewer). Averaging the last few evaluations instead of taking the last one reduces the
 * evaluation noise of a single point (as in RLx2 / DS-TD3 tables).
 * @throws RangeError when k < 1 or the run has no evaluation
 */
export function finalReturn(run: RunRecord, k: number): number {
  if (!(k >= 1) || !Number.isInteger(k)) throw new RangeError(`last-K must be a positive integer, got ${k}`);
  if (run.evaluations.length === 0) throw new RangeError(`${run.dir}: no evaluation`);
  return mean(run.evaluations.slice(-k).map((e) => e.meanReturn));
}

const avg = (values: readonly number[]) => {
  const v = values.filter((x) => Number.isFinite(x));
  return v.length ? mean(v) : Number.NaN;
};

function sparseColumns(runs: readonly RunRecord[]): SparseColumns {
  const col = (key: string) => avg(runs.map((r) => r.finalMetrics[key] ?? Number.NaN));
  return {
    actorSparsity: col('sparsity/actor'),
    criticSparsity: col('sparsity/critic'),
    sizeWithTargets: col('flops/params_with_targets_ratio'),
    trainFlops: col('flops/train_ratio'),
    trainFlopsAverage: avg(runs.map((r) => r.averageTrainFlopsRatio)),
    inferenceFlops: col('flops/inference_ratio'),
    compression: col('compression/ratio'),
    compressionAverage: col('compression/average_ratio'),
    totalTrainFlops: avg(runs.map((r) => r.totalTrainFlops)),
  };
}

/** Whether `run` belongs to the dense reference (sparsifier type `dense`, or of `denseMethod` when given). */
export function isDenseReference(run: RunRecord, denseMethod?: string): boolean {
  return denseMethod !== undefined ? run.method === denseMethod : run.sparsifierType === 'dense';
}

/**
 * Builds the paper table from runs (all of them count; exclusions are made by the caller):
 * groups by method × `envId` (rows sorted by env, then method), computes the final return of each
 * run (`finalReturn`), mean ± sample std and the IQM with its stratified-bootstrap 95 % interval
 * over seeds (Agarwal et al. 2021), normalises to the env's dense reference (mean final return of
 * its dense runs; none when there are none or that mean is ≤ 0), averages the sparse columns, and
 * — with several environments — adds per method the IQM of all its runs' normalised scores with a
 * bootstrap stratified over environments. The bootstrap stream is seeded (`options.seed`), so the
 * table is reproducible.
 * @throws RangeError on invalid options
 */
export function buildTable(runs: readonly RunRecord[], options: TableOptions = {}): ReportTable {
  const k = options.lastK ?? 3;
  const boot = { reps: options.reps ?? 50_000, confidence: options.confidence ?? 0.95, rng: new Rng(options.seed ?? 0) };
  const notes: string[] = [];
  const few = runs.filter((r) => r.evaluations.length < k);
  if (few.length) notes.push(`${few.length} run(s) have fewer than K = ${k} evaluations; their final return is the mean of all of them: ${few.map((r) => r.dir).join(', ')}`);

  const envIds = [...new Set(runs.map((r) => r.envId))].sort();
  const denseReferences: DenseReference[] = [];
  const normaliser = new Map<string, number>();
  for (const envId of envIds) {
    const dense = runs.filter((r) => r.envId === envId && isDenseReference(r, options.denseMethod));
    if (dense.length === 0) {
      notes.push(`${envId}: no dense run (sparsifier type "dense"${options.denseMethod ? `, method ${options.denseMethod}` : ''}), so no normalised score`);
      continue;
    }
    const m = mean(dense.map((r) => finalReturn(r, k)));
    const methods = [...new Set(dense.map((r) => r.method))].sort();
    denseReferences.push({ envId, mean: m, runs: dense.length, methods });
    if (methods.length > 1) notes.push(`${envId}: the dense reference pools the runs of several methods (${methods.join(', ')}); choose one with --dense-method`);
    if (m > 0) normaliser.set(envId, m);
    else notes.push(`${envId}: the dense reference's mean final return is ${m} ≤ 0, so scores are not normalised`);
  }

  const rows: GroupRow[] = [];
  for (const envId of envIds) {
    const methods = [...new Set(runs.filter((r) => r.envId === envId).map((r) => r.method))].sort();
    for (const method of methods) {
      const group = runs.filter((r) => r.envId === envId && r.method === method).sort((a, b) => a.seed - b.seed || a.dir.localeCompare(b.dir));
      const finalReturns = group.map((r) => finalReturn(r, k));
      const d = normaliser.get(envId);
      const scores = d === undefined ? null : finalReturns.map((x) => x / d);
      rows.push({
        method, envId, runs: group, finalReturns,
        mean: mean(finalReturns), std: sampleStd(finalReturns), iqm: iqmWithCI([finalReturns], boot),
        normalised: scores ? { scores, mean: mean(scores), iqm: iqmWithCI([scores], boot) } : null,
        isDenseReference: group.every((r) => isDenseReference(r, options.denseMethod)),
        sparse: sparseColumns(group),
      });
    }
  }

  const aggregates: AggregateRow[] = [];
  if (envIds.length > 1) {
    for (const method of [...new Set(runs.map((r) => r.method))].sort()) {
      const strata = rows.filter((r) => r.method === method && r.normalised);
      if (strata.length === 0) continue;
      aggregates.push({
        method, envIds: strata.map((r) => r.envId), runs: strata.reduce((s, r) => s + r.runs.length, 0),
        normalisedIqm: iqmWithCI(strata.map((r) => r.normalised!.scores), boot),
      });
    }
  }
  return { rows, aggregates, denseReferences, notes };
}

/** One point of a learning curve: the mean over seeds of `eval/mean_return` at one evaluation step, with its bootstrap interval. */
export interface CurvePoint {
  /** Env steps. */
  readonly step: number;
  /** Mean over the seeds evaluated at this step of their cumulative training FLOPs (NaN when unknown). */
  readonly trainFlops: number;
  readonly mean: number;
  readonly lower: number;
  readonly upper: number;
  /** Seeds evaluated at this step. */
  readonly n: number;
}

/** The learning curve of one method in one environment. */
export interface Curve {
  readonly method: string;
  readonly envId: string;
  readonly points: readonly CurvePoint[];
}

/**
 * Learning curves per row: at every evaluation step any seed of the group evaluated at, the mean
 * `eval/mean_return` over the seeds evaluated there, its percentile bootstrap interval over seeds
 * (`options.curveReps` resamples, `options.confidence`; a single seed gives a zero-width band)
 * and the seeds' mean cumulative training FLOPs. Seeded (`options.seed`).
 */
export function learningCurves(rows: readonly GroupRow[], options: TableOptions = {}): Curve[] {
  const boot = { reps: options.curveReps ?? 2_000, confidence: options.confidence ?? 0.95, rng: new Rng((options.seed ?? 0) + 1) };
  return rows.map((row) => {
    const steps = [...new Set(row.runs.flatMap((r) => r.evaluations.map((e) => e.step)))].sort((a, b) => a - b);
    const points = steps.map((step) => {
      const at = row.runs.map((r) => r.evaluations.find((e) => e.step === step)).filter((e) => e !== undefined);
      const ci = meanWithCI(at.map((e) => e.meanReturn), boot);
      const flops = at.map((e) => e.trainFlops);
      return { step, trainFlops: flops.every(Number.isFinite) ? mean(flops) : Number.NaN, mean: ci.point, lower: ci.lower, upper: ci.upper, n: at.length };
    });
    return { method: row.method, envId: row.envId, points };
  });
}
