import { describe, expect, it } from 'vitest';
import type { DynamicCapacityOptions } from '../../../plugins/replay-buffer-dynamic-capacity/dynamic-capacity-options.js';
import { DynamicCapacityReplayBuffer } from '../../../plugins/replay-buffer-dynamic-capacity/dynamic-capacity-replay-buffer.js';
import plugin from '../../../plugins/replay-buffer-dynamic-capacity/index.js';
import { Rng } from '../../../src/index.js';

const base: DynamicCapacityOptions = { capacity: 100, minSize: 10, checkInterval: 10, oldestK: 4, threshold: 0.2, distance: 'code', shrinkFraction: 0.1 };
const policyOne = (_o: Float32Array, n: number) => new Float32Array(n).fill(1);

describe('replay-buffer.dynamic-capacity (RLx2 docs/methods.md §1.b.9)', () => {
  it('the manifest: defaults are RLx2 [R-code] TD3 values (docs/methods.md §1.c)', () => {
    expect(plugin.id).toBe('replay-buffer.dynamic-capacity');
    const p = (plugin.optionsSchema as { properties: Record<string, { default?: unknown }> }).properties;
    expect(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.default]))).toEqual({
      capacity: 1000000, minSize: 100000, checkInterval: 10000, oldestK: 2048, threshold: 0.2, distance: 'code', shrinkFraction: 0.1,
    });
  });

  it('code rule: D = MSE(π, actionMean)/2 on the oldest K, drop ⌊10% size⌋ once per check above min size', () => {
    const buf = new DynamicCapacityReplayBuffer(base, { observationSize: 1, actionSize: 1 });
    const sizes: number[] = [];
    const distances: number[] = [];
    for (let k = 0; k < 80; k++) {
      // transitions 0..19 were collected by a policy far from the current one (mean 0 vs π = 1)
      buf.add({ observation: Float32Array.from([k]), action: Float32Array.from([0.3]), actionMean: Float32Array.from([k < 20 ? 0 : 1]), reward: k, nextObservation: Float32Array.from([k]), terminated: false, truncated: false });
      const m = buf.maybeShrink(k + 1, policyOne);
      if (m) {
        sizes.push(buf.size);
        distances.push(m['buffer/policy_distance']);
      }
    }
    // step 10: size 10 not > min 10; 20: 20 → −2; 30: 28 → −2; 40: 36 → −3; 50: 43 → −4;
    // 60: 49 → −4; 70: 55 → −5 (oldest now 20); 80: D = 0, kept
    expect(sizes).toEqual([10, 18, 26, 33, 39, 45, 50, 60]);
    expect(distances).toEqual([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0]);
    // only the newest 60 (20..79) are sampled
    const batch = buf.sample(500, new Rng(1));
    expect(Math.min(...batch.rewards)).toBe(20);
    expect(Math.max(...batch.rewards)).toBe(79);
  });

  it('paper rule: mean L2 ‖π(s) − a‖ over the oldest K, pop FIFO until at most the threshold', () => {
    const buf = new DynamicCapacityReplayBuffer({ ...base, distance: 'paper', oldestK: 2, threshold: 0.5, minSize: 0 }, { observationSize: 1, actionSize: 1 });
    for (let k = 0; k < 10; k++) {
      buf.add({ observation: Float32Array.from([k]), action: Float32Array.from([k < 6 ? -1 : 1]), reward: k, nextObservation: Float32Array.from([k]), terminated: false, truncated: false });
      buf.maybeShrink(k + 1, policyOne);
    }
    // distances 2,2,2,2,2,2,0,0,0,0: window [5,6] has mean 1 > 0.5, [6,7] has 0 → 6 popped
    expect(buf.size).toBe(4);
    expect(buf.lastDistance).toBe(0);
  });

  it('checks only when the step crosses a multiple of checkInterval', () => {
    const buf = new DynamicCapacityReplayBuffer(base, { observationSize: 1, actionSize: 1 });
    buf.add({ observation: Float32Array.from([0]), action: Float32Array.from([0]), reward: 0, nextObservation: Float32Array.from([0]), terminated: false, truncated: false });
    expect(buf.maybeShrink(9, policyOne)).toBeUndefined();
    expect(buf.maybeShrink(11, policyOne)).toBeDefined(); // crossed 10 (numEnvs > 1 steps jump)
  });

  it('windows never span the dropped data', () => {
    const buf = new DynamicCapacityReplayBuffer({ ...base, minSize: 0, shrinkFraction: 0.5 }, { observationSize: 1, actionSize: 1 });
    for (let k = 0; k < 10; k++) buf.add({ observation: Float32Array.from([k]), action: Float32Array.from([0]), actionMean: Float32Array.from([0]), reward: k, nextObservation: Float32Array.from([k]), terminated: false, truncated: false });
    expect(buf.maybeShrink(10, policyOne)).toEqual({ 'buffer/size': 5, 'buffer/policy_distance': 0.5, 'buffer/dropped': 5 });
    const w = buf.sampleWindows(50, 2, new Rng(4));
    for (let b = 0; b < 50; b++) expect(w.rewards[2 * b]).toBeGreaterThanOrEqual(5);
  });
});
