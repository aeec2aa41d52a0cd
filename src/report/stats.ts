import { Rng } from '../util/rng.js';

/**
 * Statistics of the report (docs/reports.md §3.b): mean, sample standard deviation, the
 * interquartile mean (IQM) and percentile confidence intervals from a stratified bootstrap, as
 * recommended by Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the Statistical
 * Precipice" (NeurIPS; the `rliable` library). The definitions follow `rliable` exactly so that its
 * point estimates are reproduced to the last bit and its intervals up to bootstrap noise
 * (test/report/rliable.spec.ts).
 */

/** A point estimate with its confidence interval `[lower, upper]` (same unit as the scores). */
export interface IntervalEstimate {
  readonly point: number;
  readonly lower: number;
  readonly upper: number;
}

/** Options of the bootstrap. */
export interface BootstrapOptions {
  /** Bootstrap resamples (rliable's `reps`, default 50 000). */
  readonly reps?: number;
  /** Two-sided confidence level in (0, 1) (rliable's `confidence_interval_size`, default 0.95). */
  readonly confidence?: number;
  /** The random stream of the resampling; pass one `Rng` through several calls for one reproducible sequence. Default `new Rng(0)`. */
  readonly rng?: Rng;
}

const requireValues = (values: readonly number[], what: string) => {
  if (values.length === 0) throw new RangeError(`${what} of an empty list of scores`);
};

/** Arithmetic mean of `values`. @throws RangeError on an empty list */
export function mean(values: readonly number[]): number {
  requireValues(values, 'mean');
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/**
 * Sample standard deviation (Bessel-corrected, `ddof = 1`: `sqrt(Σ(x − x̄)² / (n − 1))`), the
 * "± std over seeds" of RL papers' tables; 0 for a single value. @throws RangeError on an empty list
 */
export function sampleStd(values: readonly number[]): number {
  requireValues(values, 'standard deviation');
  if (values.length === 1) return 0;
  const m = mean(values);
  let s = 0;
  for (const v of values) s += (v - m) ** 2;
  return Math.sqrt(s / (values.length - 1));
}

/**
 * Trimmed mean with SciPy's rule (`scipy.stats.trim_mean(x, proportion)`): sort, cut
 * `floor(proportion · n)` values from each end, average the rest. For n not divisible by 4 fewer
 * than a quarter is cut (n = 5: one from each end, mean of the middle 3; n ≤ 3: nothing is cut).
 * @param proportion fraction cut from each end, in [0, 0.5)
 * @throws RangeError on an empty list or a proportion that leaves nothing
 */
export function trimmedMean(values: readonly number[], proportion: number): number {
  requireValues(values, 'trimmed mean');
  const n = values.length;
  const cut = Math.floor(proportion * n);
  if (!(proportion >= 0) || cut >= n - cut) throw new RangeError(`trimmed mean: proportion ${proportion} cuts every one of ${n} values`);
  const sorted = [...values].sort((a, b) => a - b);
  let s = 0;
  for (let i = cut; i < n - cut; i++) s += sorted[i];
  return s / (n - 2 * cut);
}

/**
 * Interquartile mean (IQM): the 25 % trimmed mean of all scores (`rliable.metrics.aggregate_iqm`,
 * Agarwal et al. 2021 §4.1) — robust to outlier seeds like the median, but statistically
 * efficient like the mean. @throws RangeError on an empty list
 */
export function iqm(values: readonly number[]): number {
  return trimmedMean(values, 0.25);
}

/**
 * The `q`-th percentile (q in [0, 100]) of `values` with linear interpolation between order
 * statistics (NumPy's default `np.percentile(..., method="linear")`: position `q/100 · (n − 1)`).
 * @throws RangeError on an empty list
 */
export function percentile(values: readonly number[], q: number): number {
  requireValues(values, 'percentile');
  const sorted = Float64Array.from(values).sort();
  return percentileOfSorted(sorted, q);
}

function percentileOfSorted(sorted: Float64Array, q: number): number {
  const h = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(h);
  if (lo >= sorted.length - 1) return sorted[sorted.length - 1];
  return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
}

/**
 * Percentile confidence interval of `statistic` from a **stratified bootstrap** (Agarwal et al.
 * 2021 §4 / `rliable.library.StratifiedBootstrap`, `task_bootstrap=False`): each resample draws,
 * independently within every stratum (one task / environment), as many runs as the stratum has,
 * with replacement; the tasks themselves are kept. The interval is the
 * `[(1 − c)/2, (1 + c)/2]` percentiles of the `reps` resampled statistics (arch's `percentile`
 * method, which rliable uses). With one stratum this is the ordinary bootstrap over seeds. Strata
 * may have different sizes (rliable needs a full runs × tasks matrix; for equal sizes both are the
 * same procedure).
 * @param strata scores per stratum (e.g. final returns of the seeds of each environment)
 * @param statistic maps the (resampled) strata to one number, e.g. `s => iqm(s.flat())`
 * @returns the statistic of the original data with its interval
 * @throws RangeError when there is no stratum, a stratum is empty, reps < 1 or confidence is outside (0, 1)
 */
export function stratifiedBootstrapCI(
  strata: readonly (readonly number[])[],
  statistic: (strata: readonly (readonly number[])[]) => number,
  options: BootstrapOptions = {},
): IntervalEstimate {
  const reps = options.reps ?? 50_000;
  const confidence = options.confidence ?? 0.95;
  const rng = options.rng ?? new Rng(0);
  if (strata.length === 0) throw new RangeError('stratified bootstrap: no stratum given');
  strata.forEach((s, i) => {
    if (s.length === 0) throw new RangeError(`stratified bootstrap: stratum ${i} has no score`);
  });
  if (!(reps >= 1) || !Number.isInteger(reps)) throw new RangeError(`stratified bootstrap: reps must be a positive integer, got ${reps}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`stratified bootstrap: confidence must be in (0, 1), got ${confidence}`);
  const point = statistic(strata);
  const resampled = strata.map((s) => new Array<number>(s.length));
  const values = new Float64Array(reps);
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < strata.length; k++) {
      const s = strata[k];
      const out = resampled[k];
      for (let i = 0; i < s.length; i++) out[i] = s[rng.integer(s.length)];
    }
    values[r] = statistic(resampled);
  }
  values.sort();
  const alpha = (1 - confidence) / 2;
  return { point, lower: percentileOfSorted(values, 100 * alpha), upper: percentileOfSorted(values, 100 * (1 - alpha)) };
}

/** IQM of all scores of all strata with its stratified-bootstrap interval (`stratifiedBootstrapCI`, Agarwal et al. 2021). */
export function iqmWithCI(strata: readonly (readonly number[])[], options: BootstrapOptions = {}): IntervalEstimate {
  return stratifiedBootstrapCI(strata, (s) => iqm(s.flat()), options);
}

/** Mean of the scores with its bootstrap percentile interval (one stratum; the learning-curve bands). */
export function meanWithCI(values: readonly number[], options: BootstrapOptions = {}): IntervalEstimate {
  return stratifiedBootstrapCI([values], (s) => mean(s[0]), options);
}
