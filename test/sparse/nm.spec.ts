import { describe, expect, it } from 'vitest';
import { nmMask } from '../../src/sparse/nm.js';

describe('N:M masks', () => {
  it('keeps the N largest |w| of every M consecutive weights of each row', () => {
    const w = Float32Array.from([0.1, -0.9, 0.3, 0.2, /* row 1 */ 5, 4, -3, 2]);
    expect([...nmMask(w, 2, 4, 2, 4)]).toEqual([0, 1, 1, 0, 1, 1, 0, 0]);
    expect([...nmMask(w, 2, 4, 1, 4)]).toEqual([0, 1, 0, 0, 1, 0, 0, 0]);
  });
  it('handles a trailing partial group and rejects N >= M', () => {
    const w = Float32Array.from([1, 2, 3, 4, 5, 6]); // groups [1,2,3,4] [5,6]
    expect([...nmMask(w, 1, 6, 2, 4)]).toEqual([0, 0, 1, 1, 1, 1]);
    expect(() => nmMask(w, 1, 6, 4, 4)).toThrow(RangeError);
  });
});

describe('N:M helpers', () => {
  it('nmMaxGroupNonZeros counts the densest M-group of any row, partial groups included', async () => {
    const { nmMaxGroupNonZeros } = await import('../../src/sparse/nm.js');
    const w = Float32Array.from([1, 0, 0, 2, 3, 3, /* row 1 */ 1, 1, 1, 0, 0, 0]);
    expect(nmMaxGroupNonZeros(w, 2, 6, 4)).toBe(3);
    expect(nmMaxGroupNonZeros(w.subarray(0, 6), 1, 6, 4)).toBe(2);
    expect(() => nmMaxGroupNonZeros(w, 2, 5, 4)).toThrow(RangeError);
  });
  it('maskDivergence is the flipped fraction; hardware support only for 2:4 and 1:2', async () => {
    const { maskDivergence, nmHardwareSupported } = await import('../../src/sparse/nm.js');
    expect(maskDivergence(Float32Array.from([1, 0, 1, 0]), Float32Array.from([1, 1, 0, 0]))).toBe(0.5);
    expect(maskDivergence(new Float32Array(3), new Float32Array(3))).toBe(0);
    expect(() => maskDivergence(new Float32Array(2), new Float32Array(3))).toThrow(RangeError);
    expect([nmHardwareSupported(2, 4), nmHardwareSupported(1, 2), nmHardwareSupported(1, 4), nmHardwareSupported(1, 8), nmHardwareSupported(4, 8)]).toEqual([true, true, false, false, false]);
  });
});
