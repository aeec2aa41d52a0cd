import { describe, expect, it } from 'vitest';
import { nativeSuite } from '../helpers/native-suite.js';
import { uniformStream as rng } from '../helpers/random.js';

import {
  BlockCirculantLinear,
  CIRCULANT_FFT_MIN_BLOCK_SIZE,
  resolveCirculantMethod,
} from '../../src/nn/block-circulant-layer.js';
import {
  circulantLayout,
  foldCirculantGradient,
  materializeCirculant,
  type CirculantLayout,
} from '../../src/sparse/block-circulant.js';

// ---------------------------------------------------------------------------------------------
// Helpers: seeded RNG and a float64 reference built on materializeCirculant / foldCirculantGradient
// ---------------------------------------------------------------------------------------------


function randomArray(r: () => number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * r() - 1;
  return a;
}

/** Random 0/1 block mask with about `density` active blocks, at least one active and one pruned when possible. */
function randomBlockMask(r: () => number, n: number, density = 0.6): Float32Array {
  const m = new Float32Array(n);
  for (let i = 0; i < n; i++) m[i] = r() < density ? 1 : 0;
  m[0] = 1;
  if (n > 1) m[n - 1] = 0;
  return m;
}

interface Reference {
  y: Float64Array;
  dx: Float64Array;
  dBias: Float64Array;
  dVectors: Float32Array;
}

/** Float64 dense reference: y = x·Wᵀ + b, dx = dy·W, dW = dyᵀ·x folded onto the vectors (0 on pruned blocks). */
function reference(
  layout: CirculantLayout,
  x: Float32Array,
  batch: number,
  vectors: Float32Array,
  mask: Float32Array | null,
  bias: Float32Array | null,
  dy: Float32Array,
): Reference {
  const { out, in: nIn, blockSize: b } = layout;
  const w = materializeCirculant(vectors, layout, mask);
  const y = new Float64Array(batch * out);
  const dx = new Float64Array(batch * nIn);
  const dW = new Float64Array(out * nIn);
  const dBias = new Float64Array(out);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < out; o++) {
      let s = bias ? bias[o] : 0;
      for (let i = 0; i < nIn; i++) s += w[o * nIn + i] * x[n * nIn + i];
      y[n * out + o] = s;
      const g = dy[n * out + o];
      dBias[o] += g;
      for (let i = 0; i < nIn; i++) {
        dx[n * nIn + i] += w[o * nIn + i] * g;
        dW[o * nIn + i] += g * x[n * nIn + i];
      }
    }
  }
  const dVectors = foldCirculantGradient(Float32Array.from(dW), layout);
  if (mask) {
    mask.forEach((g, blk) => {
      if (g === 0) dVectors.fill(0, blk * b, (blk + 1) * b);
    });
  }
  return { y, dx, dBias, dVectors };
}

