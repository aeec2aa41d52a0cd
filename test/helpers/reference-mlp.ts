/**
 * Test helpers shared by the engine suites: a float64 reference MLP (the function whose outputs
 * and gradients every engine must reproduce), central differences, random data and a
 * scale-relative closeness assertion.
 */
import { expect } from 'vitest';
import type { Activation, Mlp, MlpSpec } from '../../src/nn/engine.js';
import { initLinearDefault } from '../../src/nn/init.js';
import { initialMask } from '../../src/sparse/mask.js';
import type { Rng } from '../../src/util/rng.js';

/** One layer of the float64 reference. */
export interface RefLayer {
  inF: number;
  outF: number;
  /** effective weight W ⊙ M, `[out, in]` */
  w: Float64Array;
  b: Float64Array;
}

/** The float64 reference layers of `mlp` (effective weights W ⊙ M). */
export function refLayers(mlp: Mlp): RefLayer[] {
  return mlp.layers.map((l) => {
    const w = Float64Array.from(l.weight);
    if (l.mask) for (let i = 0; i < w.length; i++) w[i] *= l.mask[i];
    return { inF: l.inFeatures, outF: l.outFeatures, w, b: Float64Array.from(l.bias) };
  });
}

function act(a: Activation, z: number): number {
  return a === 'relu' ? Math.max(0, z) : a === 'tanh' ? Math.tanh(z) : z;
}

/** Output `[batch, out]`, and the hidden pre-activations of every layer but the last (`onHidden`). */
export function refForward(layers: RefLayer[], spec: MlpSpec, x: Float64Array, batch: number, onHidden?: (z: Float64Array) => void): Float64Array {
  let a = x;
  layers.forEach((l, k) => {
    const last = k === layers.length - 1;
    const f = last ? spec.outputActivation : spec.hiddenActivation;
    const out = new Float64Array(batch * l.outF);
    const z = new Float64Array(batch * l.outF);
    for (let n = 0; n < batch; n++) {
      for (let o = 0; o < l.outF; o++) {
        let s = l.b[o];
        for (let i = 0; i < l.inF; i++) s += a[n * l.inF + i] * l.w[o * l.inF + i];
        z[n * l.outF + o] = s;
        out[n * l.outF + o] = act(f, s);
      }
    }
    if (!last) onHidden?.(z);
    a = out;
  });
  return a;
}

/** L = Σ r ⊙ y, so dL/dy = r. */
export function refLoss(layers: RefLayer[], spec: MlpSpec, x: Float64Array, batch: number, r: Float32Array): number {
  const y = refForward(layers, spec, x, batch);
  let s = 0;
  for (let i = 0; i < y.length; i++) s += r[i] * y[i];
  return s;
}

/** Central difference of `f` w.r.t. every entry of `arr` (perturbed in place, restored). */
export function centralDiff(arr: Float64Array, f: () => number, h = 1e-6): Float64Array {
  const g = new Float64Array(arr.length);
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    arr[i] = v + h;
    const fp = f();
    arr[i] = v - h;
    const fm = f();
    arr[i] = v;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** `n` normal samples × `scale`. */
export function randomArray(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * rng.normal();
  return a;
}

/** Initialises `mlp` (PyTorch default init) and masks every layer at `density` (< 1). */
export function initNet(mlp: Mlp, rng: Rng, density: number): void {
  initLinearDefault(mlp, rng);
  if (density < 1) {
    mlp.layers.forEach((l, k) => {
      mlp.setMask(k, initialMask(l.weight, Math.round(density * l.weight.length), 'random', rng));
    });
  }
}

/** max |a − b| ≤ rtol · max |b| + atol (scale-relative closeness), reported with the worst position. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = 1e-7, what = ''): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  let maxErr = 0;
  let maxRef = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (!(e <= maxErr)) {
      maxErr = e;
      at = i;
    }
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  const bound = rtol * maxRef + atol;
  expect(maxErr, `${what}: max error ${maxErr} at ${at} (actual ${actual[at]}, expected ${expected[at]}), bound ${bound}`).toBeLessThanOrEqual(bound);
}
