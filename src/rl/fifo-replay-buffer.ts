import type { ReplayBuffer, ReplayBufferContext, ReplayBufferSnapshot, Transition, TransitionBatch, TransitionWindows } from '../core/replay-buffer.js';
import { copyRow } from '../util/arrays.js';
import type { Rng } from '../util/rng.js';

/**
 * FIFO ring of transitions on preallocated typed arrays, with uniform sampling with replacement
 * (as TD3's reference `ReplayBuffer`, github.com/sfujim/TD3 `utils.py`) and uniform windows of
 * consecutive transitions (RLx2 [R-code] `DST/utils.py::ReplayBuffer`, docs/methods.md §1.b.2).
 * The storage shared by the `replay-buffer.uniform` and `replay-buffer.dynamic-capacity` plugins;
 * a buffer plugin extends it (`class MyBuffer extends FifoReplayBuffer`) or uses it as is.
 *
 * Storage, with C = `capacity`, O = `context.observationSize`, A = `context.actionSize`, all
 * float32, row-major, row = ring slot:
 *
 * | array     | shape    | contents                                            |
 * |-----------|----------|-----------------------------------------------------|
 * | `obs`     | `[C, O]` | s                                                   |
 * | `act`     | `[C, A]` | a, as stored (the agents store normalised actions)  |
 * | `rew`     | `[C]`    | r                                                   |
 * | `nextObs` | `[C, O]` | s' (the final observation when the episode ended)   |
 * | `term`    | `[C]`    | 1 when s' is terminal                               |
 * | `trunc`   | `[C]`    | 1 when the episode was cut by a time limit at s'    |
 *
 * Memory: `C·(2·O + A + 3)·4` bytes. The live data are the `size` slots before the write
 * `cursor`, oldest first (`slot(r)`); a subclass may drop the oldest ones (`dropOldest`, i.e.
 * move the left pointer, RLx2's dynamic capacity). When the ring is full, `add` overwrites the
 * oldest transition.
 */
export class FifoReplayBuffer implements ReplayBuffer {
  /** `[C, O]` observations s. */
  protected readonly obs: Float32Array;
  /** `[C, O]` next observations s'. */
  protected readonly nextObs: Float32Array;
  /** `[C, A]` actions. */
  protected readonly act: Float32Array;
  /** `[C]` rewards. */
  protected readonly rew: Float32Array;
  /** `[C]` 1 = terminated. */
  protected readonly term: Float32Array;
  /** `[C]` 1 = truncated. */
  protected readonly trunc: Float32Array;
  /** Ring slot the next `add` writes. */
  protected cursor = 0;
  /** Live transitions (the `size`). */
  protected count = 0;
  /** Ring slots ever written: `[0, written)` hold data (what a snapshot saves). */
  protected written = 0;
  private batch: TransitionBatch | null = null;
  /** Ring slots of the last `sample` (`[batch.size]`). */
  private sampleSlots = new Int32Array(0);
  private windows: TransitionWindows | null = null;

  /**
   * @param capacity C, the maximum number of live transitions
   * @param context observation and action sizes; `numEnvs` (default 1) spaces the slots of a window
   * @throws RangeError when capacity < 1
   */
  constructor(
    readonly capacity: number,
    protected readonly context: ReplayBufferContext,
  ) {
    if (!(capacity >= 1)) throw new RangeError(`replayBuffer.capacity must be >= 1, got ${capacity}`);
    const { observationSize: o, actionSize: a } = context;
    this.obs = new Float32Array(capacity * o);
    this.nextObs = new Float32Array(capacity * o);
    this.act = new Float32Array(capacity * a);
    this.rew = new Float32Array(capacity);
    this.term = new Float32Array(capacity);
    this.trunc = new Float32Array(capacity);
  }

  /** Number of live transitions, in [0, capacity]. */
  get size(): number {
    return this.count;
  }

