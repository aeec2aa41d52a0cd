/**
 * N:M semi-structured masks (RNM-TD3, arXiv 2602.14578; NVIDIA 2:4): along each row of a
 * weight `[out, in]` (the input dimension), every group of M consecutive weights keeps the N of
 * largest magnitude. A trailing partial group of length L < M keeps min(N, L) (padding the row to
 * a multiple of M with zeros that are never kept gives the same result).
 * @throws RangeError unless 0 < n < m
 */
export function nmMask(weight: Float32Array, outFeatures: number, inFeatures: number, n: number, m: number): Float32Array {
  if (!(Number.isInteger(n) && Number.isInteger(m) && n > 0 && n < m)) throw new RangeError(`N:M needs integers 0 < N < M, got ${n}:${m}`);
  const mask = new Float32Array(outFeatures * inFeatures);
  const idx: number[] = [];
  for (let r = 0; r < outFeatures; r++) {
    for (let g = 0; g < inFeatures; g += m) {
      idx.length = 0;
      for (let j = g; j < Math.min(g + m, inFeatures); j++) idx.push(r * inFeatures + j);
      idx.sort((a, b) => Math.abs(weight[b]) - Math.abs(weight[a]) || a - b);
      for (let k = 0; k < Math.min(n, idx.length); k++) mask[idx[k]] = 1;
    }
  }
  return mask;
}
