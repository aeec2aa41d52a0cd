import { afterAll, expect, it } from 'vitest';
import { nativeAvailable, nativeSuite } from '../helpers/native-suite.js';
import { uniformStream as rng } from '../helpers/random.js';

import type { Activation, Engine, Mlp, MlpSpec } from '../../src/nn/engine.js';
import { createNativeEngine, defaultCirculantFftMinBatch, NativeMlp } from '../../src/nn/native-engine.js';
import {
  circulantLayout,
  expandBlockMask,
  extractCirculant,
  foldCirculantGradient,
  materializeCirculant,
  type CirculantLayout,
} from '../../src/sparse/block-circulant.js';

/*
 * Block-circulant layers of the native MLP (`Mlp.setBlockCirculant`, native/src/mlp.cc +
 * circulant.cc): against an identical MLP without the declaration whose weight gradient is folded
 * in JS (what the GST sparsifier does), on the FFT path (batch ≥ circulantFftMinBatch) and on the
 * normal kernels with the native fold (smaller batches).
 */


function randomArray(r: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * r() - 1) * scale;
  return a;
}

function spec(sizes: number[], hidden: Activation, out: Activation): MlpSpec {
  return { name: 'net', layerSizes: sizes, hiddenActivation: hidden, outputActivation: out };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** max |a − e| ≤ rel · max |e| (relative to the array's scale), NaN-safe. */
function expectRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  const d = maxDiff(actual, expected);
  const scale = Math.max(maxAbs(expected), 1e-30);
  expect(d / scale, `${what}: max |diff| ${d} against scale ${scale}`).toBeLessThanOrEqual(rel);
}

/** Deviation of W from exactly block-circulant: max |W − materialise(extract(W))|. */
function circulantDeviation(w: Float32Array, layout: CirculantLayout, g: Float32Array | null): number {
  return maxDiff(w, materializeCirculant(extractCirculant(w, layout), layout, g));
}

/** Random block mask [outBlocks, inBlocks] with about `density` active blocks (at least one). */
function randomBlockMask(r: () => number, layout: CirculantLayout, density: number): Float32Array {
  const g = new Float32Array(layout.outBlocks * layout.inBlocks);
  for (let i = 0; i < g.length; i++) g[i] = r() < density ? 1 : 0;
  g[0] = 1;
  return g;
}

interface Pair {
  plain: Mlp;
  circ: NativeMlp;
  layouts: (CirculantLayout | null)[];
  blockMasks: (Float32Array | null)[];
}

/**
 * Two identical networks with circulant weights (layers in `circulant`); `circ` declares them
 * block-circulant, `plain` does not. Masks (whole blocks) on both when `masked`.
 */
function makePair(engine: Engine, sizes: number[], hidden: Activation, out: Activation, b: number,
  circulant: readonly number[], masked: boolean, seed: number): Pair {
  const r = rng(seed);
  const plain = engine.createMlp(spec(sizes, hidden, out));
  const circ = engine.createMlp(spec(sizes, hidden, out)) as NativeMlp;
  const layouts: (CirculantLayout | null)[] = [];
  const blockMasks: (Float32Array | null)[] = [];
  plain.layers.forEach((l, k) => {
    const bound = 1.5 / Math.sqrt(l.inFeatures);
    l.weight.set(randomArray(r, l.weight.length, bound));
    l.bias.set(randomArray(r, l.bias.length, bound));
    if (!circulant.includes(k)) {
      layouts.push(null);
      blockMasks.push(null);
      return;
    }
    const layout = circulantLayout(l.outFeatures, l.inFeatures, b);
    l.weight.set(materializeCirculant(extractCirculant(l.weight, layout), layout));
    layouts.push(layout);
    const g = masked ? randomBlockMask(r, layout, 0.6) : null;
    blockMasks.push(g);
    if (g) plain.setMask(k, expandBlockMask(g, layout));
  });
  circ.copyFrom(plain);
  for (const k of circulant) circ.setBlockCirculant(k, b);
  return { plain, circ, layouts, blockMasks };
}

/** The plain network's gradient folded in JS, as the GST sparsifier does without the engine. */
function foldPlain(pair: Pair): void {
  pair.plain.layers.forEach((l, k) => {
    const layout = pair.layouts[k];
    if (layout) materializeCirculant(foldCirculantGradient(l.weightGrad, layout), layout, pair.blockMasks[k], l.weightGrad);
  });
}


nativeSuite('native MLP with block-circulant layers (setBlockCirculant)', () => {
  // `auto`: the default FFT threshold (small batches on the normal kernels + native fold);
  // `fft`: the FFT at every batch.
  const engines: Record<'auto' | 'fft', Engine> = nativeAvailable
    ? { auto: createNativeEngine({ threads: 2 }), fft: createNativeEngine({ threads: 2, circulantFftMinBatch: 1 }) }
    : ({} as Record<'auto' | 'fft', Engine>);
  const pairs: Pair[] = [];
  afterAll(() => pairs.forEach((p) => (p.plain.dispose(), p.circ.dispose())));

  const cases = [
    { sizes: [17, 64, 64, 6], hidden: 'relu', out: 'tanh', b: 4, circulant: [0, 1, 2] },
    { sizes: [23, 64, 64, 1], hidden: 'tanh', out: 'linear', b: 8, circulant: [0, 1, 2] },
    { sizes: [23, 64, 64, 1], hidden: 'relu', out: 'linear', b: 4, circulant: [0, 2] },
    { sizes: [17, 64, 64, 6], hidden: 'tanh', out: 'relu', b: 16, circulant: [1] },
    { sizes: [17, 64, 64, 6], hidden: 'relu', out: 'linear', b: 32, circulant: [0, 1, 2] },
  ] as const;

  for (const [ci, c] of cases.entries()) {
    for (const masked of [false, true]) {
      for (const mode of ['auto', 'fft'] as const) {
        for (const batch of [1, 5, 256]) {
          const name = `${c.sizes.join('→')} ${c.hidden}/${c.out}, b = ${c.b}, layers ${c.circulant.join(',')}, ` +
            `${masked ? 'block mask' : 'no mask'}, ${mode}, batch ${batch}`;
          it(name, () => {
            const engine = engines[mode];
            const pair = makePair(engine, [...c.sizes], c.hidden, c.out, c.b, c.circulant, masked, 100 * ci + (masked ? 7 : 3));
            pairs.push(pair);
            const { plain, circ, layouts, blockMasks } = pair;
            const trainFft = mode === 'fft' || batch >= defaultCirculantFftMinBatch(c.b, 'train');
            const predictFft = mode === 'fft' || batch >= defaultCirculantFftMinBatch(c.b, 'predict');
            const isCirc = c.sizes.slice(1).map((_, k) => c.circulant.includes(k as never));
            expect(circ.circulantFftLayers(batch, 'train')).toEqual(isCirc.map((y) => y && trainFft));
            expect(circ.circulantFftLayers(batch, 'predict')).toEqual(isCirc.map((y) => y && predictFft));
            for (const k of c.circulant) expect(circ.blockCirculant(k)).toBe(c.b);

            const r = rng(9000 + batch + ci);
            const x = randomArray(r, batch * c.sizes[0]);
            // predict, then a training forward, then predict again (inference must not disturb
            // the training cache of the FFT layers)
            const yp = circ.predict(x, batch);
            const yPlain = plain.forward(x, batch);
            expectRelClose(yp, yPlain, 1e-4, 'predict');
            const yf = circ.forward(x, batch);
            expectRelClose(yf, yPlain, 1e-4, 'forward');
            if (trainFft === predictFft) expect(Array.from(yf)).toEqual(Array.from(yp)); // same kernels: bitwise
            circ.predict(randomArray(r, 3 * c.sizes[0]), 3);
            circ.predict(randomArray(r, 300 * c.sizes[0]), 300);

            const gy = randomArray(r, batch * c.sizes[c.sizes.length - 1], 1 / batch);
            const dxPlain = plain.backward(gy, { inputGrad: true })!;
            const dx = circ.backward(gy, { inputGrad: true, denseGrad: true })!;  // denseGrad ignored on circulant layers
            expectRelClose(dx, dxPlain, 1e-4, 'dx');
            // the plain (unfolded) gradients differ from the folded ones: the check below can fail
            const unfolded = plain.layers.map((l) => Float32Array.from(l.weightGrad));
            foldPlain(pair);
            circ.layers.forEach((l, k) => {
              expectRelClose(l.biasGrad, plain.layers[k].biasGrad, 1e-4, `biasGrad ${k}`);
              expectRelClose(l.weightGrad, plain.layers[k].weightGrad, 1e-4, `weightGrad ${k}`);
              if (layouts[k]) {
                // (a single-row layer has one entry per diagonal: folding changes nothing)
                if (l.outFeatures > 1) expect(maxDiff(unfolded[k], plain.layers[k].weightGrad)).toBeGreaterThan(1e-3 * maxAbs(unfolded[k]));
                // folded gradient: exactly circulant, 0 in pruned blocks
                expect(circulantDeviation(l.weightGrad, layouts[k]!, blockMasks[k])).toBe(0);
              }
            });

            // One Adam step on each: W stays exactly circulant and matches the JS-folded plain run.
            const folded = plain.layers.map((l) => Float32Array.from(l.weightGrad));
            const lr = 1e-3;
            const optPlain = engine.createAdam(plain, { lr });
            const optCirc = engine.createAdam(circ, { lr });
            optPlain.step();
            optCirc.step();
            circ.layers.forEach((l, k) => {
              if (layouts[k]) expect(circulantDeviation(l.weight, layouts[k]!, blockMasks[k]), `W ${k} circulant after Adam`).toBe(0);
              // Adam's first step is −lr·g/(|g| + eps), eps = 1e-8: where the true gradient is ~0
              // (a diagonal whose every term is 0, e.g. dead ReLU units at batch 1 or 5) the FFT's
              // rounding (~1e-7 of the layer's gradient scale) is amplified up to lr, so such
              // entries (|g| ≤ 1e-6) are only bounded by Adam's step; all others agree to 1e-5.
              let worst = 0;
              let worstTiny = 0;
              for (let i = 0; i < l.weight.length; i++) {
                const d = Math.abs(l.weight[i] - plain.layers[k].weight[i]);
                if (Math.abs(folded[k][i]) > 1e-6) worst = Math.max(worst, d);
                else worstTiny = Math.max(worstTiny, d);
              }
              expect(worst, `W ${k} after Adam`).toBeLessThanOrEqual(1e-5);
              expect(worstTiny, `W ${k} after Adam (|g| ≤ 1e-6)`).toBeLessThanOrEqual(2 * lr);
              if (!trainFft) expect(worstTiny).toBe(0); // native fold = JS fold
              expect(maxDiff(l.bias, plain.layers[k].bias), `bias ${k} after Adam`).toBeLessThanOrEqual(1e-5);
            });
            optPlain.dispose();
            optCirc.dispose();
          });
        }
      }
    }
  }

  it('reads c_ij from W: a non-circulant W gives other outputs on the FFT path only', () => {
    for (const mode of ['auto', 'fft'] as const) {
      const pair = makePair(engines[mode], [17, 64, 64, 6], 'relu', 'linear', 4, [1], false, 5);
      pairs.push(pair);
      const w = pair.plain.layers[1].weight;
      w[64 + 2] += 0.5; // row 1, column 2 (diagonal 1 of block (0, 0)): not its first entry
      pair.circ.layers[1].weight.set(w);
      const r = rng(77);
      for (const batch of [5, 256]) {
        const x = randomArray(r, batch * 17);
        for (const pass of ['train', 'predict'] as const) {
          const run = (n: Mlp) => (pass === 'train' ? n.forward(x, batch) : n.predict(x, batch));
          const d = maxDiff(run(pair.circ), run(pair.plain));
          if (mode === 'fft' || batch >= defaultCirculantFftMinBatch(4, pass)) expect(d, `${mode} ${pass} ${batch}`).toBeGreaterThan(1e-3);
          else expect(d, `${mode} ${pass} ${batch}`).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('masks set or removed after the declaration change the pruned blocks', () => {
    for (const mode of ['auto', 'fft'] as const) {
      const pair = makePair(engines[mode], [17, 64, 64, 6], 'relu', 'linear', 4, [0, 1, 2], false, 17);
      pairs.push(pair);
      const { plain, circ, layouts, blockMasks } = pair;
      const r = rng(18);
      const check = (batch: number, what: string) => {
        const x = randomArray(r, batch * 17);
        const gy = randomArray(r, batch * 6, 1 / batch);
        expectRelClose(circ.forward(x, batch), plain.forward(x, batch), 1e-4, `${what}: forward`);
        plain.backward(gy);
        circ.backward(gy);
        foldPlain(pair);
        circ.layers.forEach((l, k) => {
          expectRelClose(l.weightGrad, plain.layers[k].weightGrad, 1e-4, `${what}: weightGrad ${k}`);
          expect(circulantDeviation(l.weightGrad, layouts[k]!, blockMasks[k])).toBe(0);
        });
      };
      circ.layers.forEach((l, k) => {
        const g = randomBlockMask(r, layouts[k]!, 0.5);
        blockMasks[k] = g;
        const e = expandBlockMask(g, layouts[k]!);
        plain.setMask(k, e);
        circ.setMask(k, e);
      });
      for (const batch of [5, 256]) check(batch, `${mode} masked, batch ${batch}`);
      circ.layers.forEach((_, k) => {
        blockMasks[k] = null;
        plain.setMask(k, null);
        circ.setMask(k, null);
      });
      for (const batch of [5, 256]) check(batch, `${mode} unmasked again, batch ${batch}`);
    }
  });

  it('setBlockCirculant(null) restores the plain behaviour; settings are per network', () => {
    const pair = makePair(engines.fft, [23, 64, 64, 1], 'relu', 'linear', 8, [0, 1, 2], true, 11);
    pairs.push(pair);
    const { plain, circ } = pair;
    const r = rng(5);
    const batch = 40;
    const x = randomArray(r, batch * 23);
    const gy = randomArray(r, batch, 1 / batch);
    circ.forward(x, batch);
    // changing the setting invalidates the cached forward
    circ.setBlockCirculant(1, null);
    expect(() => circ.backward(gy)).toThrow(/forward/);
    circ.setBlockCirculant(0, null);
    circ.setBlockCirculant(2, null);
    expect([0, 1, 2].map((k) => circ.blockCirculant(k))).toEqual([null, null, null]);
    expect(circ.circulantFftLayers(batch)).toEqual([false, false, false]);
    plain.forward(x, batch);
    plain.backward(gy);
    circ.forward(x, batch);
    circ.backward(gy);
    circ.layers.forEach((l, k) => expect(Array.from(l.weightGrad)).toEqual(Array.from(plain.layers[k].weightGrad)));
    // copyFrom / polyakFrom leave the settings alone
    const other = engines.fft.createMlp(spec([23, 64, 64, 1], 'relu', 'linear')) as NativeMlp;
    other.setBlockCirculant(1, 4);
    other.copyFrom(plain);
    other.polyakFrom(circ, 0.5);
    expect([0, 1, 2].map((k) => other.blockCirculant(k))).toEqual([null, 4, null]);
    other.dispose();
  });

  it('paramGrad: false leaves the gradients alone on the FFT path', () => {
    const pair = makePair(engines.fft, [17, 64, 64, 6], 'tanh', 'linear', 4, [0, 1, 2], false, 13);
    pairs.push(pair);
    const { plain, circ } = pair;
    const r = rng(6);
    const batch = 32;
    const x = randomArray(r, batch * 17);
    const gy = randomArray(r, batch * 6, 1 / batch);
    circ.layers.forEach((l) => (l.weightGrad.fill(7), l.biasGrad.fill(7)));
    circ.forward(x, batch);
    const dx = circ.backward(gy, { inputGrad: true, paramGrad: false })!;
    plain.forward(x, batch);
    expectRelClose(dx, plain.backward(gy, { inputGrad: true })!, 1e-4, 'dx');
    for (const l of circ.layers) expect(maxDiff(l.weightGrad, new Float32Array(l.weightGrad.length).fill(7)) + maxDiff(l.biasGrad, new Float32Array(l.biasGrad.length).fill(7))).toBe(0);
  });

  it('rejects bad block sizes and indices', () => {
    const net = engines.auto.createMlp(spec([17, 64, 6], 'relu', 'linear')) as NativeMlp;
    expect(() => net.setBlockCirculant(0, 3)).toThrow(RangeError);
    expect(() => net.setBlockCirculant(0, 3)).toThrow(/b = 3/);
    expect(() => net.setBlockCirculant(0, 1)).toThrow(RangeError);
    expect(() => net.setBlockCirculant(0, 0)).toThrow(RangeError);
    expect(() => net.setBlockCirculant(0, 4.5)).toThrow(RangeError);
    expect(() => net.setBlockCirculant(2, 4)).toThrow(RangeError);
    expect(() => net.setBlockCirculant(-1, 4)).toThrow(RangeError);
    expect(() => net.blockCirculant(2)).toThrow(RangeError);
    expect(net.blockCirculant(0)).toBeNull();
    expect(() => createNativeEngine({ circulantFftMinBatch: 0 })).toThrow(RangeError);
    net.dispose();
  });
});
