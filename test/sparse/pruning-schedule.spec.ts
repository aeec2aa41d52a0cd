import { describe, expect, it } from 'vitest';
import { checkWindow, cubicSparsity, iterativeSparsity, pruningPointIndex, pruningPointTime } from '../../src/sparse/pruning-schedule.js';

describe('pruning schedules (docs/methods.md §5.4–5.5)', () => {
  const w = { start: 100, end: 1100, interval: 100 };
  it('cubic: s_i at t₀, s_f at t_end exactly, monotone, the Zhu & Gupta formula in between', () => {
    expect(cubicSparsity(0, 0.1, 0.9, w)).toBe(0.1);
    expect(cubicSparsity(100, 0.1, 0.9, w)).toBe(0.1);
    expect(cubicSparsity(1100, 0.1, 0.9, w)).toBe(0.9);
    expect(cubicSparsity(5000, 0.1, 0.9, w)).toBe(0.9);
    expect(cubicSparsity(600, 0, 0.8, w)).toBeCloseTo(0.8 + (0 - 0.8) * 0.5 ** 3, 12);
    let prev = -1;
    for (let t = 0; t <= 1200; t++) {
      const s = cubicSparsity(t, 0, 0.9, w);
      expect(s).toBeGreaterThanOrEqual(prev);
      prev = s;
    }
  });
  it('pruning points: t₀ + kΔt, the end always included, −1 before t₀', () => {
    expect(pruningPointIndex(99, w)).toBe(-1);
    expect(pruningPointIndex(100, w)).toBe(0);
    expect(pruningPointIndex(199, w)).toBe(0);
    expect(pruningPointIndex(1100, w)).toBe(10);
    expect(pruningPointIndex(9999, w)).toBe(10);
    const odd = { start: 0, end: 250, interval: 100 }; // points 0, 100, 200, 250
    expect([0, 100, 200, 249, 250].map((t) => pruningPointIndex(t, odd))).toEqual([0, 1, 2, 2, 3]);
    expect(pruningPointTime(3, odd)).toBe(250);
    expect(() => checkWindow({ start: 10, end: 5, interval: 1 })).toThrow(RangeError);
    expect(() => checkWindow({ start: 0, end: 5, interval: 0 })).toThrow(RangeError);
  });
  it('iterative: geometric in the remaining weights, capped, s_f at the last point', () => {
    expect(iterativeSparsity(-1, 10, 0, 0.9, 0.2)).toBe(0);
    expect(iterativeSparsity(0, 10, 0, 0.9, 0.2)).toBe(0);
    expect(iterativeSparsity(2, 10, 0, 0.9, 0.2)).toBeCloseTo(1 - 0.8 ** 2, 12);
    expect(iterativeSparsity(9, 10, 0, 0.5, 0.2)).toBe(0.5);
    expect(iterativeSparsity(10, 10, 0, 0.9, 0.01)).toBe(0.9);
  });
});
