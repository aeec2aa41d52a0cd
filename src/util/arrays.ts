/**
 * `dst[d … d+n) = src[s … s+n)`: the row copy of the hot paths (minibatch gathers, critic inputs).
 * A plain loop: for rows of tens of floats it measured ≈ 2.7× faster in V8 (Node 20) than
 * `dst.set(src.subarray(…), d)`, which allocates a view per row (concatenating 256 rows of
 * 17 + 6 floats: 9.5 µs against 25.4 µs).
 * @param n floats to copy; the ranges must lie inside both arrays (not checked: out-of-range
 *   reads give `undefined` → NaN and out-of-range writes are dropped, as typed arrays do)
 */
export function copyRow(src: Float32Array, s: number, dst: Float32Array, d: number, n: number): void {
  for (let j = 0; j < n; j++) dst[d + j] = src[s + j];
}
