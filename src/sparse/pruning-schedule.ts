/**
 * Sparsity schedules of dense-to-sparse magnitude pruning (docs/methods.md §5.4–5.5). Time `t` is in
 * the caller's unit (here: gradient iterations).
 */

/** When pruning happens: every `interval` from `start` up to `end` (inclusive; `end` is always a point). */
export interface PruningWindow {
  /** t₀, first pruning step. */
  readonly start: number;
  /** t₀ + nΔt, last pruning step; the final sparsity holds from here on. */
  readonly end: number;
  /** Δt > 0. */
  readonly interval: number;
}

/**
 * @throws RangeError unless 0 ≤ start ≤ end and interval is a positive integer
 */
export function checkWindow(w: PruningWindow): void {
  if (!(Number.isInteger(w.start) && Number.isInteger(w.end) && w.start >= 0 && w.end >= w.start)) throw new RangeError(`pruning window needs integers 0 <= start <= end, got start ${w.start}, end ${w.end}`);
  if (!(Number.isInteger(w.interval) && w.interval > 0)) throw new RangeError(`pruning interval must be a positive integer, got ${w.interval}`);
}

/**
 * Index k of the latest pruning point at or before `t`: points are t₀ + kΔt (k = 0, 1, …) while
 * < end, then `end` itself as the last index K = ⌈(end − t₀)/Δt⌉. Returns −1 before t₀.
 */
export function pruningPointIndex(t: number, w: PruningWindow): number {
  if (t < w.start) return -1;
  const last = Math.ceil((w.end - w.start) / w.interval);
  if (t >= w.end) return last;
  return Math.min(Math.floor((t - w.start) / w.interval), last);
}

/** Time of pruning point `k` (see `pruningPointIndex`). */
export function pruningPointTime(k: number, w: PruningWindow): number {
  return Math.min(w.start + k * w.interval, w.end);
}

/**
 * Zhu & Gupta (2017, "To prune, or not to prune", arXiv 1710.01878) cubic schedule:
 * `s_t = s_f + (s_i − s_f)·(1 − (t − t₀)/(t_end − t₀))³` for t₀ ≤ t ≤ t_end, `s_i` before t₀ and
 * `s_f` after t_end (tfmot `PolynomialDecay`, power 3). Monotone non-decreasing when s_i ≤ s_f;
 * exactly `s_i` at t₀ and `s_f` at t_end.
 */
export function cubicSparsity(t: number, initial: number, final: number, w: Pick<PruningWindow, 'start' | 'end'>): number {
  if (t <= w.start) return w.end === w.start && t >= w.end ? final : initial;
  if (t >= w.end) return final;
  const r = 1 - (t - w.start) / (w.end - w.start);
  return final + (initial - final) * r * r * r;
}

/**
 * Iterative magnitude pruning (Han et al. 2015 style, docs/methods.md §5.5): every pruning point
 * removes the fraction `q` of the remaining weights, `s_k = 1 − (1 − s_i)(1 − q)^k`, capped at
 * `s_f`; the last point (`end`) sets `s_f` exactly.
 */
export function iterativeSparsity(k: number, lastIndex: number, initial: number, final: number, fraction: number): number {
  if (k < 0) return initial;
  if (k >= lastIndex) return final;
  return Math.min(final, 1 - (1 - initial) * (1 - fraction) ** k);
}
