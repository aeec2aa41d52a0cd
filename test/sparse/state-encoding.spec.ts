import { describe, expect, it } from 'vitest';
import { decodeFloat32, decodeMask, encodeFloat32, encodeMask } from '../../src/sparse/state-encoding.js';

describe('state encodings', () => {
  it('float32: base64 of the raw little-endian bytes, exact round trip (−0, NaN, subnormals), views from their offset', () => {
    expect(encodeFloat32(Float32Array.from([1]))).toBe('AACAPw=='); // 1.0f = 0x3f800000
    const a = Float32Array.from([0, -0, 1.5, -2.25, NaN, Infinity, 1e-45, 3.4e38]);
    const b = decodeFloat32(encodeFloat32(a));
    expect(b).toEqual(a);
    expect(Object.is(b[1], -0)).toBe(true);
    expect(b.byteOffset).toBe(0);
    const view = a.subarray(2, 4);
    expect([...decodeFloat32(encodeFloat32(view))]).toEqual([1.5, -2.25]);
    expect(() => decodeFloat32('AAA=')).toThrow(RangeError); // 2 bytes
  });

  it('mask: one byte per entry, any non-zero as 1', () => {
    expect(encodeMask(Float32Array.from([1, 0, 1, 1]))).toBe('AQABAQ==');
    expect([...decodeMask(encodeMask(Float32Array.from([0, 2, -1, 0])))]).toEqual([0, 1, 1, 0]);
  });
});