/** max |a − e| / max(|e|, tiny) <= tol, with the worst index in the message. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  scale = Math.max(scale, 1e-30);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]) / scale;
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  expect(worst, `${what}: relative error ${worst} at ${at} (got ${actual[at]}, expected ${expected[at]})`).toBeLessThanOrEqual(tol);
}


const SHAPES: [out: number, inF: number, b: number][] = [
  [8, 8, 4],
  [6, 17, 4],
  [32, 24, 8],
  [64, 64, 16],
];
const BATCHES = [1, 5, 33];
const METHODS = ['direct', 'fft'] as const;

nativeSuite('BlockCirculantLinear', () => {
  describe('matches a float64 dense reference (materializeCirculant / foldCirculantGradient)', () => {
    for (const [out, inF, b] of SHAPES) {
      for (const batch of BATCHES) {
        for (const method of METHODS) {
          it(`${method}: out=${out} in=${inF} b=${b} batch=${batch}`, () => {
            const r = rng(1000 * out + 10 * inF + b + 7 * batch);
            const layout = circulantLayout(out, inF, b);
            const nBlocks = layout.outBlocks * layout.inBlocks;
            const vectors = randomArray(r, nBlocks * b);
            const mask = randomBlockMask(r, nBlocks);
            const bias = randomArray(r, out);
            const x = randomArray(r, batch * inF);
            const dy = randomArray(r, batch * out);
            const layer = new BlockCirculantLinear(layout, { method, threads: 2 });
            expect(layer.method).toBe(method);
            const y = layer.forward(x, batch, vectors, mask, bias);
            const g = layer.backward(dy);
            const ref = reference(layout, x, batch, vectors, mask, bias, dy);
            expectClose(y, ref.y, 1e-4, 'y');
            expectClose(g.dx!, ref.dx, 1e-4, 'dx');
            expectClose(g.dBias, ref.dBias, 1e-4, 'dBias');
            expectClose(g.dVectors, ref.dVectors, 1e-4, 'dVectors');
            layer.dispose();
          });
        }
      }
    }
  });

  for (const method of METHODS) {
    describe(`${method} path`, () => {
      it('dL/dc matches central finite differences of a float64 forward (L = Σ y·w)', () => {
        const r = rng(42);
        const layout = circulantLayout(6, 7, 4); // padded rows and columns
        const nBlocks = layout.outBlocks * layout.inBlocks;
        const batch = 3;
        const vectors = randomArray(r, nBlocks * 4);
        const mask = Float32Array.from([1, 1, 0, 1]);
        const bias = randomArray(r, layout.out);
        const x = randomArray(r, batch * layout.in);
        const w = randomArray(r, batch * layout.out);
        // L(c) in float64 from the layout formula W[i·b + r, j·b + s] = g_ij c_ij[(s − r) mod b].
        const loss = (c: Float64Array): number => {
          let sum = 0;
          for (let n = 0; n < batch; n++) {
            for (let o = 0; o < layout.out; o++) {
              let yv = bias[o];
              const i = Math.floor(o / 4);
              for (let col = 0; col < layout.in; col++) {
                const j = Math.floor(col / 4);
                const blk = i * layout.inBlocks + j;
                if (mask[blk] === 0) continue;
                yv += c[blk * 4 + ((((col % 4) - (o % 4)) % 4) + 4) % 4] * x[n * layout.in + col];
              }
              sum += yv * w[n * layout.out + o];
            }
          }
          return sum;
        };
        const layer = new BlockCirculantLinear(layout, { method });
        layer.forward(x, batch, vectors, mask, bias);
        const { dVectors } = layer.backward(w, { inputGrad: false });
        const c = Float64Array.from(vectors);
        const h = 1e-4;
        const fd = new Float64Array(c.length);
        for (let k = 0; k < c.length; k++) {
          const keep = c[k];
          c[k] = keep + h;
          const lp = loss(c);
          c[k] = keep - h;
          const lm = loss(c);
          c[k] = keep;
          fd[k] = (lp - lm) / (2 * h);
        }
        expect(Math.max(...fd.map(Math.abs))).toBeGreaterThan(0.1); // non-trivial case
        expectClose(dVectors, fd, 1e-4, 'dL/dc vs finite differences');
        // Block 2 = (1, 0) is pruned: zero gradient.
        expect(Array.from(dVectors.subarray(8, 12))).toEqual([0, 0, 0, 0]);
        layer.dispose();
      });

      it('pruned blocks contribute nothing and get dc = 0', () => {
        const r = rng(7);
        const layout = circulantLayout(32, 24, 8);
        const nBlocks = layout.outBlocks * layout.inBlocks;
        const batch = 9;
        const vectors = randomArray(r, nBlocks * 8);
        const mask = randomBlockMask(r, nBlocks, 0.5);
        const x = randomArray(r, batch * layout.in);
        const dy = randomArray(r, batch * layout.out);
        const layer = new BlockCirculantLinear(layout, { method });
        const y1 = layer.forward(x, batch, vectors, mask, null);
        const g1 = layer.backward(dy);
        // Overwrite the pruned blocks' vectors with large values: nothing may change.
        const other = Float32Array.from(vectors);
        mask.forEach((g, blk) => {
          if (g === 0) for (let t = 0; t < 8; t++) other[blk * 8 + t] = 1e3 * (2 * r() - 1);
        });
        const y2 = layer.forward(x, batch, other, mask, null);
        const g2 = layer.backward(dy);
        expect(Array.from(y2)).toEqual(Array.from(y1));
        expect(Array.from(g2.dx!)).toEqual(Array.from(g1.dx!));
        let pruned = 0;
        mask.forEach((g, blk) => {
          if (g !== 0) return;
          pruned++;
          for (let t = 0; t < 8; t++) expect(g2.dVectors[blk * 8 + t]).toBe(0);
        });
        expect(pruned).toBeGreaterThan(0);
        // An all-pruned mask gives y = bias and zero gradients except dBias.
        const bias = randomArray(r, layout.out);
        const y0 = layer.forward(x, batch, vectors, new Float32Array(nBlocks), bias);
        for (let n = 0; n < batch; n++) expect(Array.from(y0.subarray(n * 32, (n + 1) * 32))).toEqual(Array.from(bias));
        const g0 = layer.backward(dy);
        expect(g0.dVectors.every((v) => v === 0)).toBe(true);
        expect(g0.dx!.every((v) => v === 0)).toBe(true);
        layer.dispose();
      });

      it('without mask and bias, and across batch sizes (buffers regrow)', () => {
        const r = rng(11);
        const layout = circulantLayout(40, 33, 4);
        const vectors = randomArray(r, layout.outBlocks * layout.inBlocks * 4);
        const layer = new BlockCirculantLinear(layout, { method });
        for (const batch of [2, 70, 1, 17]) {
          const x = randomArray(r, batch * layout.in);
          const dy = randomArray(r, batch * layout.out);
          const y = layer.forward(x, batch, vectors);
          const g = layer.backward(dy, { inputGrad: false });
          const ref = reference(layout, x, batch, vectors, null, null, dy);
          expectClose(y, ref.y, 1e-4, `y (batch ${batch})`);
          expectClose(g.dVectors, ref.dVectors, 1e-4, `dVectors (batch ${batch})`);
          expectClose(g.dBias, ref.dBias, 1e-4, `dBias (batch ${batch})`);
          expect(g.dx).toBeNull();
        }
        layer.dispose();
      });

      it('follows mask changes between calls (mask A, none, B, A)', () => {
        const r = rng(13);
        const layout = circulantLayout(24, 20, 4);
        const nBlocks = layout.outBlocks * layout.inBlocks;
        const batch = 6;
        const vectors = randomArray(r, nBlocks * 4);
        const a = randomBlockMask(r, nBlocks, 0.5);
        const b = randomBlockMask(r, nBlocks, 0.5);
        const layer = new BlockCirculantLinear(layout, { method });
        for (const mask of [a, null, b, a]) {
          const x = randomArray(r, batch * layout.in);
          const dy = randomArray(r, batch * layout.out);
          const y = layer.forward(x, batch, vectors, mask, null);
          const g = layer.backward(dy);
          const ref = reference(layout, x, batch, vectors, mask, null, dy);
          expectClose(y, ref.y, 1e-4, 'y');
          expectClose(g.dx!, ref.dx, 1e-4, 'dx');
          expectClose(g.dVectors, ref.dVectors, 1e-4, 'dVectors');
        }
        layer.dispose();
      });

      it('does not depend on the thread count', () => {
        const r = rng(5);
        const layout = circulantLayout(256, 192, 8);
        const nBlocks = layout.outBlocks * layout.inBlocks;
        const batch = 64;
        const vectors = randomArray(r, nBlocks * 8);
        const mask = randomBlockMask(r, nBlocks, 0.7);
        const bias = randomArray(r, layout.out);
        const x = randomArray(r, batch * layout.in);
        const dy = randomArray(r, batch * layout.out);
        const run = (threads: number) => {
          const layer = new BlockCirculantLinear(layout, { method, threads });
          const y = layer.forward(x, batch, vectors, mask, bias);
          const g = layer.backward(dy);
          layer.dispose();
          return [y, g.dx!, g.dVectors, g.dBias].map((a) => Array.from(a));
        };
        expect(run(2)).toEqual(run(1));
      });
    });
  }

  describe('method choice and errors', () => {
    it('fft with a block size that is not a power of two >= 2 throws a RangeError naming b', () => {
      for (const b of [3, 6, 12, 1]) {
        expect(() => new BlockCirculantLinear(circulantLayout(12, 12, b), { method: 'fft' })).toThrow(RangeError);
        expect(() => new BlockCirculantLinear(circulantLayout(12, 12, b), { method: 'fft' })).toThrow(`b = ${b}`);
      }
    });

    it(`auto uses fft for powers of two >= ${CIRCULANT_FFT_MIN_BLOCK_SIZE}, else direct`, () => {
      expect(resolveCirculantMethod(6, 'auto')).toBe('direct');
      expect(resolveCirculantMethod(1, 'auto')).toBe('direct');
      expect(resolveCirculantMethod(64, 'auto')).toBe('fft');
      expect(resolveCirculantMethod(CIRCULANT_FFT_MIN_BLOCK_SIZE, 'auto')).toBe('fft');
      expect(resolveCirculantMethod(CIRCULANT_FFT_MIN_BLOCK_SIZE / 2, 'auto')).toBe('direct');
      expect(resolveCirculantMethod(6, 'direct')).toBe('direct');
      expect(new BlockCirculantLinear(circulantLayout(8, 8, 6)).method).toBe('direct');
      expect(new BlockCirculantLinear(circulantLayout(8, 8, 4)).method).toBe('fft');
      expect(() => resolveCirculantMethod(4, 'fast' as never)).toThrow(TypeError);
    });

    it('a non-power-of-two block size works on the direct path (auto)', () => {
      const r = rng(3);
      const layout = circulantLayout(10, 13, 3);
      const nBlocks = layout.outBlocks * layout.inBlocks;
      const vectors = randomArray(r, nBlocks * 3);
      const mask = randomBlockMask(r, nBlocks);
      const bias = randomArray(r, 10);
      const x = randomArray(r, 4 * 13);
      const dy = randomArray(r, 4 * 10);
      const layer = new BlockCirculantLinear(layout);
      const y = layer.forward(x, 4, vectors, mask, bias);
      const g = layer.backward(dy);
      const ref = reference(layout, x, 4, vectors, mask, bias, dy);
      expectClose(y, ref.y, 1e-4, 'y');
      expectClose(g.dx!, ref.dx, 1e-4, 'dx');
      expectClose(g.dVectors, ref.dVectors, 1e-4, 'dVectors');
      layer.dispose();
    });

    it('rejects wrong lengths, backward without forward, and use after dispose', () => {
      const layout = circulantLayout(8, 8, 4);
      const layer = new BlockCirculantLinear(layout, { method: 'fft' });
      const v = new Float32Array(16);
      expect(() => layer.backward(new Float32Array(8))).toThrow(/without a preceding forward/);
      expect(() => layer.forward(new Float32Array(15), 2, v)).toThrow(RangeError);
      expect(() => layer.forward(new Float32Array(16), 2, new Float32Array(15))).toThrow(RangeError);
      expect(() => layer.forward(new Float32Array(16), 2, v, new Float32Array(3))).toThrow(RangeError);
      expect(() => layer.forward(new Float32Array(16), 2, v, null, new Float32Array(7))).toThrow(RangeError);
      layer.forward(new Float32Array(16), 2, v);
      expect(() => layer.backward(new Float32Array(15))).toThrow(RangeError);
      layer.dispose();
      layer.dispose();
      expect(() => layer.forward(new Float32Array(16), 2, v)).toThrow(/disposed/);
      expect(
        () => new BlockCirculantLinear({ out: 8, in: 8, blockSize: 4, outBlocks: 3, inBlocks: 2, diagonal: new Uint32Array(64) }),
      ).toThrow(RangeError);
      expect(() => new BlockCirculantLinear(layout, { threads: 0 })).toThrow(RangeError);
    });
  });
});
