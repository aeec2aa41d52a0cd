import { describe, expect, it } from 'vitest';
import { countActive, initialMask, kthSmallest, resizeMask, topK } from '../../src/sparse/mask.js';
import { Rng } from '../../src/util/rng.js';

const mask = (...bits: number[]) => Float32Array.from(bits);

describe('resizeMask (the one mask-reshaping primitive)', () => {
  it('drop: keeps the `count` active positions of largest score; inactive positions are not scored', () => {
    const m = mask(1, 1, 1, 0, 1, 1);
    const w = [0.3, -0.9, 0.1, 5, 0.2, 0.7];
    // active |w|: 0.3, 0.9, 0.1, 0.2, 0.7 → keep 3: 0.9 (1), 0.7 (5), 0.3 (0); index 3 (|w| = 5) is inactive
    expect([...resizeMask(m, 6, 3, (i) => Math.abs(w[i]))]).toEqual([1, 1, 0, 0, 0, 1]);
    expect([...resizeMask(m, 6, 0, (i) => Math.abs(w[i]))]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('grow: keeps every active position and adds the inactive ones of largest score', () => {
    const m = mask(1, 0, 0, 1, 0, 0);
    const s = [-100, 0.2, 0.9, -100, 0.5, 0.1]; // active scores are ignored when growing
    expect([...resizeMask(m, 6, 4, (i) => s[i])]).toEqual([1, 0, 1, 1, 1, 0]);
    expect([...resizeMask(m, 6, 6, (i) => s[i])]).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('ties go to the lower index, when dropping and when growing', () => {
    expect([...resizeMask(mask(1, 1, 1, 1), 4, 2, () => 1)]).toEqual([1, 1, 0, 0]);
    expect([...resizeMask(mask(0, 0, 1, 0), 4, 3, () => 1)]).toEqual([1, 1, 1, 0]);
    // at the threshold only: 0.5 > ties at 0.2 → the 0.2 at index 1 beats those at 2 and 4
    const s = [0.1, 0.2, 0.2, 0.5, 0.2];
    expect([...resizeMask(null, 5, 2, (i) => s[i])]).toEqual([0, 1, 0, 1, 0]);
    // −0 and +0 are one score (as in topK)
    const z = [0, -0, 0, -0];
    expect([...resizeMask(null, 4, 2, (i) => z[i])]).toEqual([1, 1, 0, 0]);
  });

  it('null means every position active; count = active returns an equal copy, never the input', () => {
    expect([...resizeMask(null, 3, 3, () => 0)]).toEqual([1, 1, 1]);
    expect([...resizeMask(null, 3, 1, (i) => i)]).toEqual([0, 0, 1]);
    const m = mask(0, 2, 1); // any non-zero is active; the result is 0/1
    const r = resizeMask(m, 3, 2, () => 0);
    expect([...r]).toEqual([0, 1, 1]);
    expect(r).not.toBe(m);
  });

  it('rejects a count outside [0, size] or not an integer, and a mask of another length', () => {
    expect(() => resizeMask(null, 3, 4, () => 0)).toThrow(RangeError);
    expect(() => resizeMask(null, 3, -1, () => 0)).toThrow(RangeError);
    expect(() => resizeMask(null, 3, 1.5, () => 0)).toThrow(RangeError);
    expect(() => resizeMask(mask(1, 1), 3, 1, () => 0)).toThrow(RangeError);
  });

  it('selects exactly what the topK formulation of the rules selects (random masks, many ties)', () => {
    // the sites before resizeMask: drop = topK(n, k, active ? score : -1), grow = topK(n, k, active ? ∞ : score)
    const rng = new Rng(7);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + rng.integer(60);
      const m = Float32Array.from({ length: n }, () => (rng.uniform() < 0.6 ? 1 : 0));
      const levels = 1 + rng.integer(6); // few distinct values → ties at the threshold
      const score = Float32Array.from({ length: n }, () => rng.integer(levels) / levels);
      const active = countActive(m);
      const count = rng.integer(n + 1);
      const expected = new Float32Array(n);
      const ranked = count <= active ? (i: number) => (m[i] ? score[i] : -1) : (i: number) => (m[i] ? Infinity : score[i]);
      for (const i of topK(n, count, ranked)) expected[i] = 1;
      expect([...resizeMask(m, n, count, (i) => score[i])], `trial ${trial}`).toEqual([...expected]);
    }
  });
});

describe('initialMask', () => {
  it('magnitude: the `active` largest |w|, ties to the lower index', () => {
    const w = Float32Array.from([0.1, -0.5, 0.5, 0.3]);
    expect([...initialMask(w, 2, 'magnitude', new Rng(1))]).toEqual([0, 1, 1, 0]);
  });

  it('random: exactly `active` ones, and rejects a count outside [0, n]', () => {
    const m = initialMask(new Float32Array(50), 17, 'random', new Rng(3));
    expect(countActive(m)).toBe(17);
    expect(() => initialMask(new Float32Array(4), 5, 'random', new Rng(3))).toThrow(RangeError);
  });
});

describe('kthSmallest (the selection behind resizeMask)', () => {
  const rng = new Rng(99);
  const cases: [string, (n: number) => Float64Array][] = [
    ['uniform', (n) => Float64Array.from({ length: n }, () => rng.uniform())],
    ['heavy ties', (n) => Float64Array.from({ length: n }, () => rng.integer(4))],
    ['sorted', (n) => Float64Array.from({ length: n }, (_, i) => i)],
    ['reversed', (n) => Float64Array.from({ length: n }, (_, i) => n - i)],
    ['all equal', (n) => new Float64Array(n).fill(2.5)],
    ['organ pipe', (n) => Float64Array.from({ length: n }, (_, i) => Math.min(i, n - 1 - i))],
  ];
  for (const [name, make] of cases) {
    it(`${name}: equals sort()[r] at every rank (n = 1…40) and at sampled ranks (n = 5000)`, () => {
      for (let n = 1; n <= 40; n++) {
        const v = make(n);
        const sorted = Float64Array.from(v).sort();
        for (let r = 0; r < n; r++) expect(kthSmallest(Float64Array.from(v), r)).toBe(sorted[r]);
      }
      const v = make(5000);
      const sorted = Float64Array.from(v).sort();
      for (const r of [0, 1, 2499, 2500, 4998, 4999, rng.integer(5000)]) expect(kthSmallest(Float64Array.from(v), r)).toBe(sorted[r]);
    });
  }
  it('rejects a rank outside the array', () => {
    expect(() => kthSmallest(new Float64Array(3), 3)).toThrow(/rank 3 outside \[0, 2\]/);
  });
});
