/** Options of the reward-aware target-sparsity controller (docs/methods.md §9.2.5; all ours, GST's values are UNKNOWN). */
export interface RewardControllerOptions {
  /** δ: an evaluation passes when `R̄ ≥ R* − δ·|R*|` (R* best mean return so far). */
  readonly tolerance: number;
  /** Δ⁺: raise of the target after a passing evaluation. */
  readonly increase: number;
  /** Δ⁻: cut of the target after a failing evaluation. */
  readonly decrease: number;
  /** Lower bound of the target (S_min). */
  readonly minSparsity: number;
  /** Upper bound of the target (S_max). */
  readonly maxSparsity: number;
  /** Evaluations after a cut during which passing evaluations do not raise the target. */
  readonly cooldown: number;
  /** Evaluations before this many gradient iterations are ignored. */
  readonly warmup: number;
  /** Target before the first change. */
  readonly initialSparsity: number;
}

/** What one evaluation did to the target. */
export type ControllerAction = 'warmup' | 'raise' | 'hold' | 'lower';

/** Serializable controller state (checkpoints). */
export interface ControllerState {
  target: number;
  /** R*, or null before the first evaluation. */
  best: number | null;
  cooldownLeft: number;
  raises: number;
  lowers: number;
}

/** Rounds away float drift of repeated ± steps (0.05 + 0.05 + 0.05 = 0.15000000000000002). */
const tidy = (x: number) => Math.round(x * 1e12) / 1e12;

/**
 * GST's reward-aware pruning (Lee et al. 2021, arXiv 2101.09650: "adapts the target sparsity
 * dynamically for stable training"); the rule is our reconstruction, docs/methods.md §9.2.5:
 *
 * at each evaluation with mean return R̄ and gradient-iteration clock t, with R* the best mean
 * return of the evaluations since the warm-up before it (none: the evaluation passes):
 * - t < warmup: ignored (`warmup`): the target stays and R* is not set, since the returns of a
 *   barely trained policy (e.g. ≈ 0 on HalfCheetah before it dips negative) are no reference.
 * - pass, `R̄ ≥ R* − δ·|R*|` (for R* > 0 this is the spec's `R̄ ≥ (1 − δ)·R*`; the |R*| form keeps
 *   the tolerance meaningful for negative returns): during a cooldown the target holds and the
 *   cooldown counts down (`hold`); otherwise `S ← min(S_max, S + Δ⁺)` (`raise`).
 * - fail: `S ← max(S_min, S − Δ⁻)` and the cooldown restarts at `cooldown` evaluations (`lower`).
 * Then `R* ← max(R*, R̄)`.
 */
export class RewardAwareController {
  private s: ControllerState;

  /** @throws RangeError on bounds outside [0, 1), min > max, or negative steps, tolerance, cooldown or warmup */
  constructor(private readonly options: RewardControllerOptions) {
    const { minSparsity: lo, maxSparsity: hi, initialSparsity: s0 } = options;
    if (!(lo >= 0 && hi < 1 && lo <= hi)) throw new RangeError(`gst controller: needs 0 <= minSparsity <= maxSparsity < 1, got ${lo}, ${hi}`);
    if (!(s0 >= lo && s0 <= hi)) throw new RangeError(`gst controller: initialSparsity ${s0} outside [minSparsity, maxSparsity] = [${lo}, ${hi}]`);
    for (const k of ['tolerance', 'increase', 'decrease', 'cooldown', 'warmup'] as const) {
      if (!(options[k] >= 0)) throw new RangeError(`gst controller: ${k} must be >= 0, got ${options[k]}`);
    }
    this.s = { target: s0, best: null, cooldownLeft: 0, raises: 0, lowers: 0 };
  }

  /** The current target sparsity. */
  get target(): number {
    return this.s.target;
  }

  /** Feeds one evaluation's mean return at gradient iteration `clock`. @returns what it did */
  observe(meanReturn: number, clock: number): ControllerAction {
    const o = this.options;
    const s = this.s;
    let action: ControllerAction;
    if (clock < o.warmup) return 'warmup'; // early returns are no reference: R* starts after the warm-up
    else if (s.best === null || meanReturn >= s.best - o.tolerance * Math.abs(s.best)) {
      if (s.cooldownLeft > 0) {
        s.cooldownLeft--;
        action = 'hold';
      } else {
        s.target = tidy(Math.min(o.maxSparsity, s.target + o.increase));
        s.raises++;
        action = 'raise';
      }
    } else {
      s.target = tidy(Math.max(o.minSparsity, s.target - o.decrease));
      s.cooldownLeft = o.cooldown;
      s.lowers++;
      action = 'lower';
    }
    s.best = s.best === null ? meanReturn : Math.max(s.best, meanReturn);
    return action;
  }

  /** Metrics `gst/target_sparsity`, `gst/best_return`, `gst/cooldown_left`, `gst/raises`, `gst/lowers`. */
  metrics(): Record<string, number> {
    const s = this.s;
    return { 'gst/target_sparsity': s.target, ...(s.best === null ? {} : { 'gst/best_return': s.best }), 'gst/cooldown_left': s.cooldownLeft, 'gst/raises': s.raises, 'gst/lowers': s.lowers };
  }

  state(): ControllerState {
    return { ...this.s };
  }

  loadState(state: ControllerState): void {
    this.s = { ...state };
  }
}
