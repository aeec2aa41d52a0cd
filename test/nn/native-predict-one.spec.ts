/**
 * `predict` at batch 1 (native/src/kernels.h `gemv`, the acting path of the env loop) gives
 * bit for bit what the batched kernels give for the same sample: dense layers, masked layers on
 * the dense kernels, CSR and N:M sparse layers, every output activation; block-circulant layers
 * on the FFT path keep the batched route.
 */
import { expect, it } from 'vitest';
import { nmMask } from '../../src/sparse/nm.js';
import { createNativeEngine } from '../../src/nn/native-engine.js';
import { nativeSuite } from '../helpers/native-suite.js';
import { uniformStream } from '../helpers/random.js';

const r = uniformStream(17);
const randomArray = (n: number) => Float32Array.from({ length: n }, () => 2 * r() - 1);

nativeSuite('native predict at batch 1', () => {
  const engine = createNativeEngine({ threads: 2 });
  const masks: Record<string, (w: Float32Array, out: number, inF: number) => Float32Array | null> = {
    dense: () => null,
    'masked, 70 % density (dense kernels)': (w) => w.map(() => (r() < 0.7 ? 1 : 0)),
    'masked, 10 % density (CSR)': (w) => w.map(() => (r() < 0.1 ? 1 : 0)),
    '1:4 (N:M kernels)': (w, out, inF) => nmMask(w, out, inF, 1, 4),
  };
  for (const [name, makeMask] of Object.entries(masks)) {
    for (const act of ['tanh', 'linear', 'relu'] as const) {
      it(`${name}, ${act} output: batch 1 = that row of a batch of 5, bit for bit, inputs 7, 23 and 40 wide`, () => {
        for (const inF of [23, 40, 7]) {
          const net = engine.createMlp({ name: 'n', layerSizes: [inF, 64, 48, 6], hiddenActivation: 'relu', outputActivation: act });
          net.layers.forEach((l, k) => {
            l.weight.set(randomArray(l.weight.length));
            l.bias.set(randomArray(l.bias.length));
            net.setMask(k, makeMask(l.weight, l.outFeatures, l.inFeatures));
          });
          const x = randomArray(5 * inF);
          const batched = net.predict(x, 5);
          for (let b = 0; b < 5; b++) {
            const one = net.predict(x.subarray(b * inF, (b + 1) * inF), 1);
            const want = batched.subarray(b * 6, (b + 1) * 6);
            expect([...one]).toEqual([...want]);
          }
          // a changed bias is seen (no stale state); tanh / relu outputs may saturate, the linear one cannot
          net.layers[2].bias[0] += 1;
          if (act === 'linear') expect(net.predict(x.subarray(0, inF), 1)[0]).toBeCloseTo(batched[0] + 1, 3);
          net.dispose();
        }
      });
    }
  }
  it('block-circulant layers on the FFT path take the batched route (same result as batch 5, row 0)', () => {
    const net = engine.createMlp({ name: 'c', layerSizes: [16, 32, 4], hiddenActivation: 'relu', outputActivation: 'linear' });
    net.layers.forEach((l) => {
      l.weight.set(randomArray(l.weight.length));
      l.bias.set(randomArray(l.bias.length));
    });
    const x = randomArray(5 * 16);
    net.setBlockCirculant!(0, 8);
    // block-circulant W: c[i][j] depends on (j − i) mod b inside each block
    const l = net.layers[0];
    for (let o = 0; o < 32; o++) for (let i = 0; i < 16; i++) l.weight[o * 16 + i] = l.weight[Math.floor(o / 8) * 8 * 16 + Math.floor(i / 8) * 8 + ((i - o) % 8 + 8) % 8];
    const batched = net.predict(x, 5);
    const one = net.predict(x.subarray(0, 16), 1);
    for (let o = 0; o < 4; o++) expect(Math.abs(one[o] - batched[o])).toBeLessThan(1e-4);
    net.dispose();
  });
});
