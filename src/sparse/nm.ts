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

/**
 * Largest number of non-zeros found in any group of M consecutive entries of a row of
 * `values` `[out, in]` (groups along the input dimension, the trailing partial group included).
 * A matrix satisfies N:M exactly when the result is ≤ N. Works on weights and on masks.
 */
export function nmMaxGroupNonZeros(values: Float32Array, outFeatures: number, inFeatures: number, m: number): number {
  if (values.length !== outFeatures * inFeatures) throw new RangeError(`expected ${outFeatures}×${inFeatures} entries, got ${values.length}`);
  let worst = 0;
  for (let r = 0; r < outFeatures; r++) {
    for (let g = 0; g < inFeatures; g += m) {
      let nz = 0;
      for (let j = g; j < Math.min(g + m, inFeatures); j++) if (values[r * inFeatures + j] !== 0) nz++;
      if (nz > worst) worst = nz;
    }
  }
  return worst;
}

/**
 * Whether an N:M pattern runs on off-the-shelf sparse hardware: NVIDIA Ampere/Hopper sparse
 * tensor cores accelerate 2:4 (fp16/bf16/int8) and 1:2 (tf32) along the reduction dimension
 * (Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks", arXiv 2104.08378). Every
 * other ratio gives only a theoretical speed-up (docs/methods.md §4.e).
 */
export function nmHardwareSupported(n: number, m: number): boolean {
  return (n === 2 && m === 4) || (n === 1 && m === 2);
}

/**
 * Fraction of entries whose mask bit differs between `a` and `b` (same length): the Sparse
 * Architecture Divergence of Zhou et al. 2021 (SR-STE) as docs/methods.md §4.b.7 / §9.4.6 define it,
 * normalised by the mask size. @throws RangeError on a length mismatch
 */
export function maskDivergence(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`mask lengths differ: ${a.length} vs ${b.length}`);
  if (a.length === 0) return 0;
  let flips = 0;
  for (let i = 0; i < a.length; i++) if ((a[i] !== 0) !== (b[i] !== 0)) flips++;
  return flips / a.length;
}
