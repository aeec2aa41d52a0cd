/**
 * Compact JSON encodings for `Sparsifier.state()` (checkpoints are JSON): float32 arrays as the
 * base64 of their bytes, and 0/1 masks as the base64 of one byte per entry.
 */

/**
 * A float32 array as base64 of its raw bytes (4 per value, the platform's byte order: little-
 * endian on x86-64 and arm64). Exact, NaN payloads and −0 included.
 * @param values `[n]` any float32 array (a view is encoded from its own offset)
 * @returns a base64 string of 4·n bytes
 */
export function encodeFloat32(values: Float32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

/**
 * Inverse of `encodeFloat32`.
 * @returns a new `[n]` Float32Array (its own buffer)
 * @throws RangeError when the decoded length is not a multiple of 4 bytes
 */
export function decodeFloat32(encoded: string): Float32Array {
  const bytes = Buffer.from(encoded, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/**
 * A mask as base64 of one byte per entry: 1 where the entry is non-zero, else 0.
 * @param mask `[n]` 0/1 (any non-zero encodes as 1)
 * @returns a base64 string of n bytes
 */
export function encodeMask(mask: Float32Array): string {
  return Buffer.from(Uint8Array.from(mask, (x) => (x !== 0 ? 1 : 0))).toString('base64');
}

/** Inverse of `encodeMask`. @returns a new `[n]` Float32Array of 0/1 */
export function decodeMask(encoded: string): Float32Array {
  return Float32Array.from(Buffer.from(encoded, 'base64'));
}
