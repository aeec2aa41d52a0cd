import { describe, expect, it } from 'vitest';
import { nativeAvailable, nativeSuite } from '../helpers/native-suite.js';
import { uniformStream as rng } from '../helpers/random.js';

import type { Activation, Engine, Mlp, MlpSpec } from '../../src/nn/engine.js';
import { createNativeEngine, NativeMlp } from '../../src/nn/native-engine.js';

// ---------------------------------------------------------------------------------------------
// Helpers: seeded RNG, network init, float64 reference implementation
// ---------------------------------------------------------------------------------------------


function randn(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

function randomArray(r: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = randn(r) * scale;
  return a;
}

function randomMask(r: () => number, n: number, density: number): Float32Array {
  const m = new Float32Array(n);
  for (let i = 0; i < n; i++) m[i] = r() < density ? 1 : 0;
  return m;
}

function spec(sizes: number[], out: Activation = 'linear', hidden: Activation = 'relu', name = 'net'): MlpSpec {
  return { name, layerSizes: sizes, hiddenActivation: hidden, outputActivation: out };
}

/** Fan-in uniform init through the live views. */
function initNet(net: Mlp, r: () => number): void {
  for (const l of net.layers) {
    const bound = 1 / Math.sqrt(l.inFeatures);
    for (let i = 0; i < l.weight.length; i++) l.weight[i] = (2 * r() - 1) * bound * 1.5;
    for (let i = 0; i < l.bias.length; i++) l.bias[i] = (2 * r() - 1) * bound;
  }
}

function act(a: Activation, z: number): number {
  return a === 'relu' ? Math.max(0, z) : a === 'tanh' ? Math.tanh(z) : z;
}

interface RefPass {
  /** Activations per layer, k = 0 (input) .. L, `[batch][size]` as float64. */
  acts: Float64Array[];
  /** Pre-activations per layer k = 1..L (index k-1). */
  pre: Float64Array[];
}

/**
 * Float64 reference forward of an MLP whose effective weights are `weights[k]` (default: the
 * network's weights times its masks).
 */
function refForward(net: Mlp, x: Float32Array, batch: number, weights?: Float64Array[]): RefPass {
  const s = net.spec;
  const acts: Float64Array[] = [Float64Array.from(x)];
  const pre: Float64Array[] = [];
  net.layers.forEach((l, k) => {
    const w = weights?.[k] ?? effectiveWeight(net, k);
    const inA = acts[k];
    const z = new Float64Array(batch * l.outFeatures);
    const h = new Float64Array(batch * l.outFeatures);
    const a = k === net.layers.length - 1 ? s.outputActivation : s.hiddenActivation;
    for (let b = 0; b < batch; b++) {
      for (let o = 0; o < l.outFeatures; o++) {
        let sum = l.bias[o];
        for (let i = 0; i < l.inFeatures; i++) sum += w[o * l.inFeatures + i] * inA[b * l.inFeatures + i];
        z[b * l.outFeatures + o] = sum;
        h[b * l.outFeatures + o] = act(a, sum);
      }
    }
    pre.push(z);
    acts.push(h);
  });
  return { acts, pre };
}

function effectiveWeight(net: Mlp, k: number): Float64Array {
  const l = net.layers[k];
  const w = Float64Array.from(l.weight);
  if (l.mask) for (let i = 0; i < w.length; i++) w[i] *= l.mask[i];
  return w;
}

interface RefGrads {
  dW: Float64Array[];
  db: Float64Array[];
  dx: Float64Array;
}

/** Float64 reference backward: dense gradients (every position) for dL/dy = gy. */
function refBackward(net: Mlp, pass: RefPass, gy: Float32Array, batch: number): RefGrads {
  const L = net.layers.length;
  const s = net.spec;
  const dW: Float64Array[] = [];
  const db: Float64Array[] = [];
  let dh = Float64Array.from(gy);
  for (let k = L - 1; k >= 0; k--) {
    const l = net.layers[k];
    const a = k === L - 1 ? s.outputActivation : s.hiddenActivation;
    const y = pass.acts[k + 1];
    const dz = new Float64Array(dh.length);
    for (let i = 0; i < dz.length; i++) {
      dz[i] = a === 'relu' ? (y[i] > 0 ? dh[i] : 0) : a === 'tanh' ? dh[i] * (1 - y[i] * y[i]) : dh[i];
    }
    const x = pass.acts[k];
    const gW = new Float64Array(l.inFeatures * l.outFeatures);
    const gb = new Float64Array(l.outFeatures);
    for (let b = 0; b < batch; b++) {
      for (let o = 0; o < l.outFeatures; o++) {
        const d = dz[b * l.outFeatures + o];
        gb[o] += d;
        for (let i = 0; i < l.inFeatures; i++) gW[o * l.inFeatures + i] += d * x[b * l.inFeatures + i];
      }
    }
    const w = effectiveWeight(net, k);
    const dx = new Float64Array(batch * l.inFeatures);
    for (let b = 0; b < batch; b++) {
      for (let o = 0; o < l.outFeatures; o++) {
        const d = dz[b * l.outFeatures + o];
        for (let i = 0; i < l.inFeatures; i++) dx[b * l.inFeatures + i] += w[o * l.inFeatures + i] * d;
      }
    }
    dW[k] = gW;
    db[k] = gb;
    dh = dx;
  }
  return { dW, db, dx: dh };
}

/** Asserts |a − e| ≤ atol + rtol·|e| element-wise, reporting the worst index. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const excess = err - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= worstExcess) || Number.isNaN(actual[i])) {
      worstExcess = Number.isNaN(actual[i]) ? Infinity : excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: index ${worst}: got ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Sum of y ⊙ g. */
function dot(y: ArrayLike<number>, g: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * g[i];
  return s;
}

/** On/off pattern of every ReLU pre-activation (for kink detection in finite differences). */
function reluPattern(net: Mlp, x: Float32Array, batch: number, weights?: Float64Array[]): string {
  const p = refForward(net, x, batch, weights);
  const L = net.layers.length;
  return p.pre
    .filter((_, k) => (k === L - 1 ? net.spec.outputActivation : net.spec.hiddenActivation) === 'relu')
    .map((z) => Array.from(z, (v) => (v > 0 ? '1' : '0')).join(''))
    .join('|');
}


// ---------------------------------------------------------------------------------------------

nativeSuite('native engine', () => {
  const engine: Engine = nativeAvailable ? createNativeEngine({ threads: 2 }) : (undefined as unknown as Engine);

  it('describes itself', () => {
    expect(engine.name).toBe('native');
    expect(engine.description).toMatch(/^native \(\w+, 2 threads\)$/);
  });

  it('creates zero-initialised networks with named layers', () => {
    const net = engine.createMlp(spec([4, 8, 2], 'tanh', 'relu', 'actor'));
    expect(net.layers.map((l) => l.name)).toEqual(['actor.l1', 'actor.l2']);
    expect(net.weightCount).toBe(4 * 8 + 8 * 2);
    for (const l of net.layers) {
      expect(maxAbs(l.weight) + maxAbs(l.bias) + maxAbs(l.weightGrad) + maxAbs(l.biasGrad)).toBe(0);
      expect(l.mask).toBeNull();
    }
    const y = net.predict(new Float32Array([1, 2, 3, 4]), 1);
    expect(Array.from(y)).toEqual([0, 0]);
    net.dispose();
  });

  describe('forward matches a float64 reference', () => {
    const cases: { sizes: number[]; out: Activation; densities: (number | null)[] }[] = [
      { sizes: [17, 64, 48, 6], out: 'tanh', densities: [null, 0.7, 0.3, 0.1, 0] },
      { sizes: [23, 256, 256, 1], out: 'linear', densities: [null, 0.1] },
    ];
    for (const c of cases) {
      for (const density of c.densities) {
        for (const batch of [1, 3, 256, 300]) {
          it(`${c.sizes.join('→')} ${c.out}, density ${density ?? 'dense'}, batch ${batch}`, () => {
            const r = rng(1000 + batch + (density ?? 2) * 100);
            const net = engine.createMlp(spec(c.sizes, c.out));
            initNet(net, r);
            if (density !== null) {
              net.layers.forEach((l, k) => net.setMask(k, randomMask(r, l.weight.length, density)));
              const sparse = (net as NativeMlp).sparseKernelLayers();
              expect(sparse.every((s) => s === density <= 0.5)).toBe(true);
            }
            const x = randomArray(r, batch * c.sizes[0]);
            const ref = refForward(net, x, batch);
            const expected = ref.acts[ref.acts.length - 1];
            const y = net.predict(x, batch);
            expectClose(y, expected, 1e-5, 1e-5, 'predict');
            const yf = net.forward(x, batch);
            expect(Array.from(yf)).toEqual(Array.from(y));
            net.dispose();
          });
        }
      }
    }
  });

  describe('gradients', () => {
    const sizes = [5, 7, 6, 3];
    const batch = 3;
    const h = 1e-2;

    /**
     * Central differences of L = Σ y ⊙ g through the engine's own `predict`, skipping
     * perturbations that flip a ReLU (kinks).
     */
    function fdCheck(net: Mlp, x: Float32Array, g: Float32Array, param: Float32Array, analytic: ArrayLike<number>,
      what: string, positions?: number[]): number {
      let checked = 0;
      const idx = positions ?? Array.from(param, (_, i) => i);
      const base = reluPattern(net, x, batch);
      for (const i of idx) {
        const orig = param[i];
        param[i] = orig + h;
        const pPlus = reluPattern(net, x, batch);
        const lPlus = dot(net.predict(x, batch), g);
        param[i] = orig - h;
        const pMinus = reluPattern(net, x, batch);
        const lMinus = dot(net.predict(x, batch), g);
        param[i] = orig;
        if (pPlus !== base || pMinus !== base) continue;
        const fd = (lPlus - lMinus) / (2 * h);
        const an = analytic[i];
        if (Math.abs(fd - an) > 2e-3 + 1e-2 * Math.abs(fd)) {
          expect.fail(`${what}[${i}]: analytic ${an}, finite difference ${fd}`);
        }
        checked++;
      }
      return checked;
    }

    const activations: [Activation, Activation][] = [['relu', 'tanh'], ['relu', 'linear'], ['tanh', 'linear'], ['linear', 'relu']];
    for (const [hidden, out] of activations) {
      it(`dense network, ${hidden} hidden, ${out} output: dL/dW, dL/db, dL/dx match central differences`, () => {
        const r = rng(7);
        const net = engine.createMlp(spec(sizes, out, hidden));
        initNet(net, r);
        const x = randomArray(r, batch * sizes[0]);
        const g = randomArray(r, batch * sizes[sizes.length - 1]);
        net.forward(x, batch);
        const dx = net.backward(g, { inputGrad: true });
        expect(dx).not.toBeNull();
        let checked = 0;
        net.layers.forEach((l) => {
          const dW = Float32Array.from(l.weightGrad);
          const db = Float32Array.from(l.biasGrad);
          checked += fdCheck(net, x, g, l.weight, dW, `${l.name}.weight`);
          checked += fdCheck(net, x, g, l.bias, db, `${l.name}.bias`);
        });
        checked += fdCheck(net, x, g, x, dx!, 'x');
        expect(checked).toBeGreaterThan(0.8 * (net.weightCount + 7 + 6 + 3 + x.length));
        // And the float64 reference backward.
        const ref = refBackward(net, refForward(net, x, batch), g, batch);
        net.layers.forEach((l, k) => {
          expectClose(l.weightGrad, ref.dW[k], 1e-4, 1e-5, `${l.name}.weightGrad`);
          expectClose(l.biasGrad, ref.db[k], 1e-4, 1e-5, `${l.name}.biasGrad`);
        });
        expectClose(dx!, ref.dx, 1e-4, 1e-5, 'dx');
        net.dispose();
      });
    }

    // density 0.3 → sparse kernels; 0.6 → dense kernels on masked weights (threshold 0.5)
    for (const density of [0.3, 0.6]) {
      for (const denseGrad of [false, true]) {
        it(`masked (density ${density}), denseGrad ${denseGrad}: gradients at active and inactive positions`, () => {
          const r = rng(11 + density * 10);
          const net = engine.createMlp(spec(sizes, 'tanh'));
          initNet(net, r);
          net.layers.forEach((l, k) => net.setMask(k, randomMask(r, l.weight.length, density)));
          for (const l of net.layers) {
            for (let i = 0; i < l.weight.length; i++) if (l.mask![i] === 0) expect(l.weight[i]).toBe(0);
          }
          expect((net as NativeMlp).sparseKernelLayers().every((s) => s === density <= 0.5)).toBe(true);
          const x = randomArray(r, batch * sizes[0]);
          const g = randomArray(r, batch * 3);
          net.forward(x, batch);
          // Stale values must be overwritten.
          for (const l of net.layers) l.weightGrad.fill(123);
          const dx = net.backward(g, { inputGrad: true, denseGrad });
          const ref = refBackward(net, refForward(net, x, batch), g, batch);
          let checked = 0;
          net.layers.forEach((l, k) => {
            const mask = l.mask!;
            const dW = Float32Array.from(l.weightGrad);
            const active = Array.from(mask, (m, i) => (m ? i : -1)).filter((i) => i >= 0);
            const inactive = Array.from(mask, (m, i) => (m ? -1 : i)).filter((i) => i >= 0);
            checked += fdCheck(net, x, g, l.weight, dW, `${l.name}.weight`, active);
            checked += fdCheck(net, x, g, l.bias, Float32Array.from(l.biasGrad), `${l.name}.bias`);
            for (const i of inactive) {
              if (!denseGrad) {
                expect(dW[i]).toBe(0);
                continue;
              }
              // Inactive weights do not affect the masked network: differentiate the float64
              // reference with that weight switched on.
              const w = net.layers.map((_, j) => effectiveWeight(net, j));
              const eps = 1e-5;
              w[k][i] = eps;
              const lp = dot(refForward(net, x, batch, w).acts[net.layers.length], g);
              w[k][i] = -eps;
              const lm = dot(refForward(net, x, batch, w).acts[net.layers.length], g);
              const fd = (lp - lm) / (2 * eps);
              expect(Math.abs(dW[i] - fd)).toBeLessThan(1e-4 + 1e-3 * Math.abs(fd));
              checked++;
            }
            expectClose(dW, denseGrad ? ref.dW[k] : ref.dW[k].map((v, i) => (mask[i] ? v : 0)), 1e-4, 1e-5, `${l.name}.weightGrad`);
          });
          checked += fdCheck(net, x, g, x, dx!, 'x');
          expectClose(dx!, ref.dx, 1e-4, 1e-5, 'dx');
          expect(checked).toBeGreaterThan(20);
          net.dispose();
        });
      }
    }

    for (const [density, b] of [[null, 256], [0.1, 256], [0.1, 300], [0.7, 37]] as const) {
      it(`large network 23→256→256→1, density ${density ?? 'dense'}, batch ${b}: gradients match the reference`, () => {
        const r = rng(99 + b);
        const net = engine.createMlp(spec([23, 256, 256, 1]));
        initNet(net, r);
        if (density !== null) net.layers.forEach((l, k) => net.setMask(k, randomMask(r, l.weight.length, density)));
        const x = randomArray(r, b * 23);
        const g = randomArray(r, b, 1 / b);
        net.forward(x, b);
        const dx = net.backward(g, { inputGrad: true });
        const ref = refBackward(net, refForward(net, x, b), g, b);
        net.layers.forEach((l, k) => {
          const scale = maxAbs(ref.dW[k]);
          const expected = l.mask ? ref.dW[k].map((v, i) => (l.mask![i] ? v : 0)) : ref.dW[k];
          expectClose(l.weightGrad, expected, 1e-3, 1e-5 * scale, `${l.name}.weightGrad`);
          expectClose(l.biasGrad, ref.db[k], 1e-3, 1e-5 * maxAbs(ref.db[k]), `${l.name}.biasGrad`);
        });
        expectClose(dx!, ref.dx, 1e-3, 1e-5 * maxAbs(ref.dx), 'dx');
        net.dispose();
      });
    }

    it('backward without a preceding forward throws', () => {
      const net = engine.createMlp(spec([3, 4, 2]));
      expect(() => net.backward(new Float32Array(2))).toThrow(/forward/);
      net.predict(new Float32Array(3), 1);
      expect(() => net.backward(new Float32Array(2))).toThrow(/forward/);
      net.forward(new Float32Array(6), 2);
      expect(() => net.backward(new Float32Array(3))).toThrow(RangeError);
      expect(net.backward(new Float32Array(4))).toBeNull();
      net.dispose();
    });

    it('predict between forward and backward does not disturb the cache', () => {
      const r = rng(5);
      const a = engine.createMlp(spec([5, 16, 2]));
      initNet(a, r);
      const x = randomArray(r, 4 * 5);
      const g = randomArray(r, 4 * 2);
      a.forward(x, 4);
      a.backward(g);
      const expected = a.layers.map((l) => Float32Array.from(l.weightGrad));
      a.forward(x, 4);
      a.predict(randomArray(r, 9 * 5), 9);
      a.backward(g);
      a.layers.forEach((l, k) => expect(Array.from(l.weightGrad)).toEqual(Array.from(expected[k])));
      a.dispose();
    });
  });

  it('sparse and dense kernels agree on masked layers (sparseDensityThreshold 1 vs 0)', () => {
    const engines = [createNativeEngine({ threads: 2, sparseDensityThreshold: 1 }), createNativeEngine({ threads: 2, sparseDensityThreshold: 0 })];
    const results = engines.map((e) => {
      const r = rng(77);
      const net = e.createMlp(spec([23, 256, 256, 6], 'tanh'));
      initNet(net, r);
      net.layers.forEach((l, k) => net.setMask(k, randomMask(r, l.weight.length, 0.5)));
      const x = randomArray(r, 64 * 23);
      const y = net.forward(x, 64);
      const dx = net.backward(randomArray(r, 64 * 6), { inputGrad: true })!;
      const kernels = (net as NativeMlp).sparseKernelLayers();
      const out = { y, dx, kernels, dW: net.layers.map((l) => Float32Array.from(l.weightGrad)) };
      net.dispose();
      return out;
    });
    expect(results[0].kernels).toEqual([true, true, true]);
    expect(results[1].kernels).toEqual([false, false, false]);
    // Same summation order in the forward pass and the input gradient: identical.
    expect(Array.from(results[0].y)).toEqual(Array.from(results[1].y));
    expect(Array.from(results[0].dx)).toEqual(Array.from(results[1].dx));
    results[0].dW.forEach((w, k) => expectClose(w, results[1].dW[k], 1e-5, 1e-6 * maxAbs(w), `dW ${k}`));
    expect(() => createNativeEngine({ sparseDensityThreshold: 2 })).toThrow(RangeError);
  });

  it('validates engine options, specs and optimizer ownership', () => {
    expect(() => createNativeEngine({ threads: 0 })).toThrow(RangeError);
    expect(() => createNativeEngine({ threads: 1.5 })).toThrow(RangeError);
    expect(createNativeEngine({ threads: 1 }).description).toMatch(/1 thread\)$/);
    expect(() => engine.createMlp(spec([4]))).toThrow(RangeError);
    expect(() => engine.createMlp(spec([4, 0, 2]))).toThrow(RangeError);
    expect(() => engine.createMlp(spec([4, 2], 'softmax' as Activation))).toThrow(RangeError);
    const other = createNativeEngine({ threads: 1 });
    const net = other.createMlp(spec([3, 2]));
    expect(() => engine.createAdam(net, { lr: 1e-3 })).toThrow(TypeError);
    expect(() => other.createAdam(net, { lr: -1 })).toThrow(RangeError);
    expect(() => net.predict(new Float32Array(5), 2)).toThrow(RangeError);
    expect(() => net.predict([1, 2, 3] as unknown as Float32Array, 1)).toThrow(TypeError);
    net.dispose();
  });

  describe('determinism', () => {
    it('gives bit-identical outputs and gradients with 1 and 2 threads', () => {
      const one = createNativeEngine({ threads: 1 });
      const results = [one, engine].map((e) => {
        const r = rng(3);
        const net = e.createMlp(spec([23, 256, 256, 1]));
        initNet(net, r);
        net.setMask(1, randomMask(r, 256 * 256, 0.1));
        const x = randomArray(r, 256 * 23);
        const y = net.forward(x, 256);
        const dx = net.backward(randomArray(r, 256), { inputGrad: true })!;
        const out = [y, dx, ...net.layers.flatMap((l) => [Float32Array.from(l.weightGrad), Float32Array.from(l.biasGrad)])];
        net.dispose();
        return out;
      });
      results[0].forEach((a, i) => expect(Buffer.from(a.buffer).equals(Buffer.from(results[1][i].buffer))).toBe(true));
    });
  });

  describe('masks', () => {
    it('setMask validates, applies and normalises the mask; null removes it', () => {
      const r = rng(21);
      const net = engine.createMlp(spec([4, 5, 3]));
      initNet(net, r);
      expect(() => net.setMask(2, null)).toThrow(RangeError);
      expect(() => net.setMask(-1, null)).toThrow(RangeError);
      expect(() => net.setMask(0, new Float32Array(19))).toThrow(RangeError);
      const m = randomMask(r, 20, 0.5);
      m[0] = 2; // non-zero counts as active
      const w0 = Float32Array.from(net.layers[0].weight);
      net.setMask(0, m);
      const l = net.layers[0];
      expect(l.mask).not.toBeNull();
      expect(l.mask![0]).toBe(1);
      for (let i = 0; i < 20; i++) expect(l.weight[i]).toBe(m[i] ? w0[i] : 0);
      // applyMasks re-zeroes weights written through the view
      l.weight.fill(1);
      net.applyMasks();
      for (let i = 0; i < 20; i++) expect(l.weight[i]).toBe(m[i] ? 1 : 0);
      net.setMask(0, null);
      expect(l.mask).toBeNull();
      l.weight.fill(1);
      net.applyMasks();
      expect(Array.from(l.weight).every((v) => v === 1)).toBe(true);
      net.dispose();
    });

    it('copyFrom copies weights, biases and masks', () => {
      const r = rng(22);
      const a = engine.createMlp(spec([6, 40, 2], 'tanh'));
      const b = engine.createMlp(spec([6, 40, 2], 'tanh'));
      initNet(a, r);
      a.setMask(0, randomMask(r, 240, 0.2));
      b.setMask(1, randomMask(r, 80, 0.5));
      b.copyFrom(a);
      expect(b.layers[0].mask && Array.from(b.layers[0].mask)).toEqual(Array.from(a.layers[0].mask!));
      expect(b.layers[1].mask).toBeNull();
      expect((b as NativeMlp).sparseKernelLayers()).toEqual([true, false]);
      const x = randomArray(r, 10 * 6);
      expect(Array.from(b.predict(x, 10))).toEqual(Array.from(a.predict(x, 10)));
      expect(() => b.copyFrom(engine.createMlp(spec([6, 41, 2], 'tanh')))).toThrow(RangeError);
      a.dispose();
      b.dispose();
    });
  });

  describe('views', () => {
    it('are live: writing weights through the view changes predict, gradients appear in place', () => {
      const net = engine.createMlp(spec([2, 3, 1]));
      const x = new Float32Array([1, 2]);
      expect(net.predict(x, 1)[0]).toBe(0);
      net.layers[1].bias[0] = 0.5;
      expect(net.predict(x, 1)[0]).toBe(0.5);
      net.layers[0].weight.set([1, 1, 0, 0, 0, 0]); // h0 = x0 + x1 = 3
      net.layers[1].weight.set([2, 0, 0]);
      expect(net.predict(x, 1)[0]).toBe(6.5);
      const gradView = net.layers[1].weightGrad;
      net.forward(x, 1);
      net.backward(new Float32Array([1]));
      expect(Array.from(gradView)).toEqual([3, 0, 0]);
      expect(Array.from(net.layers[0].weightGrad)).toEqual([2, 4, 0, 0, 0, 0]);
      net.dispose();
    });

    it('dispose detaches the views and later calls throw', () => {
      const net = engine.createMlp(spec([2, 3, 1]));
      const w = net.layers[0].weight;
      net.dispose();
      expect(w.length).toBe(0);
      expect(() => net.predict(new Float32Array(2), 1)).toThrow(/disposed/);
      net.dispose();
    });
  });

  describe('Adam', () => {
    /** PyTorch torch.optim.Adam in float32 arithmetic (Math.fround after every operation). */
    function refAdamStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, mask: Float32Array | null,
      t: number, lr: number, b1: number, b2: number, eps: number, wd: number): void {
      const f = Math.fround;
      const bc1 = 1 - b1 ** t;
      const bc2 = 1 - b2 ** t;
      const negStep = f(-(lr / bc1));
      const bc2s = f(Math.sqrt(bc2));
      for (let i = 0; i < p.length; i++) {
        let gi = mask && mask[i] === 0 ? 0 : g[i];
        if (wd !== 0) gi = f(gi + f(f(wd) * p[i]));
        m[i] = f(m[i] + f(f(1 - b1) * f(gi - m[i])));
        v[i] = f(f(v[i] * f(b2)) + f(f(f(1 - b2) * gi) * gi));
        const denom = f(f(f(Math.sqrt(v[i])) / bc2s) + f(eps));
        p[i] = f(p[i] + f(negStep * f(m[i] / denom)));
        if (mask && mask[i] === 0) p[i] = 0;
      }
    }

    for (const wd of [0, 0.01]) {
      it(`matches a float32 reference of torch.optim.Adam (weightDecay ${wd}, one masked layer)`, () => {
        const r = rng(31);
        const net = engine.createMlp(spec([6, 20, 3], 'tanh', 'relu', 'critic1'));
        initNet(net, r);
        net.setMask(0, randomMask(r, 120, 0.3));
        const opts = { lr: 3e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: wd };
        const opt = engine.createAdam(net, opts);
        expect([...opt.state.keys()]).toEqual(['critic1.l1.weight', 'critic1.l1.bias', 'critic1.l2.weight', 'critic1.l2.bias']);
        const ref = net.layers.flatMap((l) => [
          { p: Float32Array.from(l.weight), m: new Float32Array(l.weight.length), v: new Float32Array(l.weight.length), mask: l.mask },
          { p: Float32Array.from(l.bias), m: new Float32Array(l.bias.length), v: new Float32Array(l.bias.length), mask: null },
        ]);
        for (let t = 1; t <= 5; t++) {
          const x = randomArray(r, 8 * 6);
          net.forward(x, 8);
          net.backward(randomArray(r, 8 * 3));
          const grads = net.layers.flatMap((l) => [Float32Array.from(l.weightGrad), Float32Array.from(l.biasGrad)]);
          opt.step();
          expect(opt.stepCount).toBe(t);
          ref.forEach((s, j) => refAdamStep(s.p, grads[j], s.m, s.v, s.mask, t, opts.lr, 0.9, 0.999, 1e-8, wd));
          net.layers.forEach((l, k) => {
            const [sw, sb] = [ref[2 * k], ref[2 * k + 1]];
            // FMA contraction may differ from the reference by an ulp of the larger operands.
            expectClose(l.weight, sw.p, 1e-5, 1e-7, `step ${t} ${l.name}.weight`);
            expectClose(l.bias, sb.p, 1e-5, 1e-7, `step ${t} ${l.name}.bias`);
            const st = opt.state.get(`${l.name}.weight`)!;
            expectClose(st.m, sw.m, 1e-5, 1e-5 * maxAbs(sw.m), `step ${t} m`);
            expectClose(st.v, sw.v, 1e-5, 1e-5 * maxAbs(sw.v), `step ${t} v`);
          });
        }
        opt.dispose();
        net.dispose();
      });
    }

    it('keeps masked weights exactly 0 over 100 steps, state views are live, setLearningRate and stepCount work', () => {
      const r = rng(41);
      const net = engine.createMlp(spec([23, 256, 256, 1]));
      initNet(net, r);
      net.layers.forEach((l, k) => net.setMask(k, randomMask(r, l.weight.length, 0.1)));
      const opt = engine.createAdam(net, { lr: 1e-3, weightDecay: 1e-4 });
      const st = opt.state.get('net.l2.weight')!;
      expect(maxAbs(st.m)).toBe(0);
      for (let t = 0; t < 100; t++) {
        net.forward(randomArray(r, 32 * 23), 32);
        net.backward(randomArray(r, 32), { denseGrad: t % 10 === 0 });
        opt.step();
      }
      expect(opt.stepCount).toBe(100);
      expect(maxAbs(st.m)).toBeGreaterThan(0);
      for (const l of net.layers) {
        for (let i = 0; i < l.weight.length; i++) if (l.mask![i] === 0) expect(Object.is(l.weight[i], 0)).toBe(true);
      }
      // Writing the state through the view is seen by the next step; lr 0 leaves weights.
      opt.setLearningRate(0);
      const before = Float32Array.from(net.layers[1].weight);
      st.m.fill(0.5);
      net.layers.forEach((l) => {
        l.weightGrad.fill(0);
        l.biasGrad.fill(0);
      });
      opt.step();
      expect(Array.from(net.layers[1].weight)).toEqual(Array.from(before));
      // m ← m + (1 − β1)(g + wd·p − m) with g = 0
      const expectedM = before.map((p, i) => (net.layers[1].mask![i] ? 0.5 + 0.1 * (1e-4 * p - 0.5) : 0.45));
      expectClose(st.m, expectedM, 1e-6, 1e-9, 'm after writing the view');
      // stepCount is writable (checkpoint restore) and drives the bias correction.
      opt.stepCount = 0;
      opt.setLearningRate(0.1);
      net.layers[2].biasGrad[0] = 1;
      const b0 = net.layers[2].bias[0];
      const sb = opt.state.get('net.l3.bias')!;
      sb.m[0] = 0;
      sb.v[0] = 0;
      opt.step();
      expect(net.layers[2].bias[0]).toBeCloseTo(b0 - 0.1, 5); // first step moves by ≈ lr
      expect(() => opt.setLearningRate(-1)).toThrow(RangeError);
      opt.dispose();
      net.dispose();
    });
  });

  describe('gathered Adam and Polyak (large sparse layers, O(nnz))', () => {
    it('give the dense updates bit for bit, through state reads and writes, mask changes and dense gradients', () => {
      // gatheredMaxDensity 1 / minWeights 0: every sparse-kernel layer gathered; 0: never.
      const engines = [createNativeEngine({ threads: 2, gatheredMaxDensity: 1, gatheredMinWeights: 0 }), createNativeEngine({ threads: 2, gatheredMaxDensity: 0 })];
      const runs = engines.map((e) => {
        const r = rng(97);
        const net = e.createMlp(spec([23, 256, 256, 6], 'tanh'));
        const target = e.createMlp(spec([23, 256, 256, 6], 'tanh', 'relu', 'target'));
        initNet(net, r);
        const masks = net.layers.map((l, k) => randomMask(r, l.weight.length, k === 0 ? 0.6 : 0.1)); // layer 0 on the dense kernels
        masks.forEach((m, k) => net.setMask(k, m));
        target.copyFrom(net);
        const opt = e.createAdam(net, { lr: 1e-3, weightDecay: 1e-4 });
        const gathered: boolean[][] = [];
        const train = (steps: number, from: number) => {
          for (let t = from; t < from + steps; t++) {
            net.forward(randomArray(r, 32 * 23), 32);
            net.backward(randomArray(r, 32 * 6), { denseGrad: t % 7 === 0 });
            opt.step();
            target.polyakFrom(net, 0.05);
            gathered.push(net.layers.map((_, k) => (opt as unknown as { gatheredStep(k: number): boolean }).gatheredStep(k)));
          }
        };
        train(20, 0);
        const mid = Float32Array.from(opt.state.get('net.l2.weight')!.v);
        // A write through the views (a moment reset at some active entries) counts at the next step.
        const st = opt.state.get('net.l3.weight')!;
        for (let i = 0; i < st.m.length; i += 3) if (masks[2][i]) st.m[i] = 0;
        train(10, 20);
        // A topology update: drop some active entries of layer 2 (their moments stay: dense step from
        // here), then the moments at every inactive entry reset (gathered again).
        const m2 = Float32Array.from(masks[1]);
        for (let i = 0, dropped = 0; i < m2.length && dropped < 500; i++) if (m2[i]) { m2[i] = 0; dropped++; }
        for (let i = 0, grown = 0; i < m2.length && grown < 500; i += 37) if (!masks[1][i]) { m2[i] = 1; grown++; }
        net.setMask(1, m2);
        train(5, 30);
        const s2 = opt.state.get('net.l2.weight')!;
        for (let i = 0; i < m2.length; i++) if (!m2[i]) { s2.m[i] = 0; s2.v[i] = 0; }
        train(10, 35);
        const state = [...opt.state].map(([name, { m, v }]) => [name, Array.from(m), Array.from(v)]);
        const out = {
          gathered, mid: Array.from(mid), state,
          weights: [net, target].flatMap((n) => n.layers.flatMap((l) => [Array.from(l.weight), Array.from(l.bias)])),
        };
        opt.dispose();
        net.dispose();
        target.dispose();
        return out;
      });
      const [g, d] = runs;
      // The gathered engine took the gathered step on its sparse layers, except after the drop
      // (moments left at dropped entries) until they were reset; the other engine never did.
      expect(g.gathered[0]).toEqual([false, true, true]);
      expect(g.gathered[29]).toEqual([false, true, true]);
      expect(g.gathered.slice(30, 35).map((x) => x[1])).toEqual([false, false, false, false, false]);
      expect(g.gathered[44]).toEqual([false, true, true]);
      expect(d.gathered.flat().some(Boolean)).toBe(false);
      expect(g.mid).toEqual(d.mid);
      expect(g.state).toEqual(d.state);
      expect(g.weights).toEqual(d.weights);
      expect(() => createNativeEngine({ gatheredMaxDensity: 1.5 })).toThrow(RangeError);
      expect(() => createNativeEngine({ gatheredMinWeights: -1 })).toThrow(RangeError);
    });
  });

  describe('Polyak', () => {
    it('applies θ ← τθ_online + (1−τ)θ exactly and masks the target with the online masks', () => {
      const r = rng(51);
      const online = engine.createMlp(spec([5, 30, 2], 'tanh', 'relu', 'actor'));
      const target = engine.createMlp(spec([5, 30, 2], 'tanh', 'relu', 'actorTarget'));
      initNet(online, r);
      initNet(target, r);
      const mask = randomMask(r, 150, 0.2);
      online.setMask(0, mask);
      const tau = 0.005;
      const f = Math.fround;
      for (let rep = 0; rep < 3; rep++) {
        const before = target.layers.map((l) => [Float32Array.from(l.weight), Float32Array.from(l.bias)]);
        target.polyakFrom(online, tau);
        target.layers.forEach((l, k) => {
          const o = online.layers[k];
          const [w0, b0] = before[k];
          for (let i = 0; i < w0.length; i++) {
            const expected = k === 0 && mask[i] === 0 ? 0 : f(f(w0[i] * f(1 - tau)) + f(o.weight[i] * tau));
            expect(Math.abs(l.weight[i] - expected)).toBeLessThanOrEqual(Math.abs(expected) * 2.4e-7); // ≤ 2 ulp
            if (k === 0 && mask[i] === 0) expect(Object.is(l.weight[i], 0)).toBe(true);
          }
          for (let i = 0; i < b0.length; i++) {
            const expected = f(f(b0[i] * f(1 - tau)) + f(o.bias[i] * tau));
            expect(Math.abs(l.bias[i] - expected)).toBeLessThanOrEqual(Math.abs(expected) * 2.4e-7);
          }
        });
      }
      expect(Array.from(target.layers[0].mask!)).toEqual(Array.from(mask));
      expect(target.layers[1].mask).toBeNull();
      // tau = 1 copies; the online mask changes propagate
      const mask2 = randomMask(r, 60, 0.5);
      online.setMask(1, mask2);
      target.polyakFrom(online, 1);
      expect(Array.from(target.layers[1].mask!)).toEqual(Array.from(mask2));
      online.layers.forEach((l, k) => expect(Array.from(target.layers[k].weight)).toEqual(Array.from(l.weight)));
      expect(() => target.polyakFrom(online, 1.5)).toThrow(RangeError);
      online.dispose();
      target.dispose();
    });
  });
});
