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
  return resizeMask(null, n, active, (i) => Math.abs(weight[i]));
}

/**
 * Indices of the `k` largest `score(i)` for i in [0, n), ties broken by lower index, in
 * descending score order. O(n log n). Mask changes use `resizeMask`, which selects the same
 * entries.
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

/**
 * The one mask-reshaping primitive of the topology rules: a copy of `mask` whose active set is
 * resized to exactly `count` positions by score (ties to the lower index, like `topK`).
 *
 * - `count` ≤ active (drop): keeps the `count` active positions of largest `score`; the others
 *   become 0. Only active positions are scored.
 * - `count` > active (grow): keeps every active position and activates the `count − active`
 *   inactive positions of largest `score`. Only inactive positions are scored.
 *
 * So one `score` can rank the active entries for dropping and the inactive ones for growing
 * (GST: |W| of the live weights, |frozen value| of the pruned ones). A drop-and-grow step is two
 * calls: `resizeMask(mask, n, active − k, drop)` then `resizeMask(that, n, active, grow)` (RigL,
 * `pruneAndGrow`). Used by RigL/RLx2 (`pruneAndGrow`, Evci et al. 2020 [RigL-code]
 * `mask_updaters.py`), magnitude pruning (Zhu & Gupta 2017), GST's block and weight pruning
 * (docs/methods.md §9.2.4), DS-TD3's MaintainSparsity (Sokar et al. 2022, §2.b.4) and the
 * `magnitude` initial masks (RLx2 [R-code] `weight_sparsify`).
 *
 * The entries chosen are exactly those of `topK` over the same candidates (the k-th largest
 * score is the threshold; every larger score is taken, then equal scores by ascending index),
 * found with one selection (expected O(n)) over the candidates' scores.
 *
 * @param mask `[size]` 0/1 (any non-zero counts as active), or null for "every position active"
 * @param size number of positions (`out·in` for a weight mask, blocks for a block mask)
 * @param count active positions wanted, an integer in [0, size]
 * @param score `(i) => number`, finite and not NaN at every scored position; pure (called once
 *   per scored position, in ascending order)
 * @returns a new `[size]` 0/1 mask with exactly `count` ones
 * @throws RangeError when `mask.length ≠ size` or `count` is not an integer in [0, size]
 */
export function resizeMask(mask: Float32Array | null, size: number, count: number, score: (i: number) => number): Float32Array {
  if (mask && mask.length !== size) throw new RangeError(`resizeMask: mask has ${mask.length} entries, expected ${size}`);
  if (!(Number.isInteger(count) && count >= 0 && count <= size)) throw new RangeError(`resizeMask: count ${count} is not an integer in [0, ${size}]`);
  const next = new Float32Array(size);
  let active = 0;
  for (let i = 0; i < size; i++) {
    if (!mask || mask[i] !== 0) {
      next[i] = 1;
      active++;
    }
  }
  if (count === active) return next;
  const drop = count < active;
  // candidates: the active positions when dropping, the inactive ones when growing (ascending)
  const candidates = new Uint32Array(drop ? active : size - active);
  let c = 0;
  for (let i = 0; i < size; i++) if ((next[i] === 1) === drop) candidates[c++] = i;
  const chosen = topCandidates(candidates, drop ? count : count - active, score);
  if (drop) next.fill(0);
  for (const i of chosen) next[i] = 1;
  return next;
}

/**
 * The `k` candidates of largest score, ties to the earlier candidate (candidates ascending, so
 * to the lower index): the same set as sorting by (score desc, index asc) and taking k.
 */
function topCandidates(candidates: Uint32Array, k: number, score: (i: number) => number): Uint32Array {
  const m = candidates.length;
  if (k === 0) return new Uint32Array(0);
  if (k === m) return candidates;
  const s = new Float64Array(m);
  for (let j = 0; j < m; j++) s[j] = score(candidates[j]);
  const threshold = kthSmallest(Float64Array.from(s), m - k); // the k-th largest score
  let ties = k;
  for (let j = 0; j < m; j++) if (s[j] > threshold) ties--;
  const out = new Uint32Array(k);
  let o = 0;
  for (let j = 0; j < m && o < k; j++) {
    if (s[j] > threshold) out[o++] = candidates[j];
    else if (s[j] === threshold && ties > 0) {
      out[o++] = candidates[j];
      ties--;
    }
  }
  return out;
}

/**
 * The `r`-th smallest value of `values` (0-based, `r` in [0, length)), as `values.sort()[r]`
 * gives it, in expected O(n): Hoare quickselect with median-of-three pivots (Hoare 1961,
 * "Algorithm 65: FIND"), falling back to a sort of the remaining range after 2·log₂(n) + 8
 * partition rounds (introselect, Musser 1997), so the worst case stays O(n log n). Reorders
 * `values` (pass a copy). No NaN allowed.
 */
export function kthSmallest(values: Float64Array, r: number): number {
  let lo = 0;
  let hi = values.length - 1;
  if (!(Number.isInteger(r) && r >= 0 && r <= hi)) throw new RangeError(`kthSmallest: rank ${r} outside [0, ${hi}]`);
  let rounds = 2 * Math.ceil(Math.log2(values.length + 1)) + 8;
  while (hi > lo) {
    if (rounds-- === 0) return values.subarray(lo, hi + 1).sort()[r - lo];
    const mid = (lo + hi) >>> 1;
    const a = values[lo];
    const b = values[mid];
    const c = values[hi];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i] = values[j];
        values[j] = t;
        i++;
        j--;
      }
    }
    // [lo, j] ≤ pivot ≤ [i, hi]; entries strictly between j and i equal the pivot
    if (r <= j) hi = j;
    else if (r >= i) lo = i;
    else return values[r];
  }
  return values[r];
}
