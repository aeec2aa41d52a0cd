import { FifoReplayBuffer, type PolicyFn, type ReplayBufferContext, type Transition } from '../../src/index.js';
import type { DynamicCapacityOptions } from './dynamic-capacity-options.js';

/**
 * RLx2's dynamic-capacity FIFO replay buffer (Tan et al. 2023, [R-code] `train.py` +
 * `DST/utils.py::ReplayBuffer`; docs/methods.md §1.b.9, §7.1–2): a uniform ring whose left pointer can
 * move, so that the oldest data, collected by policies too far from the current one, are
 * dropped. Each transition also keeps `actionMean` (`[actDim]`, the noise-free normalised policy
 * action at collection time; the trainer fills it). Every `checkInterval` env steps
 * (`maybeShrink`) the distance D between the current policy and the oldest `oldestK`
 * transitions is measured; above `threshold` (and while size > `minSize`) the oldest data are
 * dropped (see `distance`). The buffer grows again by appending, up to `capacity`.
 * Storage, sampling and windows are `FifoReplayBuffer`'s (`src/rl/fifo-replay-buffer.ts`),
 * uniform over the live data.
 */
export class DynamicCapacityReplayBuffer extends FifoReplayBuffer {
  /** `[capacity, actDim]` the stored `actionMean` of each ring slot. */
  private readonly actMean: Float32Array;
  private lastCheckStep = 0;
  /** D of the last check (NaN before the first). */
  lastDistance = Number.NaN;

  /**
   * @param options validated options (`dynamic-capacity-options.ts`)
   * @param context observation and action sizes, `numEnvs`
   * @throws RangeError when capacity < 1
   */
  constructor(
    private readonly options: DynamicCapacityOptions,
    context: ReplayBufferContext,
  ) {
    super(options.capacity, context);
    this.actMean = new Float32Array(options.capacity * context.actionSize);
  }

  /** @inheritdoc (a missing `actionMean` is stored as the executed action) */
  override add(t: Transition): void {
    const a = this.context.actionSize;
    this.actMean.set(t.actionMean ?? t.action, this.cursor * a);
    super.add(t);
  }

  /** @inheritdoc (adds `actMean`) */
  protected override storage(): Record<string, { data: Float32Array; width: number }> {
    return { ...super.storage(), actMean: { data: this.actMean, width: this.context.actionSize } };
  }

  /** @inheritdoc (the last check's step and distance) */
  protected override extraState(): Record<string, unknown> {
    return { lastCheckStep: this.lastCheckStep, lastDistance: Number.isNaN(this.lastDistance) ? null : this.lastDistance };
  }

  /** @inheritdoc */
  protected override loadExtraState(state: unknown): void {
    const s = state as { lastCheckStep: number; lastDistance: number | null };
    this.lastCheckStep = s.lastCheckStep;
    this.lastDistance = s.lastDistance ?? Number.NaN;
  }

  /**
   * Per-transition distance of the `r`-th … `(r+len−1)`-th oldest transitions to `policy`:
   * `code` Σ_j (π_j − μ_j)² / (2·actDim); `paper` ‖π − a‖₂.
   */
  private distances(r: number, len: number, policy: PolicyFn): Float64Array {
    const { observationSize: o, actionSize: a } = this.context;
    const x = new Float32Array(len * o);
    for (let k = 0; k < len; k++) {
      const i = this.slot(r + k);
      x.set(this.obs.subarray(i * o, i * o + o), k * o);
    }
    const pi = policy(x, len);
    const out = new Float64Array(len);
    const ref = this.options.distance === 'code' ? this.actMean : this.act;
    for (let k = 0; k < len; k++) {
      const i = this.slot(r + k);
      let s = 0;
      for (let j = 0; j < a; j++) {
        const d = pi[k * a + j] - ref[i * a + j];
        s += d * d;
      }
      out[k] = this.options.distance === 'code' ? s / (2 * a) : Math.sqrt(s);
    }
    return out;
  }

  /**
   * The periodic check (docs/methods.md §1.b.9): runs when `step` crosses a multiple of
   * `checkInterval` ([R-code] `(t+1) % 1e4 == 0`, warm-up included).
   * @param step env steps done so far
   * @param policy current noise-free policy, normalised actions
   * @returns `buffer/size` and, on checks, `buffer/policy_distance` and `buffer/dropped`
   */
  maybeShrink(step: number, policy: PolicyFn): Record<string, number> | void {
    const { checkInterval, oldestK, threshold, minSize } = this.options;
    const due = Math.floor(step / checkInterval) > Math.floor(this.lastCheckStep / checkInterval);
    this.lastCheckStep = step;
    if (!due || this.count === 0) return;
    const before = this.count;
    const k = Math.min(oldestK, this.count);
    if (this.options.distance === 'code') {
      const d = this.distances(0, k, policy);
      this.lastDistance = d.reduce((s, v) => s + v, 0) / k;
      if (this.lastDistance > threshold && this.count > minSize) this.dropOldest(Math.floor(this.options.shrinkFraction * this.count));
    } else {
      // pop FIFO until the mean over the (sliding) oldest K is at most the threshold; per-
      // transition distances are computed lazily, K at a time
      let dist = this.distances(0, k, policy);
      const at = (i: number) => {
        if (i >= dist.length) {
          const more = this.distances(dist.length, Math.min(k, this.count - dist.length), policy);
          const grown = new Float64Array(dist.length + more.length);
          grown.set(dist);
          grown.set(more, dist.length);
          dist = grown;
        }
        return dist[i];
      };
      let sum = 0;
      for (let i = 0; i < k; i++) sum += dist[i];
      let p = 0;
      let len = k;
      this.lastDistance = sum / len;
      while (this.lastDistance > threshold && this.count - p > minSize) {
        sum -= dist[p];
        if (p + len < this.count) sum += at(p + len);
        else len--;
        p++;
        if (len === 0) break;
        this.lastDistance = sum / len;
      }
      this.dropOldest(p);
    }
    return { 'buffer/size': this.count, 'buffer/policy_distance': this.lastDistance, 'buffer/dropped': before - this.count };
  }
}
