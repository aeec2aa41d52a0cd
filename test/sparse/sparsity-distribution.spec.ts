import { describe, expect, it } from 'vitest';
import { activeCount, layerSparsities } from '../../src/sparse/sparsity-distribution.js';
import { countActive, initialMask } from '../../src/sparse/mask.js';
import { Rng } from '../../src/util/rng.js';

const actor = (obs: number, act: number) => [
  { inFeatures: obs, outFeatures: 256 },
  { inFeatures: 256, outFeatures: 256 },
  { inFeatures: 256, outFeatures: act },
];
const criticPair = (obs: number, act: number) => [...actor(obs + act, 1), ...actor(obs + act, 1)];
/** docs/methods.md prints 3 decimals (its Hopper critic value 0.691 is 0.69049 rounded up), so compare to ±1e-3. */

const near = (got: number[], want: number[]) => got.forEach((g, i) => expect(Math.abs(g - want[i])).toBeLessThanOrEqual(1.0001e-3));

describe('ERK allocation (docs/methods.md §0.2)', () => {
  // fixtures: docs/methods.md §1.c "Resulting per-layer ERK sparsities" (v3 dims)
  it('TD3 HalfCheetah 0.90 / 0.85', () => {
    near(layerSparsities(actor(17, 6), 0.9, 'erdos-renyi-kernel'), [0.552, 0.944, 0]);
    near(layerSparsities(criticPair(17, 6), 0.85, 'erdos-renyi-kernel').slice(0, 3), [0.371, 0.896, 0]);
  });
  it('TD3 Hopper 0.98 / 0.95', () => {
    near(layerSparsities(actor(11, 3), 0.98, 'erdos-renyi-kernel'), [0.874, 0.99, 0.551]);
    near(layerSparsities(criticPair(11, 3), 0.95, 'erdos-renyi-kernel').slice(0, 3), [0.691, 0.968, 0]);
  });
  it('TD3 Ant 0.96 / 0.88', () => {
    near(layerSparsities(actor(111, 8), 0.96, 'erdos-renyi-kernel'), [0.957, 0.974, 0.567]);
    near(layerSparsities(criticPair(111, 8), 0.88, 'erdos-renyi-kernel').slice(0, 3), [0.843, 0.901, 0]);
  });
  it('equals the closed form D_l = ε(in+out)/(in·out) and meets the global sparsity exactly', () => {
    const layers = actor(17, 6);
    const s = layerSparsities(layers, 0.9, 'erdos-renyi-kernel');
    const n = layers.map((l) => l.inFeatures * l.outFeatures);
    const zeros = s.reduce((a, sl, i) => a + sl * n[i], 0);
    expect(zeros / n.reduce((a, b) => a + b, 0)).toBeCloseTo(0.9, 12);
    // the non-dense layers share one ε
    const eps = (i: number) => ((1 - s[i]) * n[i]) / (layers[i].inFeatures + layers[i].outFeatures);
    expect(eps(0)).toBeCloseTo(eps(1), 10);
  });
  it('uniform gives every layer the target; ER equals ERK for fully connected layers', () => {
    expect(layerSparsities(actor(17, 6), 0.8, 'uniform')).toEqual([0.8, 0.8, 0.8]);
    expect(layerSparsities(actor(17, 6), 0.8, 'erdos-renyi')).toEqual(layerSparsities(actor(17, 6), 0.8, 'erdos-renyi-kernel'));
  });
  it('rejects sparsity outside [0, 1)', () => {
    expect(() => layerSparsities(actor(17, 6), 1, 'uniform')).toThrow(RangeError);
  });
});

describe('initial masks', () => {
  it('keep exactly N − ⌊S·N⌋ weights, random and magnitude', () => {
    const rng = new Rng(3);
    const w = new Float32Array(1000).map(() => rng.normal());
    for (const s of [0, 0.1, 0.55, 0.9, 0.999]) {
      const k = activeCount(1000, s);
      expect(k).toBe(1000 - Math.floor(s * 1000));
      expect(countActive(initialMask(w, k, 'random', rng))).toBe(k);
      expect(countActive(initialMask(w, k, 'magnitude', rng))).toBe(k);
    }
  });
  it('magnitude keeps the largest |w|', () => {
    const w = Float32Array.from([0.1, -3, 2, -0.5, 0.05]);
    expect([...initialMask(w, 2, 'magnitude', new Rng(1))]).toEqual([0, 1, 1, 0, 0]);
  });
  it('random masks are reproducible from the seed and differ across seeds', () => {
    const w = new Float32Array(500);
    const a = initialMask(w, 50, 'random', new Rng(7));
    expect(initialMask(w, 50, 'random', new Rng(7))).toEqual(a);
    expect(initialMask(w, 50, 'random', new Rng(8))).not.toEqual(a);
  });
});
