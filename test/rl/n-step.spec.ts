import { describe, expect, it } from 'vitest';
import type { TransitionWindows } from '../../src/core/replay-buffer.js';
import { FifoReplayBuffer } from '../../src/rl/fifo-replay-buffer.js';
import { gatherBootstrapStates, nStepTarget } from '../../src/rl/n-step.js';
import { Rng } from '../../src/util/rng.js';

/** Windows of n = 3 with rewards 1, 2, 4 each; γ = 0.5. */
function windows(term: number[][], trunc: number[][]): TransitionWindows {
  const b = term.length;
  return {
    size: b, n: 3, observations: new Float32Array(b), actions: new Float32Array(b),
    rewards: Float32Array.from(term.flatMap(() => [1, 2, 4])),
    terminated: Float32Array.from(term.flat()), truncated: Float32Array.from(trunc.flat()),
    nextObservations: Float32Array.from({ length: b * 3 }, (_, k) => 10 * Math.floor(k / 3) + (k % 3)),
  };
}

describe('RLx2 delayed multi-step TD target (docs/methods.md §1.b.3)', () => {
  // A: time limit at slot 1; B: termination at slot 1; C: no end; D: time limit at the last slot
  const w = windows(
    [[0, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]],
    [[0, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1]],
  );

  it('hand-computed acc, bootstrap slot m and factor alive·γ^{m+1}', () => {
    const t = nStepTarget(w, 0.5);
    // A: 1 + 0.5·2 = 2, bootstrap the final obs s'_1 with γ² = 0.25 (slot 2 is the next episode)
    // B: 1 + 0.5·2 = 2, terminal at slot 1 → later reward and bootstrap dropped
    // C: 1 + 1 + 0.25·4 = 3, bootstrap s'_2 with γ³; D: same as C (the limit is at the last slot)
    expect([...t.partialReturn]).toEqual([2, 2, 3, 3]);
    expect([...t.bootstrapSlot]).toEqual([1, 2, 2, 2]);
    expect([...t.bootstrapFactor]).toEqual([0.25, 0, 0.125, 0.125]);
    expect([...gatherBootstrapStates(w, t.bootstrapSlot, 1, new Float32Array(4))]).toEqual([1, 12, 22, 32]);
  });

  it('SAC entropy terms open·alive·γ^{k+1}·(−α log π) at every s\'_k up to the bootstrap state', () => {
    const t = nStepTarget(w, 0.5, new Float32Array(12).fill(10));
    // A: + 0.5·10 (s'_0) + 0.25·10 (s'_1) = 9.5; B: + 0.5·10 only (s'_1 is terminal) = 7
    // C: + 5 + 2.5 + 1.25 = 11.75
    expect([...t.partialReturn]).toEqual([9.5, 7, 11.75, 11.75]);
  });

  it('n = 1 reduces to r + γ(1 − terminated)·Q', () => {
    const one: TransitionWindows = { ...windows([[0, 0, 0]], [[0, 0, 0]]), size: 2, n: 1, rewards: Float32Array.from([3, 5]), terminated: Float32Array.from([0, 1]), truncated: Float32Array.from([1, 0]) };
    const t = nStepTarget(one, 0.9);
    expect([...t.partialReturn]).toEqual([3, 5]);
    expect([...t.bootstrapFactor]).toEqual([0.9, 0]);
  });
});

describe('n-step targets of windows sampled from a FIFO buffer', () => {
  const add = (buf: FifoReplayBuffer, k: number, term = false, trunc = false) =>
    buf.add({ observation: Float32Array.from([k]), action: Float32Array.from([-k]), reward: k, nextObservation: Float32Array.from([k + 0.5]), terminated: term, truncated: trunc });

  it('the target of a stored episode with a time-limit end and a termination', () => {
    // episode 1: slots 0,1 (time limit at 1); episode 2: slots 2,3 (terminated at 3)
    const buf = new FifoReplayBuffer(10, { observationSize: 1, actionSize: 1 });
    add(buf, 1);
    add(buf, 2, false, true);
    add(buf, 4);
    add(buf, 8, true);
    const w = buf.sampleWindows(100, 3, new Rng(3));
    const t = nStepTarget(w, 0.5);
    for (let b = 0; b < 100; b++) {
      const s = w.observations[b];
      // start 1: r 1, 2 then cut → acc 2, bootstrap s'_1 = 2.5 with γ²
      // start 2: r 2 then cut at slot 0 → acc 2, bootstrap s'_0 = 2.5 with γ
      // start 4: 4 + 0.5·8, terminated → acc 8, no bootstrap
      const expected = { 1: [2, 2.5, 0.25], 2: [2, 2.5, 0.5], 4: [8, Number.NaN, 0] }[s as 1 | 2 | 4];
      expect(t.partialReturn[b]).toBe(expected[0]);
      expect(t.bootstrapFactor[b]).toBe(expected[2]);
      if (expected[2] > 0) expect(w.nextObservations[3 * b + t.bootstrapSlot[b]]).toBe(expected[1]);
    }
  });
});