  /** Ring index of the `r`-th oldest live transition (r in [0, size)). */
  protected slot(r: number): number {
    if (this.count === this.capacity) return (this.cursor + r) % this.capacity;
    return (this.cursor - this.count + r + 2 * this.capacity) % this.capacity;
  }

  /** Drops the `k` oldest live transitions (moves the left pointer; k is clamped to [0, size]). */
  protected dropOldest(k: number): void {
    this.count -= Math.max(0, Math.min(k, this.count));
  }

  /** @inheritdoc (writes slot `cursor`, overwriting the oldest transition when full) */
  add(t: Transition): void {
    const { observationSize: o, actionSize: a } = this.context;
    const i = this.cursor;
    this.obs.set(t.observation, i * o);
    this.nextObs.set(t.nextObservation, i * o);
    this.act.set(t.action, i * a);
    this.rew[i] = t.reward;
    this.term[i] = t.terminated ? 1 : 0;
    this.trunc[i] = t.truncated ? 1 : 0;
    this.cursor = (i + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
    this.written = Math.max(this.written, i + 1);
  }

  /**
   * @inheritdoc The ring as stored: the first `written` rows of every array (`obs`, `nextObs`,
   * `act`, `rew`, `term`, `trunc`, plus a subclass's `extraArrays`) and `{cursor, count, written}`,
   * so that a restored buffer samples exactly the same transitions for the same draws.
   */
  snapshot(): ReplayBufferSnapshot {
    const arrays: Record<string, Float32Array> = {};
    for (const [name, { data, width }] of Object.entries(this.storage())) arrays[name] = data.slice(0, this.written * width);
    return { arrays, state: { cursor: this.cursor, count: this.count, written: this.written, capacity: this.capacity, ...this.extraState() } };
  }

  /** @inheritdoc @throws Error naming the array or field that does not match this buffer */
  restore(snapshot: ReplayBufferSnapshot): void {
    const s = snapshot.state as { cursor: number; count: number; written: number; capacity: number };
    if (s.capacity !== this.capacity) throw new Error(`replay buffer snapshot: capacity ${s.capacity} != replayBuffer.capacity ${this.capacity}`);
    for (const [name, { data, width }] of Object.entries(this.storage())) {
      const saved = snapshot.arrays[name];
      if (!saved || saved.length !== s.written * width) throw new Error(`replay buffer snapshot: array ${name} has ${saved?.length ?? 'no'} entries, expected ${s.written * width}`);
      data.fill(0);
      data.set(saved);
    }
    this.cursor = s.cursor;
    this.count = s.count;
    this.written = s.written;
    this.loadExtraState(snapshot.state);
  }

  /** The stored arrays by name with their row width (entries per ring slot); subclasses add theirs. */
  protected storage(): Record<string, { data: Float32Array; width: number }> {
    const { observationSize: o, actionSize: a } = this.context;
    return {
      obs: { data: this.obs, width: o }, nextObs: { data: this.nextObs, width: o }, act: { data: this.act, width: a },
      rew: { data: this.rew, width: 1 }, term: { data: this.term, width: 1 }, trunc: { data: this.trunc, width: 1 },
    };
  }

  /** A subclass's JSON scalars for `snapshot()` (default none). */
  protected extraState(): Record<string, unknown> {
    return {};
  }

  /** Restores what `extraState` returned (default nothing). */
  protected loadExtraState(_state: unknown): void {}

  /**
   * `batchSize` transitions drawn uniformly with replacement from the live data, one
   * `rng.integer(size)` per row. The returned arrays (`[B, O]`, `[B, A]`, `[B]`) are reused by
   * the next call with the same `batchSize`.
   * @throws Error when the buffer is empty
   */
  sample(batchSize: number, rng: Rng): TransitionBatch {
    if (this.count === 0) throw new Error('replay buffer: cannot sample from an empty buffer');
    const { observationSize: o, actionSize: a } = this.context;
    if (!this.batch || this.batch.size !== batchSize) {
      this.sampleSlots = new Int32Array(batchSize);
      this.batch = {
        size: batchSize,
        observations: new Float32Array(batchSize * o),
        actions: new Float32Array(batchSize * a),
        rewards: new Float32Array(batchSize),
        nextObservations: new Float32Array(batchSize * o),
        terminated: new Float32Array(batchSize),
        truncated: new Float32Array(batchSize),
      };
    }
    const b = this.batch;
    const slots = this.sampleSlots;
    // full ring: absolute indices (same draws as before left-pointer support); else oldest-relative
    const full = this.count === this.capacity;
    for (let k = 0; k < batchSize; k++) {
      const r = rng.integer(this.count);
      slots[k] = full ? r : this.slot(r);
    }
    // One gather loop per array: independent iterations keep many cache misses in flight (at
    // capacity 100 000 this measured 0.8× the time of copying row by row across the arrays).
    for (let k = 0; k < batchSize; k++) copyRow(this.obs, slots[k] * o, b.observations, k * o, o);
    for (let k = 0; k < batchSize; k++) copyRow(this.nextObs, slots[k] * o, b.nextObservations, k * o, o);
    for (let k = 0; k < batchSize; k++) copyRow(this.act, slots[k] * a, b.actions, k * a, a);
    for (let k = 0; k < batchSize; k++) {
      const i = slots[k];
      b.rewards[k] = this.rew[i];
      b.terminated[k] = this.term[i];
      b.truncated[k] = this.trunc[i];
    }
    return b;
  }

  /**
   * Uniform windows of `n` consecutive transitions of one env (RLx2 [R-code] samples contiguous
   * slots; with `numEnvs = E` the k-th transition of a window is E slots after the (k−1)-th). A
   * window starts at one of the `size − (n−1)·E` oldest live transitions so it never runs past the
   * newest one; episode ends inside a window are handled by the target (`src/rl/n-step.ts`).
   * Shapes: `observations` `[B, O]` and `actions` `[B, A]` of slot 0; `rewards`, `terminated`,
   * `truncated` `[B, n]`; `nextObservations` `[B, n, O]`. The arrays are reused by the next call
   * with the same `batchSize` and `n`.
   * @throws Error when `size < (n−1)·E + 1` or n is not an integer >= 1
   */
  sampleWindows(batchSize: number, n: number, rng: Rng): TransitionWindows {
    const e = this.context.numEnvs ?? 1;
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`replay buffer: window length must be an integer >= 1, got ${n}`);
    const starts = this.count - (n - 1) * e;
    if (starts < 1) throw new Error(`replay buffer: ${this.count} transitions are too few for windows of ${n} steps x ${e} envs`);
    const { observationSize: o, actionSize: a } = this.context;
    if (!this.windows || this.windows.size !== batchSize || this.windows.n !== n) {
      this.windows = {
        size: batchSize, n,
        observations: new Float32Array(batchSize * o),
        actions: new Float32Array(batchSize * a),
        rewards: new Float32Array(batchSize * n),
        terminated: new Float32Array(batchSize * n),
        truncated: new Float32Array(batchSize * n),
        nextObservations: new Float32Array(batchSize * n * o),
      };
    }
    const w = this.windows;
    for (let b = 0; b < batchSize; b++) {
      const r = rng.integer(starts);
      const i0 = this.slot(r);
      copyRow(this.obs, i0 * o, w.observations, b * o, o);
      copyRow(this.act, i0 * a, w.actions, b * a, a);
      for (let k = 0; k < n; k++) {
        const i = this.slot(r + k * e);
        const j = b * n + k;
        w.rewards[j] = this.rew[i];
        w.terminated[j] = this.term[i];
        w.truncated[j] = this.trunc[i];
        copyRow(this.nextObs, i * o, w.nextObservations, j * o, o);
      }
    }
    return w;
  }
}
