import type { ReplayBuffer, ReplayBufferContext, Transition, TransitionBatch } from '../../src/core/replay-buffer.js';
import type { Rng } from '../../src/util/rng.js';

/**
 * FIFO ring buffer of transitions on preallocated typed arrays; uniform sampling with
 * replacement (as TD3's reference `ReplayBuffer`). Memory: `capacity·(2·obs + act + 3)·4` bytes.
 */
export class UniformReplayBuffer implements ReplayBuffer {
  private readonly obs: Float32Array;
  private readonly nextObs: Float32Array;
  private readonly act: Float32Array;
  private readonly rew: Float32Array;
  private readonly term: Float32Array;
  private readonly trunc: Float32Array;
  private cursor = 0;
  private count = 0;
  private batch: TransitionBatch | null = null;

  /** @throws RangeError when capacity < 1 */
  constructor(
    readonly capacity: number,
    private readonly context: ReplayBufferContext,
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
    for (let k = 0; k < batchSize; k++) {
      const i = rng.integer(this.count);
      b.observations.set(this.obs.subarray(i * o, i * o + o), k * o);
      b.nextObservations.set(this.nextObs.subarray(i * o, i * o + o), k * o);
      b.actions.set(this.act.subarray(i * a, i * a + a), k * a);
      b.rewards[k] = this.rew[i];
      b.terminated[k] = this.term[i];
      b.truncated[k] = this.trunc[i];
    }
    return b;
  }
}
