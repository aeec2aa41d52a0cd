import { describe, expect, it } from 'vitest';
import { Rng, type ReplayBufferContext } from '../../src/index.js';
import { FifoReplayBuffer } from '../../src/rl/fifo-replay-buffer.js';
import { scriptedRng } from './fakes.js';

/** Exposes the protected left-pointer move, as RLx2's dynamic-capacity buffer uses it. */
class Droppable extends FifoReplayBuffer {
  drop(k: number): void {
    this.dropOldest(k);
  }
}

const one: ReplayBufferContext = { observationSize: 1, actionSize: 1 };
/** Transition k: s = k, a = −k, r = k, s' = k + 0.5. */
const add = (buf: FifoReplayBuffer, k: number, term = false, trunc = false) =>
  buf.add({ observation: Float32Array.from([k]), action: Float32Array.from([-k]), reward: k, nextObservation: Float32Array.from([k + 0.5]), terminated: term, truncated: trunc });

describe('FifoReplayBuffer (src/rl): ring storage, uniform sampling, windows', () => {
  it('capacity 3 after adding 0..4 keeps 2, 3, 4; a full ring samples by absolute slot (slots hold 3, 4, 2)', () => {
    const buf = new FifoReplayBuffer(3, one);
    for (let k = 0; k < 5; k++) add(buf, k);
    expect(buf.size).toBe(3);
    const b = buf.sample(3, scriptedRng([0, 1, 2]));
    expect([...b.rewards]).toEqual([3, 4, 2]);
    expect([...b.observations]).toEqual([3, 4, 2]);
    expect([...b.actions]).toEqual([-3, -4, -2]);
    expect([...b.nextObservations]).toEqual([3.5, 4.5, 2.5]);
  });

  it('a partly filled ring samples oldest-first; flags and rows stay together', () => {
    const buf = new FifoReplayBuffer(10, { observationSize: 2, actionSize: 1 });
    buf.add({ observation: Float32Array.from([1, 2]), action: Float32Array.from([0.5]), reward: 7, nextObservation: Float32Array.from([3, 4]), terminated: true, truncated: false });
    buf.add({ observation: Float32Array.from([5, 6]), action: Float32Array.from([-0.5]), reward: 8, nextObservation: Float32Array.from([7, 8]), terminated: false, truncated: true });
    const b = buf.sample(2, scriptedRng([1, 0]));
    expect([...b.observations]).toEqual([5, 6, 1, 2]);
    expect([...b.nextObservations]).toEqual([7, 8, 3, 4]);
    expect([...b.actions]).toEqual([-0.5, 0.5]);
    expect([...b.rewards]).toEqual([8, 7]);
    expect([...b.terminated]).toEqual([0, 1]);
    expect([...b.truncated]).toEqual([1, 0]);
    expect(buf.sample(2, new Rng(1))).toBe(b); // arrays reused for the same batch size
  });

  it('dropOldest moves the left pointer: capacity 4, 0..4 added, 2 dropped → live 3, 4; a new add grows it again', () => {
    const buf = new Droppable(4, one);
    for (let k = 0; k < 5; k++) add(buf, k);
    buf.drop(2);
    expect(buf.size).toBe(2);
    expect([...buf.sample(2, scriptedRng([0, 1])).rewards]).toEqual([3, 4]);
    expect([...buf.sampleWindows(1, 2, scriptedRng([0])).rewards]).toEqual([3, 4]);
    add(buf, 5);
    expect(buf.size).toBe(3);
    expect([...buf.sample(3, scriptedRng([0, 1, 2])).rewards]).toEqual([3, 4, 5]);
    buf.drop(10);
    expect(buf.size).toBe(0);
  });

  it('samples contiguous windows inside the live data, across the ring wrap', () => {
    const buf = new FifoReplayBuffer(5, one);
    for (let k = 0; k < 8; k++) add(buf, k); // live: 3..7
    const w = buf.sampleWindows(200, 3, new Rng(1));
    const starts = new Set<number>();
    for (let b = 0; b < 200; b++) {
      const s = w.observations[b];
      starts.add(s);
      expect(w.actions[b]).toBe(-s);
      expect([...w.rewards.subarray(3 * b, 3 * b + 3)]).toEqual([s, s + 1, s + 2]);
      expect([...w.nextObservations.subarray(3 * b, 3 * b + 3)]).toEqual([s + 0.5, s + 1.5, s + 2.5]);
    }
    expect([...starts].sort()).toEqual([3, 4, 5]);
  });

  it('steps by numEnvs so a window follows one env', () => {
    const buf = new FifoReplayBuffer(20, { ...one, numEnvs: 2 });
    for (let k = 0; k < 10; k++) add(buf, k); // env 0: even k, env 1: odd k
    const w = buf.sampleWindows(50, 3, new Rng(2));
    for (let b = 0; b < 50; b++) {
      const s = w.observations[b];
      expect([...w.rewards.subarray(3 * b, 3 * b + 3)]).toEqual([s, s + 2, s + 4]);
    }
    // 10 transitions, n = 3, E = 2: starts 0..5 (10 − 2·2), start 5 is transition 5
    expect([...buf.sampleWindows(1, 3, scriptedRng([5])).rewards]).toEqual([5, 7, 9]);
  });

  it('throws on capacity < 1, an empty sample, a bad window length and too few transitions', () => {
    expect(() => new FifoReplayBuffer(0, one)).toThrow(RangeError);
    const buf = new FifoReplayBuffer(5, one);
    expect(() => buf.sample(1, new Rng(1))).toThrow(/empty/);
    add(buf, 0);
    add(buf, 1);
    expect(() => buf.sampleWindows(1, 0, new Rng(1))).toThrow(/integer >= 1/);
    expect(() => buf.sampleWindows(1, 1.5, new Rng(1))).toThrow(/integer >= 1/);
    expect(() => buf.sampleWindows(1, 3, new Rng(1))).toThrow(/too few/);
    expect(buf.sampleWindows(1, 2, new Rng(1)).n).toBe(2);
  });
});
