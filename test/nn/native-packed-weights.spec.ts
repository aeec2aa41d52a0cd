import { expect, it } from 'vitest';
import type { Engine, Mlp, MlpSpec, Optimizer } from '../../src/nn/engine.js';
import { createNativeEngine, NativeMlp } from '../../src/nn/native-engine.js';
import { Rng } from '../../src/util/rng.js';
import { nativeSuite } from '../helpers/native-suite.js';

/**
 * The native engine's sparse kernels read copies of the active weights packed in CSR / CSC order
 * (native/src/mlp.h `Mlp::weightsWritten`), kept current by the engine's own writers (gathered
 * Adam and Polyak) and rebuilt after any other write. One sequence of forward, backward, Adam,
 * Polyak, copyFrom, topology changes and writes through the JavaScript views runs on two sparse
 * engines: one with the gathered (O(nnz)) updates forced on at this small size (they write the
 * packed copies alongside W), one without (every update marks the copies stale). After every
 * step each network's predict, forward and input gradient (read from the packed copies) must equal
 * bit for bit those of a fresh network built from its weights as the views show them, and the
 * two engines must agree bit for bit: a stale packed copy anywhere shows up as a mismatch.
 */

const sizes = [11, 96, 80, 5];
const netSpec = (name: string): MlpSpec => ({ name, layerSizes: sizes, hiddenActivation: 'relu', outputActivation: 'tanh' });

interface Side {
  readonly engine: Engine;
  readonly online: Mlp;
  readonly target: Mlp;
  readonly copy: Mlp;
  readonly adam: Optimizer;
}

function side(gathered: boolean): Side {
  const engine = createNativeEngine({
    threads: 2, sparseDensityThreshold: 1, gatheredMaxDensity: gathered ? 1 : 0, gatheredMinWeights: gathered ? 1 : 2 ** 30,
  });
  const online = engine.createMlp(netSpec('online'));
  const target = engine.createMlp(netSpec('target'));
  const copy = engine.createMlp(netSpec('copy'));
  const rng = new Rng(3);
  online.layers.forEach((l, k) => {
    for (let i = 0; i < l.weight.length; i++) l.weight[i] = rng.uniformRange(-0.3, 0.3);
    for (let i = 0; i < l.bias.length; i++) l.bias[i] = rng.uniformRange(-0.1, 0.1);
    online.setMask(k, Float32Array.from({ length: l.weight.length }, () => (rng.uniform() < 0.2 ? 1 : 0)));
  });
  target.copyFrom(online);
  return { engine, online, target, copy, adam: engine.createAdam(online, { lr: 1e-2 }) };
}

/**
 * Outputs of `net` (predict at batch 1 and 4, forward, input gradient) next to those of a fresh
 * network built from the weights its views show after the calls.
 */
function againstFresh(s: Side, net: Mlp, rng: Rng): Float32Array[] {
  const x = Float32Array.from({ length: 4 * sizes[0] }, () => rng.normal());
  const gy = Float32Array.from({ length: 4 * sizes.at(-1)! }, () => rng.normal());
  const run = (m: Mlp) => [m.predict(x.subarray(0, sizes[0]), 1), m.predict(x, 4), m.forward(x, 4), m.backward(gy, { inputGrad: true })!];
  const got = run(net);
  const fresh = s.engine.createMlp(netSpec('fresh'));
  net.layers.forEach((l, k) => {
    fresh.layers[k].weight.set(l.weight);
    fresh.layers[k].bias.set(l.bias);
    fresh.setMask(k, l.mask && Float32Array.from(l.mask));
  });
  const want = run(fresh);
  got.forEach((v, i) => expect(Array.from(v), `${net.spec.name}: output ${i} against a fresh network`).toEqual(Array.from(want[i])));
  return got;
}

/**
 * One training-like round; returns everything a stale copy could corrupt. With `readGrads` the
 * weight gradients are read through the views between backward and Adam (the gathered engine
 * then writes its CSR-order gradient into them); without, Adam takes it from the packed copy.
 */
