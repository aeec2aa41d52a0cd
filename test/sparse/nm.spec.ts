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
