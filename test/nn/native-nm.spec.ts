/**
 * Packed N:M kernels of the native engine (native/src/kernels.h NmIndex, spmmNm, sddmmNm;
 * detection in native/src/mlp.cc detectNm): which masks run on them, hand-checked small cases,
 * bitwise agreement with the CSR / CSC kernels on random N:M masks (forward, input gradient,
 * weight gradient, Adam step, Polyak) for 2:4, 1:4, 1:8 and partial trailing groups, batch sizes
 * 1, 3, 256, thread counts 1 and 2, and the zeroing of inactive gradient entries that backward
 * skips once they are known to be 0.
 */
import { expect, it } from 'vitest';
import { nativeSuite } from '../helpers/native-suite.js';
import { uniformStream as rng } from '../helpers/random.js';

import type { Engine, Mlp, MlpSpec } from '../../src/nn/engine.js';
import { createNativeEngine, type NativeMlp } from '../../src/nn/native-engine.js';

function randomArray(r: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * r() - 1) * scale;
  return a;
}

/** Random exact N:M mask `[out, in]`: N of every full group of M inputs, min(N, L) of the trailing L. */
function nmRandomMask(r: () => number, out: number, inF: number, n: number, m: number): Float32Array {
  const mask = new Float32Array(out * inF);
  for (let o = 0; o < out; o++) {
    for (let g = 0; g < inF; g += m) {
      const len = Math.min(m, inF - g);
      const idx = Array.from({ length: len }, (_, i) => i);
      for (let i = len - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      for (let q = 0; q < Math.min(n, len); q++) mask[o * inF + g + idx[q]] = 1;
    }
  }
  return mask;
}

function spec(sizes: number[], out: 'linear' | 'tanh' = 'tanh', name = 'net'): MlpSpec {
  return { name, layerSizes: sizes, hiddenActivation: 'relu', outputActivation: out };
}

const nm = (net: Mlp) => (net as NativeMlp).nmKernelLayers();
const sparse = (net: Mlp) => (net as NativeMlp).sparseKernelLayers();

/** Indices where a and b differ bitwise (Object.is), at most `limit`. */
function bitDiffs(a: ArrayLike<number>, b: ArrayLike<number>, limit = 5): string[] {
  const out: string[] = [];
  if (a.length !== b.length) return [`length ${a.length} vs ${b.length}`];
  for (let i = 0; i < a.length && out.length < limit; i++) if (!Object.is(a[i], b[i]) && !(a[i] === 0 && b[i] === 0)) out.push(`[${i}] ${a[i]} vs ${b[i]}`);
  return out;
}

nativeSuite('native engine N:M kernels', () => {
  const engines = new Map<string, Engine>();
  /** Engines are cached: threshold 1 puts every masked layer on the sparse kernels. */
  const engine = (threads: number, threshold = 1): Engine => {
    const key = `${threads}/${threshold}`;
    if (!engines.has(key)) engines.set(key, createNativeEngine({ threads, sparseDensityThreshold: threshold }));
    return engines.get(key)!;
  };

  it('detects exact N:M masks (smallest M, partial trailing groups) and falls back to CSR otherwise', () => {
    const r = rng(1);
    const net = engine(1).createMlp(spec([23, 16]));
    const cases: [number, number, [number, number] | null][] = [[2, 4, [2, 4]], [1, 4, [1, 4]], [1, 8, [1, 8]], [3, 8, [3, 8]], [1, 2, [1, 2]]];
    for (const [n, m, want] of cases) {
      net.setMask(0, nmRandomMask(r, 16, 23, n, m));
      expect(nm(net), `${n}:${m}`).toEqual([want]);
    }
    // 2:4 whose every pair holds one active entry is also 1:2: the smallest M is reported.
    const pairs = new Float32Array(16 * 23).map((_, i) => ((i % 23) % 2 === 0 ? 1 : 0));
    net.setMask(0, pairs);
    expect(nm(net)).toEqual([[1, 2]]);
    // A full group with N + 1 entries, a trailing group with too few, a dense mask: CSR.
    const broken = nmRandomMask(r, 16, 23, 2, 4);
    const row5 = 5 * 23;
    for (let i = 0; i < 4; i++) broken[row5 + 4 + i] = i < 3 ? 1 : 0;
    net.setMask(0, broken);
    expect(nm(net)).toEqual([null]);
    expect(sparse(net)).toEqual([true]);
    const shortTail = nmRandomMask(r, 16, 23, 2, 4);
    for (let i = 20; i < 23; i++) shortTail[7 * 23 + i] = 0;
    shortTail[7 * 23 + 20] = 1; // tail of length 3 with 1 entry instead of min(2, 3) = 2
    net.setMask(0, shortTail);
    expect(nm(net)).toEqual([null]);
    net.setMask(0, new Float32Array(16 * 23).fill(1));
    expect(nm(net)).toEqual([null]);
    net.setMask(0, null);
    expect(nm(net)).toEqual([null]);
    net.dispose();
    // Default threshold 0.5: an exact N:M mask counts at N/M — 2:4 on 23 inputs (12/23 active)
    // runs on the N:M kernels, 3:4 does not; a non-N:M mask at 12/23 stays on the dense kernels.
    const def = createNativeEngine({ threads: 1 }).createMlp(spec([23, 256, 256]));
    def.setMask(0, nmRandomMask(r, 256, 23, 2, 4));
    def.setMask(1, nmRandomMask(r, 256, 256, 2, 4));
    expect(nm(def)).toEqual([[2, 4], [2, 4]]);
    expect(sparse(def)).toEqual([true, true]);
    def.setMask(1, nmRandomMask(r, 256, 256, 3, 4));
    expect(sparse(def)).toEqual([true, false]);
    const unstructured = nmRandomMask(r, 256, 23, 2, 4);
    [unstructured[0], unstructured[1], unstructured[2], unstructured[3]] = [1, 1, 1, 0]; // row 0, group 0: 3 of 4
    // (group 1 keeps its 2: row 0 has 5 of its first 8 and 9 of 16, so no M fits)
    def.setMask(0, unstructured);
    expect(nm(def)[0]).toBeNull();
    expect(sparse(def)[0]).toBe(false);
    def.dispose();
  });

  it('hand-checked 2:4 layer: forward, weight gradient and input gradient', () => {
    // W [2, 8] with mask 2:4 per group (not 1:2): row 0 keeps inputs 0, 1 | 5, 6; row 1 keeps 2, 3 | 4, 7.
    const net = engine(1).createMlp(spec([8, 2], 'linear'));
    const l = net.layers[0];
    l.weight.set([1, 2, 9, 9, 9, 3, 4, 9, 9, 9, -1, 5, 2, 9, 9, -3]);
    l.bias.set([0.5, -1]);
    const mask = Float32Array.from([1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1]);
    net.setMask(0, mask);
    expect(nm(net)).toEqual([[2, 4]]);
    expect(Array.from(l.weight)).toEqual([1, 2, 0, 0, 0, 3, 4, 0, 0, 0, -1, 5, 2, 0, 0, -3]);
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const y = net.forward(x, 1);
    // y0 = 0.5 + 1·1 + 2·2 + 3·6 + 4·7 = 51.5; y1 = −1 − 1·3 + 5·4 + 2·5 − 3·8 = 2
    expect(Array.from(y)).toEqual([51.5, 2]);
    const dx = net.backward(Float32Array.from([2, -1]), { inputGrad: true })!;
    // dW[o][i] = gy[o]·x[i] at active entries, 0 elsewhere; db = gy; dx[i] = Σ_o W[o][i]·gy[o]
    expect(Array.from(l.weightGrad)).toEqual([2, 4, 0, 0, 0, 12, 14, 0, 0, 0, -3, -4, -5, 0, 0, -8]);
    expect(Array.from(l.biasGrad)).toEqual([2, -1]);
    expect(Array.from(dx)).toEqual([2, 4, 1, -5, -2, 6, 8, 3]);
    net.dispose();
  });

  // Bitwise reference on the CSR / CSC kernels: the same layer with one extra output row whose mask
  // breaks the N:M pattern (so the layer runs on CSR) and whose output gradient is 0.
  for (const [n, m] of [[2, 4], [1, 4], [1, 8]] as const) {
    for (const inF of [256, 23, 20]) {
      it(`${n}:${m}, ${inF} inputs: forward, input and weight gradients, Adam and Polyak equal the CSR kernels bitwise (batch 1, 3, 256; threads 1, 2)`, () => {
        const r = rng(100 * n + m + inF);
        const out = 24;
        const mask = nmRandomMask(r, out, inF, n, m);
        const w = randomArray(r, (out + 1) * inF, 0.3);
        const b = randomArray(r, out + 1, 0.1);
        const extraMask = new Float32Array(inF).fill(1); // breaks N:M
        const data = [1, 3, 256].map((batch) => ({ batch, x: randomArray(r, batch * inF), gy: randomArray(r, batch * out) }));
        const results: { y: Float32Array; dx: Float32Array; dw: Float32Array; db: Float32Array; w: Float32Array; m: Float32Array; v: Float32Array; t: Float32Array }[] = [];
        for (const threads of [1, 2]) {
          const e = engine(threads);
          const a = e.createMlp(spec([inF, out], 'tanh', 'a'));
          const c = e.createMlp(spec([inF, out + 1], 'tanh', 'c'));
          a.layers[0].weight.set(w.subarray(0, out * inF));
          a.layers[0].bias.set(b.subarray(0, out));
          c.layers[0].weight.set(w);
          c.layers[0].bias.set(b);
          a.setMask(0, mask);
          const cm = new Float32Array((out + 1) * inF);
          cm.set(mask);
          cm.set(extraMask, out * inF);
          c.setMask(0, cm);
          expect(nm(a)).toEqual([[n, m]]);
          expect(nm(c)).toEqual([null]);
          expect(sparse(c)).toEqual([true]);
          const ta = e.createMlp(a.spec);
          const tc = e.createMlp(c.spec);
          ta.copyFrom(a);
          tc.copyFrom(c);
          const oa = e.createAdam(a, { lr: 1e-2, weightDecay: 1e-3 });
          const oc = e.createAdam(c, { lr: 1e-2, weightDecay: 1e-3 });
          for (const { batch, x, gy } of data) {
            const gyc = new Float32Array(batch * (out + 1));
            for (let s = 0; s < batch; s++) gyc.set(gy.subarray(s * out, (s + 1) * out), s * (out + 1));
            const ya = a.forward(x, batch);
            const yc = c.forward(x, batch);
            const ycRows = new Float32Array(batch * out);
            for (let s = 0; s < batch; s++) ycRows.set(yc.subarray(s * (out + 1), s * (out + 1) + out), s * out);
            expect(bitDiffs(ya, ycRows), `forward batch ${batch}`).toEqual([]);
            const dxa = a.backward(gy, { inputGrad: true })!;
            const dxc = c.backward(gyc, { inputGrad: true })!;
            expect(bitDiffs(dxa, dxc), `input gradient batch ${batch}`).toEqual([]);
            expect(bitDiffs(a.layers[0].weightGrad, c.layers[0].weightGrad.subarray(0, out * inF)), `weight gradient batch ${batch}`).toEqual([]);
            expect(bitDiffs(a.layers[0].biasGrad, c.layers[0].biasGrad.subarray(0, out)), `bias gradient batch ${batch}`).toEqual([]);
            for (let i = 0; i < out * inF; i++) if (mask[i] === 0) expect(a.layers[0].weightGrad[i]).toBe(0);
            oa.step();
            oc.step();
            expect(bitDiffs(a.layers[0].weight, c.layers[0].weight.subarray(0, out * inF)), `Adam batch ${batch}`).toEqual([]);
            ta.polyakFrom(a, 0.1);
            tc.polyakFrom(c, 0.1);
            expect(bitDiffs(ta.layers[0].weight, tc.layers[0].weight.subarray(0, out * inF)), `Polyak batch ${batch}`).toEqual([]);
            results.push({
              y: ya, dx: dxa, dw: Float32Array.from(a.layers[0].weightGrad), db: Float32Array.from(a.layers[0].biasGrad),
              w: Float32Array.from(a.layers[0].weight), m: Float32Array.from(oa.state.get('a.l1.weight')!.m),
              v: Float32Array.from(oa.state.get('a.l1.weight')!.v), t: Float32Array.from(ta.layers[0].weight),
            });
          }
          for (let i = 0; i < out * inF; i++) if (mask[i] === 0) expect(Object.is(a.layers[0].weight[i], 0) && ta.layers[0].weight[i] === 0).toBe(true);
          [oa, oc].forEach((o) => o.dispose());
          [a, c, ta, tc].forEach((net) => net.dispose());
        }
        // Identical across thread counts (3 batches per thread count).
        for (let j = 0; j < 3; j++) {
          const [p, q] = [results[j], results[j + 3]];
          for (const key of ['y', 'dx', 'dw', 'db', 'w', 'm', 'v', 't'] as const) expect(bitDiffs(p[key], q[key]), `threads 1 vs 2: ${key}`).toEqual([]);
        }
      });
    }
  }

  it('multi-layer N:M networks agree with the dense kernels and are identical for 1 and 2 threads', () => {
    const r = rng(7);
    const sizes = [23, 64, 48, 5];
    const masks = [nmRandomMask(r, 64, 23, 1, 4), nmRandomMask(r, 48, 64, 2, 4), nmRandomMask(r, 5, 48, 1, 8)];
    const weights = sizes.slice(1).map((o, k) => randomArray(r, o * sizes[k], 0.4));
    const nets = [engine(1), engine(2), engine(1, 0)].map((e) => {
      const net = e.createMlp(spec(sizes, 'tanh'));
      net.layers.forEach((l, k) => {
        l.weight.set(weights[k]);
        net.setMask(k, masks[k]);
      });
      return net;
    });
    expect(nm(nets[0])).toEqual([[1, 4], [2, 4], [1, 8]]);
    expect(sparse(nets[2])).toEqual([false, false, false]);
    for (const batch of [1, 3, 256]) {
      const x = randomArray(r, batch * 23);
      const gy = randomArray(r, batch * 5);
      const out = nets.map((net) => {
        const y = net.forward(x, batch);
        const dx = net.backward(gy, { inputGrad: true })!;
        return { y, dx, dw: net.layers.map((l) => Float32Array.from(l.weightGrad)) };
      });
      expect(bitDiffs(out[0].y, out[1].y)).toEqual([]);
      expect(bitDiffs(out[0].dx, out[1].dx)).toEqual([]);
      out[0].dw.forEach((g, k) => expect(bitDiffs(g, out[1].dw[k])).toEqual([]));
      const close = (p: Float32Array, q: Float32Array, what: string) => {
        const scale = q.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
        let worst = 0;
        for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i] - q[i]));
        expect(worst, what).toBeLessThanOrEqual(1e-5 * scale + 1e-7);
      };
      close(out[0].y, out[2].y, `y batch ${batch}`);
      close(out[0].dx, out[2].dx, `dx batch ${batch}`);
      out[0].dw.forEach((g, k) => close(g, out[2].dw[k], `dW layer ${k} batch ${batch}`));
    }
    nets.forEach((n) => n.dispose());
  });

  for (const kind of ['csr', 'nm'] as const) {
    it(`${kind}: inactive weight-gradient entries are 0 after every masked backward (after denseGrad, JS writes before a mask change, mask changes)`, () => {
      const r = rng(kind === 'csr' ? 11 : 12);
      const net = engine(2).createMlp(spec([32, 40, 3]));
      const newMask = () => (kind === 'nm' ? nmRandomMask(r, 40, 32, 1, 4) : new Float32Array(40 * 32).map(() => (r() < 0.1 ? 1 : 0)));
      net.layers[0].weight.set(randomArray(r, 40 * 32));
      net.layers[1].weight.set(randomArray(r, 3 * 40));
      let mask = newMask();
      net.setMask(0, mask);
      expect(sparse(net)[0]).toBe(true);
      expect(nm(net)[0] !== null).toBe(kind === 'nm');
      const g = net.layers[0].weightGrad;
      const inactiveZero = () => {
        let bad = 0;
        for (let i = 0; i < g.length; i++) if (mask[i] === 0 && g[i] !== 0) bad++;
        return bad;
      };
      const step = (denseGrad: boolean) => {
        net.forward(randomArray(r, 8 * 32), 8);
        net.backward(randomArray(r, 8 * 3), { denseGrad });
      };
      step(false);
      expect(inactiveZero()).toBe(0);
      step(true);
      expect(inactiveZero()).toBeGreaterThan(0); // dense gradient at inactive positions
      step(false);
      expect(inactiveZero()).toBe(0);
      step(false);
      expect(inactiveZero()).toBe(0);
      // Non-zeros written at inactive positions, then a mask change (the N:M sparsifier's SR-STE
      // pattern: write, setMask(null), setMask(mask)).
      g.fill(5);
      net.setMask(0, null);
      net.setMask(0, mask);
      step(false);
      expect(inactiveZero()).toBe(0);
      mask = newMask();
      net.setMask(0, mask);
      step(false);
      expect(inactiveZero()).toBe(0);
      net.dispose();
    });
  }
});
