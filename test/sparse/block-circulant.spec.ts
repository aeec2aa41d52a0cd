import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/nn/engines.js';
import { blockNorms, blockStorage, circulantLayout, circulantStorage, expandBlockMask, extractCirculant, foldCirculantGradient, materializeCirculant } from '../../src/sparse/block-circulant.js';
import { Rng } from '../../src/util/rng.js';
import { testEngines } from '../helpers/td3-fixture.js';

const randn = (n: number, seed: number) => {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.normal());
};

describe('block-circulant parameterisation (src/sparse/block-circulant.ts)', () => {
  it('materialises hand-checked blocks: row r is c shifted right by r, padding cut, pruned blocks zero', () => {
    // b = 3, W [3, 3]: c = [1, 2, 3] → rows [1 2 3], [3 1 2], [2 3 1]
    expect([...materializeCirculant(Float32Array.from([1, 2, 3]), circulantLayout(3, 3, 3))]).toEqual([1, 2, 3, 3, 1, 2, 2, 3, 1]);
    // W [3, 5], b = 2: blocks (0,0)=[1,2] (0,1)=[3,4] (0,2)=[5,6] (1,0)=[7,8] (1,1)=[9,10] (1,2)=[11,12]; block (1,1) pruned
    const layout = circulantLayout(3, 5, 2);
    const c = Float32Array.from({ length: 12 }, (_, i) => i + 1);
    const g = Float32Array.from([1, 1, 1, 1, 0, 1]);
    expect([...materializeCirculant(c, layout, g)]).toEqual([
      1, 2, 3, 4, 5,
      2, 1, 4, 3, 6,
      7, 8, 0, 0, 11,
    ]);
    expect([...expandBlockMask(g, layout)]).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1]);
    // storage: full 2×2 blocks store 2; (0,2) is 2×1 → 2 diagonals; (1,0),(1,1) are 1×2 → 2; (1,2) is 1×1 → 1
    expect(blockStorage(layout, 1, 2)).toBe(1);
    expect(circulantStorage(layout, null)).toBe(2 + 2 + 2 + 2 + 2 + 1);
    expect(circulantStorage(layout, g)).toBe(9);
  });

  it('extract inverts materialise on every stored diagonal; fold is the exact adjoint of materialise', () => {
    for (const [out, inF, b] of [[8, 8, 4], [6, 17, 4], [32, 23, 8], [5, 3, 4]]) {
      const layout = circulantLayout(out, inF, b);
      const nv = layout.outBlocks * layout.inBlocks * b;
      const c = randn(nv, out * 31 + inF);
      const w = materializeCirculant(c, layout);
      const back = extractCirculant(w, layout);
      expect(materializeCirculant(back, layout)).toEqual(w);
      // ⟨materialise(c), G⟩ = ⟨c, fold(G)⟩ in float64
      const G = randn(out * inF, 7);
      const f = foldCirculantGradient(G, layout);
      let lhs = 0;
      let rhs = 0;
      for (let i = 0; i < w.length; i++) lhs += w[i] * G[i];
      for (let i = 0; i < nv; i++) rhs += c[i] * f[i];
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * (1 + Math.abs(lhs)));
    }
  });

  it('block norms are ‖c_ij‖₂', () => {
    const layout = circulantLayout(4, 4, 2);
    expect([...blockNorms(Float32Array.from([3, 4, 0, 0, 1, 0, 0, 2]), layout)]).toEqual([5, 0, 1, 2]);
  });
});

/**
 * The circulant gradient through a real engine: L = Σ_bn y[b,n]·R[b,n] of a 2-layer MLP whose
 * first layer is block-circulant with vectors c; dL/dc = fold(engine dL/dW) vs central differences
 * on c (the MLP re-materialised at c ± ε·e_k), evaluated in float64.
 */
for (const kind of testEngines) {
  it(`circulant gradient = finite differences (${kind} engine, W [12, 10], b = 4)`, async () => {
    const engine = await createEngine({ engine: kind, backend: 'cpu', threads: 1 });
    const net = engine.createMlp({ name: 'f', layerSizes: [10, 12, 3], hiddenActivation: 'tanh', outputActivation: 'linear' });
    const layout = circulantLayout(12, 10, 4);
    const c = randn(layout.outBlocks * layout.inBlocks * 4, 1).map((x) => x * 0.3);
    net.layers[1].weight.set(randn(36, 2).map((x) => x * 0.3));
    net.layers[0].bias.set(randn(12, 3).map((x) => x * 0.1));
    const batch = 5;
    const x = randn(batch * 10, 4);
    const R = randn(batch * 3, 5);
    const loss = (cv: Float32Array) => {
      materializeCirculant(cv, layout, null, net.layers[0].weight);
      const y = net.predict(x, batch);
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * R[i];
      return s;
    };
    materializeCirculant(c, layout, null, net.layers[0].weight);
    net.forward(x, batch);
    net.backward(R);
    const grad = foldCirculantGradient(net.layers[0].weightGrad, layout);
    const eps = 1e-2;
    let worst = 0;
    for (let k = 0; k < c.length; k++) {
      const plus = Float32Array.from(c);
      const minus = Float32Array.from(c);
      plus[k] += eps;
      minus[k] -= eps;
      const fd = (loss(plus) - loss(minus)) / (2 * eps);
      worst = Math.max(worst, Math.abs(fd - grad[k]) / (1e-2 + Math.abs(fd)));
    }
    expect(worst).toBeLessThan(2e-2);
    net.dispose();
  });
}
