import type { Rng } from '../util/rng.js';

/**
 * Mask helpers. A mask is a `Float32Array` of 0/1 with the weight's shape `[out, in]`.
 */

/** How an initial static mask picks its active weights. */
export type MaskInit = 'random' | 'magnitude';

/**
 * Builds a mask with exactly `active` ones.
 * - `random`: a uniformly random subset (Graesser et al. 2022; SS baseline of RLx2's paper).
 * - `magnitude`: the `active` entries of largest |weight| (RLx2 [R-code] `weight_sparsify`);
 *   ties broken by index.
 * @param weight `[out, in]` current weights (used by `magnitude`)
 * @throws RangeError when `active` is outside [0, weight.length]
 */
export function initialMask(weight: Float32Array, active: number, mode: MaskInit, rng: Rng): Float32Array {
  const n = weight.length;
  if (!(active >= 0 && active <= n)) throw new RangeError(`active count ${active} outside [0, ${n}]`);
  const mask = new Float32Array(n);
  if (mode === 'random') {
    const idx = new Uint32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    // partial Fisher–Yates: the first `active` slots are a uniform random subset
    for (let i = 0; i < active; i++) {
      const j = i + rng.integer(n - i);
      const t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
      mask[idx[i]] = 1;
    }
    return mask;
  }
  for (const i of topK(n, active, (i) => Math.abs(weight[i]))) mask[i] = 1;
  return mask;
}

/**
 * Indices of the `k` largest `score(i)` for i in [0, n), ties broken by lower index.
 * O(n log n); topology updates are rare, so clarity wins here.
 */
export function topK(n: number, k: number, score: (i: number) => number): Uint32Array {
  const idx = new Uint32Array(n);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    idx[i] = i;
    s[i] = score(i);
  }
  idx.sort((a, b) => s[b] - s[a] || a - b);
  return idx.subarray(0, k);
}

/** Number of ones in a mask. */
export function countActive(mask: Float32Array): number {
  let c = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) c++;
  return c;
}
