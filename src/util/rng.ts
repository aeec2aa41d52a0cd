import prand from 'pure-rand';

/**
 * Seeded pseudo-random generator (xoroshiro128+ from `pure-rand`) with the draws RL code needs.
 * Every random choice of a run derives from the run seed through `Rng.fork`, so a run is
 * reproducible and each consumer (network init, masks, exploration, replay sampling) has its own
 * independent stream. The state is serialisable for checkpoints.
 */
export class Rng {
  private gen: prand.RandomGenerator;
  private spareNormal: number | null = null;

  /** @param seed any 32-bit integer */
  constructor(seed: number) {
    this.gen = prand.xoroshiro128plus(seed | 0);
  }

  /** A child stream for `label`: same (seed, label) → same stream, different labels → independent. */
  fork(label: string): Rng {
    let h = this.nextUint32();
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
    return new Rng(h);
  }

  /** Uniform integer in [0, 2^32). */
  nextUint32(): number {
    return this.gen.unsafeNext() >>> 0;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform float in [low, high). */
  uniformRange(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /** Uniform integer in [0, n). @throws RangeError if n < 1 */
  integer(n: number): number {
    if (!(n >= 1)) throw new RangeError(`Rng.integer: n must be >= 1, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal N(0, 1) (Marsaglia polar method). */
  normal(): number {
    if (this.spareNormal !== null) {
      const s = this.spareNormal;
      this.spareNormal = null;
      return s;
    }
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * Math.log(s)) / s);
        this.spareNormal = v * f;
        return u * f;
      }
    }
  }

  /** In-place Fisher–Yates shuffle of `a`. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.integer(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** Serialisable state (for checkpoints). */
  getState(): { generator: number[]; spareNormal: number | null } {
    return { generator: [...(this.gen.getState?.() ?? [])], spareNormal: this.spareNormal };
  }

  /** Restores a state returned by `getState`. */
  setState(state: { generator: number[]; spareNormal: number | null }): void {
    this.gen = prand.xoroshiro128plus.fromState(state.generator);
    this.spareNormal = state.spareNormal;
  }
}

/**
 * The named random streams of a run: `stream(label)` is `new Rng(seed).fork(label)`, so each
 * consumer's stream depends only on the run seed and its label, never on which other streams
 * were requested first or in what order (a plugin that asks for a stream changes no other).
 * Inject it with the `RngStreams` token; make one with `rngStreams(seed)`.
 */
export interface RngStreams {
  /** The run seed (`config.seed`). */
  readonly seed: number;
  /** A fresh stream for `label` (same seed and label → same stream). */
  stream(label: string): Rng;
}

/** DI token of the run's `RngStreams` (bound by the host). */
export const RngStreams = Symbol.for('sparse-rl.RngStreams');

/** The `RngStreams` of run seed `seed`. */
export function rngStreams(seed: number): RngStreams {
  return { seed, stream: (label) => new Rng(seed).fork(label) };
}