function round(s: Side, rng: Rng, batch: number, readGrads = false): Float32Array[] {
  const x = Float32Array.from({ length: batch * sizes[0] }, () => rng.normal());
  const gy = Float32Array.from({ length: batch * sizes.at(-1)! }, () => rng.normal());
  const y = s.online.forward(x, batch);
  const dx = s.online.backward(gy, { inputGrad: true })!;
  const grads = readGrads ? s.online.layers.map((l) => Float32Array.from(l.weightGrad)) : [];
  s.adam.step();
  s.target.polyakFrom(s.online, 0.05);
  const yTarget = s.target.predict(x, batch);
  const yOne = s.online.predict(x.subarray(0, sizes[0]), 1);
  return [
    y, dx, ...grads, yTarget, yOne, ...againstFresh(s, s.online, rng), ...againstFresh(s, s.target, rng),
    ...s.online.layers.map((l) => Float32Array.from(l.weight)), ...s.target.layers.map((l) => Float32Array.from(l.weight)),
  ];
}

nativeSuite('native engine: packed copies of the active weights', () => {
  it('sparse kernels on packed weights equal the dense kernels bit for bit through updates, copies, topology changes and writes through the views', () => {
    const sides = [side(true), side(false)];
    expect((sides[0].online as NativeMlp).sparseKernelLayers()).toEqual([true, true, true]);
    expect((sides[1].online as NativeMlp).sparseKernelLayers()).toEqual([true, true, true]);
    const rngs = [new Rng(11), new Rng(11)];
    const trace = (f: (s: Side, r: Rng) => Float32Array[]) => {
      const [a, b] = sides.map((s, i) => f(s, rngs[i]));
      expect(a.length).toBe(b.length);
      a.forEach((v, i) => expect(Array.from(v), `output ${i}`).toEqual(Array.from(b[i])));
    };
    for (let t = 0; t < 4; t++) trace((s, r) => round(s, r, 7, t % 2 === 1));
    // The gathered paths ran on one engine only (there the engine's own writers maintained the copies).
    const gatheredSteps = (s: Side) => [0, 1, 2].map((k) => (s.adam as unknown as { gatheredStep(k: number): boolean }).gatheredStep(k));
    expect(gatheredSteps(sides[0])).toEqual([true, true, true]);
    expect(gatheredSteps(sides[1])).toEqual([false, false, false]);

    // Writes through the views after forward passes: scale the online weights, perturb the target's.
    trace((s, r) => {
      s.online.layers.forEach((l) => {
        const w = l.weight;
        for (let i = 0; i < w.length; i++) w[i] *= 1.25;
      });
      const w = s.target.layers[1].weight;
      for (let i = 0; i < w.length; i++) if (s.target.layers[1].mask![i]) w[i] += 0.01;
      return round(s, r, 5);
    });

    // copyFrom carries the weights (and packed copies) to a network that has run before.
    trace((s, r) => {
      s.copy.copyFrom(s.target);
      s.copy.forward(Float32Array.from({ length: 3 * sizes[0] }, () => r.normal()), 3);
      s.copy.copyFrom(s.online);
      return [...againstFresh(s, s.copy, r), ...round(s, r, 4, true)];
    });

    // A topology update as sparsifiers do it: zero the grown entries through the view, set the new mask.
    trace((s, r) => {
      const l = s.online.layers[1];
      const next = Float32Array.from(l.mask!);
      for (let i = 0; i < next.length; i += 7) {
        if (next[i] === 0) {
          next[i] = 1;
          l.weight[i] = 0;
        }
      }
      s.online.setMask(1, next);
      return [...round(s, r, 6), ...round(s, r, 6)];
    });

    // A mask change between backward and reading the gradient: the view shows the gradient of the
    // backward (at the entries active then), and the next backward zeroes the newly inactive ones.
    trace((s, r) => {
      const x = Float32Array.from({ length: 5 * sizes[0] }, () => r.normal());
      s.online.forward(x, 5);
      s.online.backward(Float32Array.from({ length: 5 * sizes.at(-1)! }, () => r.normal()));
      const l = s.online.layers[1];
      s.online.setMask(1, Float32Array.from(l.mask!, (m, i) => (i % 3 === 0 ? 0 : m)));
      return [Float32Array.from(l.weightGrad), ...round(s, r, 5, true), ...round(s, r, 5)];
    });

    // applyMasks after writing inactive entries through the view.
    trace((s, r) => {
      const l = s.online.layers[0];
      for (let i = 0; i < l.weight.length; i++) l.weight[i] += 0.5;
      s.online.applyMasks();
      return round(s, r, 3);
    });
  });
});
