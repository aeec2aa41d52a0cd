import { describe, expect, it } from 'vitest';
import plugin from '../../../plugins/replay-buffer-uniform/index.js';
import { UniformReplayBuffer } from '../../../plugins/replay-buffer-uniform/uniform-replay-buffer.js';
import { Rng } from '../../../src/index.js';

describe('replay-buffer.uniform', () => {
  const t = (k: number) => ({
    observation: Float32Array.from([k, k]), action: Float32Array.from([-k]), reward: k,
    nextObservation: Float32Array.from([k + 0.5, k + 0.5]), terminated: k % 3 === 0, truncated: k % 5 === 0,
  });

  it('the manifest: capacity defaults to 1e6', () => {
    expect(plugin.id).toBe('replay-buffer.uniform');
    expect((plugin.optionsSchema as { properties: { capacity: { default: number } } }).properties.capacity.default).toBe(1000000);
  });

  it('keeps the last `capacity` transitions FIFO and samples consistent rows', () => {
    const buf = new UniformReplayBuffer(4, { observationSize: 2, actionSize: 1 });
    for (let k = 1; k <= 6; k++) buf.add(t(k));
    expect(buf.size).toBe(4);
    expect(buf.capacity).toBe(4);
    const batch = buf.sample(64, new Rng(1));
    const seen = new Set<number>();
    for (let i = 0; i < 64; i++) {
      const k = batch.rewards[i];
      seen.add(k);
      expect(batch.observations[2 * i]).toBe(k);
      expect(batch.nextObservations[2 * i + 1]).toBe(k + 0.5);
      expect(batch.actions[i]).toBe(-k);
      expect(batch.terminated[i]).toBe(k % 3 === 0 ? 1 : 0);
      expect(batch.truncated[i]).toBe(k % 5 === 0 ? 1 : 0);
    }
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });

  it('samples windows for the agents\' nStep option', () => {
    const buf = new UniformReplayBuffer(4, { observationSize: 2, actionSize: 1 });
    for (let k = 1; k <= 6; k++) buf.add(t(k));
    const w = buf.sampleWindows(16, 4, new Rng(1)); // only one window fits: 3, 4, 5, 6
    for (let b = 0; b < 16; b++) expect([...w.rewards.subarray(4 * b, 4 * b + 4)]).toEqual([3, 4, 5, 6]);
  });

  it('refuses to sample when empty, and a capacity < 1', () => {
    expect(() => new UniformReplayBuffer(4, { observationSize: 2, actionSize: 1 }).sample(1, new Rng(1))).toThrow(/empty/);
    expect(() => new UniformReplayBuffer(0, { observationSize: 2, actionSize: 1 })).toThrow(/capacity must be >= 1/);
  });
});
