import { type ReplayBuffer, type ReplayBufferContext, type Transition, type TransitionBatch, type TransitionWindows, type Rng } from '../../src/index.js';

/**
 * FIFO ring buffer of transitions on preallocated typed arrays; uniform sampling with
 * replacement (as TD3's reference `ReplayBuffer`). Memory: `capacity·(2·obs + act + 3)·4` bytes.
 * The live data are the `size` slots before the write cursor (subclasses may drop the oldest
 * ones by lowering `count`, i.e. moving the left pointer).
 */
export class UniformReplayBuffer implements ReplayBuffer {
  protected readonly obs: Float32Array;
  protected readonly nextObs: Float32Array;
  protected readonly act: Float32Array;
  protected readonly rew: Float32Array;
  protected readonly term: Float32Array;
  protected readonly trunc: Float32Array;
  protected cursor = 0;
  protected count = 0;
  private batch: TransitionBatch | null = null;
  private windows: TransitionWindows | null = null;

  /** @throws RangeError when capacity < 1 */
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

  get size(): number {
    return this.count;
  }

  /** Ring index of the `r`-th oldest live transition (r in [0, size)). */
  protected slot(r: number): number {
    if (this.count === this.capacity) return (this.cursor + r) % this.capacity;
    return (this.cursor - this.count + r + 2 * this.capacity) % this.capacity;
  }

  /** @inheritdoc */
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
  }

  /** @inheritdoc */
  sample(batchSize: number, rng: Rng): TransitionBatch {
    if (this.count === 0) throw new Error('replay buffer: cannot sample from an empty buffer');
    const { observationSize: o, actionSize: a } = this.context;
    if (!this.batch || this.batch.size !== batchSize) {
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
    // full ring: absolute indices (same draws as before left-pointer support); else oldest-relative
    const full = this.count === this.capacity;
    for (let k = 0; k < batchSize; k++) {
      const r = rng.integer(this.count);
      const i = full ? r : this.slot(r);
      b.observations.set(this.obs.subarray(i * o, i * o + o), k * o);
      b.nextObservations.set(this.nextObs.subarray(i * o, i * o + o), k * o);
      b.actions.set(this.act.subarray(i * a, i * a + a), k * a);
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
   * @throws Error when `size < (n−1)·E + 1` or n < 1
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
      w.observations.set(this.obs.subarray(i0 * o, i0 * o + o), b * o);
      w.actions.set(this.act.subarray(i0 * a, i0 * a + a), b * a);
      for (let k = 0; k < n; k++) {
        const i = this.slot(r + k * e);
        const j = b * n + k;
        w.rewards[j] = this.rew[i];
        w.terminated[j] = this.term[i];
        w.truncated[j] = this.trunc[i];
        w.nextObservations.set(this.nextObs.subarray(i * o, i * o + o), j * o);
      }
    }
    return w;
  }
}
