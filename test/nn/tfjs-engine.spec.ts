import { describe, expect, it } from 'vitest';
import type { Engine, MlpSpec } from '../../src/nn/engine.js';
import { createTfjsEngine } from '../../src/nn/tfjs-engine.js';
import { initialMask } from '../../src/sparse/mask.js';
import { Rng } from '../../src/util/rng.js';
import { checkAgainstReference, checkNoTensorLeaks, SMALL_SPECS as SPECS } from '../helpers/engine-checks.js';
import { expectClose, initNet, randomArray } from '../helpers/reference-mlp.js';



// ------------------------------------------------------------------------------------------------

describe.each(['cpu', 'wasm'] as const)('tfjs engine on %s', (backend) => {
  let engine: Engine;
  const getEngine = async (): Promise<Engine> => (engine ??= await createTfjsEngine(backend));

  it('names its backend', async () => {
    const e = await getEngine();
    expect(e.name).toBe('tfjs');
    expect(e.description.startsWith(`tfjs-${backend}`)).toBe(true);
  });

  it('creates zero networks with the documented layout', async () => {
    const e = await getEngine();
    const mlp = e.createMlp({ name: 'actor', layerSizes: [17, 256, 256, 6], hiddenActivation: 'relu', outputActivation: 'tanh' });
    expect(mlp.layers.map((l) => l.name)).toEqual(['actor.l1', 'actor.l2', 'actor.l3']);
    expect(mlp.layers.map((l) => [l.outFeatures, l.inFeatures])).toEqual([[256, 17], [256, 256], [6, 256]]);
    expect(mlp.weightCount).toBe(17 * 256 + 256 * 256 + 256 * 6);
    for (const l of mlp.layers) {
      expect(l.weight.length).toBe(l.inFeatures * l.outFeatures);
      expect(l.weightGrad.length).toBe(l.weight.length);
      expect(l.bias.length).toBe(l.outFeatures);
      expect(l.biasGrad.length).toBe(l.outFeatures);
      expect(l.mask).toBeNull();
      expect(l.weight.every((v) => v === 0) && l.bias.every((v) => v === 0)).toBe(true);
    }
    expect(Array.from(mlp.predict(new Float32Array(2 * 17).fill(1), 2))).toEqual(new Array(12).fill(0));
    mlp.dispose();
  });

  for (const spec of SPECS) {
    for (const density of [1, 0.5]) {
      for (const denseGrad of [false, true]) {
        const label = `${spec.hiddenActivation}/${spec.outputActivation}, density ${density}, denseGrad ${denseGrad}`;
        it(`matches finite differences of the float64 reference (${label})`, async () => checkAgainstReference(await getEngine(), spec, density, denseGrad, 0));
      }
    }
  }

  it('matches float32 finite differences of its own predict (smooth net)', async () => {
    const e = await getEngine();
    const rng = new Rng(5);
    const spec = SPECS[2];
    const mlp = e.createMlp(spec);
    initNet(mlp, rng, 0.5);
    const batch = 3;
    const x = randomArray(rng, batch * 5);
    const r = randomArray(rng, batch * 3);
    mlp.forward(x, batch);
    const dx = mlp.backward(r, { inputGrad: true })!;
    const loss = (): number => {
      const y = mlp.predict(x, batch);
      let s = 0;
      for (let i = 0; i < y.length; i++) s += r[i] * y[i];
      return s;
    };
    const h = 1e-2;
    const fd = (arr: Float32Array, i: number): number => {
      const v = arr[i];
      arr[i] = v + h;
      const fp = loss();
      arr[i] = v - h;
      const fm = loss();
      arr[i] = v;
      return (fp - fm) / (2 * h);
    };
    const l2 = mlp.layers[1];
    const active = [...l2.mask!.keys()].filter((i) => l2.mask![i] === 1).slice(0, 8);
    for (const i of active) expect(Math.abs(fd(l2.weight, i) - l2.weightGrad[i])).toBeLessThan(2e-3);
    for (let i = 0; i < 6; i++) expect(Math.abs(fd(l2.bias, i) - l2.biasGrad[i])).toBeLessThan(2e-3);
    for (let i = 0; i < x.length; i++) expect(Math.abs(fd(x, i) - dx[i])).toBeLessThan(2e-3);
    mlp.dispose();
  });

  it('returns null without inputGrad, overwrites (not accumulates) gradients, and can skip them', async () => {
    const e = await getEngine();
    const rng = new Rng(2);
    const mlp = e.createMlp(SPECS[0]);
    initNet(mlp, rng, 1);
    const x = randomArray(rng, 2 * 5);
    const r = randomArray(rng, 2 * 3);
    mlp.forward(x, 2);
    expect(mlp.backward(r)).toBeNull();
    const g1 = mlp.layers.map((l) => l.weightGrad.slice());
    mlp.forward(x, 2);
    mlp.backward(r);
    mlp.layers.forEach((l, k) => expect(Array.from(l.weightGrad)).toEqual(Array.from(g1[k])));
    // paramGrad: false (the critic's part of the TD3 actor loss) leaves parameter gradients alone
    mlp.layers.forEach((l) => l.weightGrad.fill(7));
    const dx = mlp.backward(r, { inputGrad: true, paramGrad: false });
    expect(dx).not.toBeNull();
    mlp.layers.forEach((l) => expect(l.weightGrad.every((v) => v === 7)).toBe(true));
    mlp.dispose();
  });

  it('backward uses the forward-time inputs even when the caller reuses its buffer', async () => {
    const e = await getEngine();
    const rng = new Rng(3);
    const mlp = e.createMlp(SPECS[1]);
    initNet(mlp, rng, 1);
    const x = randomArray(rng, 4 * 5);
    const r = randomArray(rng, 4 * 3);
    mlp.forward(x, 4);
    mlp.backward(r);
    const expected = mlp.layers.map((l) => l.weightGrad.slice());
    mlp.forward(x, 4);
    x.fill(123);
    mlp.backward(r);
    mlp.layers.forEach((l, k) => expectClose(l.weightGrad, expected[k], 0, 0, l.name));
    mlp.dispose();
  });

  it('validates arguments', async () => {
    const e = await getEngine();
    const mlp = e.createMlp(SPECS[0]);
    expect(() => mlp.backward(new Float32Array(3))).toThrow(/no preceding forward/);
    expect(() => mlp.predict(new Float32Array(9), 2)).toThrow(RangeError);
    expect(() => mlp.forward(new Float32Array(10), 0)).toThrow(RangeError);
    mlp.forward(new Float32Array(10), 2);
    expect(() => mlp.backward(new Float32Array(3))).toThrow(RangeError);
    expect(() => mlp.setMask(3, null)).toThrow(RangeError);
    expect(() => mlp.setMask(0, new Float32Array(34))).toThrow(RangeError);
    expect(() => e.createMlp({ ...SPECS[0], layerSizes: [5] })).toThrow(RangeError);
    const other = e.createMlp({ ...SPECS[0], layerSizes: [5, 7, 3] });
    expect(() => mlp.copyFrom(other)).toThrow(/differ/);
    expect(() => mlp.copyFrom(e.createMlp({ ...SPECS[0], outputActivation: 'linear' }))).toThrow(/activations differ/);
    expect(() => mlp.polyakFrom(mlp, 1.5)).toThrow(RangeError);
    expect(() => e.createAdam(mlp, { lr: -1 })).toThrow(RangeError);
    mlp.dispose();
    other.dispose();
    expect(() => mlp.predict(new Float32Array(10), 2)).toThrow(/disposed/);
  });

  it('setMask copies and applies the mask; applyMasks and copyFrom keep the invariant', async () => {
    const e = await getEngine();
    const rng = new Rng(4);
    const a = e.createMlp(SPECS[0]);
    initNet(a, rng, 1);
    const mask = initialMask(a.layers[1].weight, 20, 'random', rng);
    a.setMask(1, mask);
    mask.fill(1);
    const m = a.layers[1].mask!;
    expect(m).not.toBe(mask);
    expect(m.reduce((s, v) => s + v, 0)).toBe(20);
    a.layers[1].weight.forEach((w, i) => m[i] === 0 && expect(w).toBe(0));
    a.layers[1].weight.fill(1);
    a.applyMasks();
    expect(a.layers[1].weight.reduce((s, v) => s + v, 0)).toBe(20);
    const b = e.createMlp(SPECS[0]);
    b.setMask(0, new Float32Array(35).fill(1));
    b.copyFrom(a);
    expect(b.layers[0].mask).toBeNull();
    expect(Array.from(b.layers[1].mask!)).toEqual(Array.from(m));
    expect(b.layers[1].mask).not.toBe(m);
    b.layers.forEach((l, k) => {
      expect(Array.from(l.weight)).toEqual(Array.from(a.layers[k].weight));
      expect(Array.from(l.bias)).toEqual(Array.from(a.layers[k].bias));
    });
    a.setMask(1, null);
    expect(a.layers[1].mask).toBeNull();
    a.dispose();
    b.dispose();
  });

  it('Adam equals a float64 reference of torch.optim.Adam over several steps', async () => {
    const e = await getEngine();
    for (const weightDecay of [0, 0.01]) {
      const rng = new Rng(21);
      const mlp = e.createMlp(SPECS[0]);
      initNet(mlp, rng, 0.5);
      const opts = { lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay };
      const adam = e.createAdam(mlp, opts);
      expect([...adam.state.keys()]).toEqual(mlp.layers.flatMap((l) => [`${l.name}.weight`, `${l.name}.bias`]));
      // reference state per parameter (float64)
      const ref = mlp.layers.flatMap((l) => [
        { p: Float64Array.from(l.weight), grad: l.weightGrad, mask: l.mask, m: new Float64Array(l.weight.length), v: new Float64Array(l.weight.length) },
        { p: Float64Array.from(l.bias), grad: l.biasGrad, mask: null, m: new Float64Array(l.bias.length), v: new Float64Array(l.bias.length) },
      ]);
      for (let t = 1; t <= 6; t++) {
        if (t === 4) {
          adam.setLearningRate(1e-3);
          opts.lr = 1e-3;
        }
        for (const l of mlp.layers) {
          l.weightGrad.set(randomArray(rng, l.weightGrad.length));
          l.biasGrad.set(randomArray(rng, l.biasGrad.length));
        }
        adam.step();
        for (const s of ref) {
          for (let i = 0; i < s.p.length; i++) {
            let g = s.grad[i] * (s.mask ? s.mask[i] : 1);
            g += opts.weightDecay * s.p[i];
            s.m[i] = opts.beta1 * s.m[i] + (1 - opts.beta1) * g;
            s.v[i] = opts.beta2 * s.v[i] + (1 - opts.beta2) * g * g;
            const bc1 = 1 - opts.beta1 ** t;
            const bc2 = 1 - opts.beta2 ** t;
            s.p[i] -= (opts.lr / bc1) * (s.m[i] / (Math.sqrt(s.v[i]) / Math.sqrt(bc2) + opts.eps));
            if (s.mask) s.p[i] *= s.mask[i];
          }
        }
        expect(adam.stepCount).toBe(t);
        mlp.layers.forEach((l, k) => {
          expectClose(l.weight, ref[2 * k].p, 0, 1e-6, `${l.name}.weight step ${t}`);
          expectClose(l.bias, ref[2 * k + 1].p, 0, 1e-6, `${l.name}.bias step ${t}`);
          const st = adam.state.get(`${l.name}.weight`)!;
          expectClose(st.m, ref[2 * k].m, 1e-6, 0, 'm');
          expectClose(st.v, ref[2 * k].v, 1e-6, 0, 'v');
        });
      }
      adam.dispose();
      mlp.dispose();
    }
  });

  it('masked weights stay 0 over 100 Adam steps with dense gradients', async () => {
    const e = await getEngine();
    const rng = new Rng(8);
    const mlp = e.createMlp(SPECS[0]);
    initNet(mlp, rng, 0.3);
    const adam = e.createAdam(mlp, { lr: 1e-2, weightDecay: 1e-3 });
    const x = randomArray(rng, 8 * 5);
    for (let step = 0; step < 100; step++) {
      const y = mlp.forward(x, 8);
      mlp.backward(y, { denseGrad: true }); // L = ½‖y‖²
      adam.step();
      for (const l of mlp.layers) {
        for (let i = 0; i < l.weight.length; i++) if (l.mask![i] === 0 && l.weight[i] !== 0) throw new Error(`${l.name}[${i}] = ${l.weight[i]}`);
      }
    }
    expect(mlp.layers[0].weight.some((v) => v !== 0)).toBe(true);
    adam.dispose();
    mlp.dispose();
  });

  it('polyakFrom applies θ ← τθ_online + (1−τ)θ, then the online masks', async () => {
    const e = await getEngine();
    const rng = new Rng(9);
    const online = e.createMlp(SPECS[0]);
    initNet(online, rng, 1);
    online.setMask(0, initialMask(online.layers[0].weight, 12, 'random', rng));
    const target = e.createMlp({ ...SPECS[0], name: 'target' });
    initNet(target, rng, 1);
    const before = target.layers.map((l) => ({ w: l.weight.slice(), b: l.bias.slice() }));
    const tau = 0.3;
    target.polyakFrom(online, tau);
    target.layers.forEach((l, k) => {
      const o = online.layers[k];
      const mask = o.mask;
      const w = before[k].w.map((v, i) => (mask && mask[i] === 0 ? 0 : tau * o.weight[i] + (1 - tau) * v));
      const b = before[k].b.map((v, i) => tau * o.bias[i] + (1 - tau) * v);
      expectClose(l.weight, w, 0, 1e-7, `${l.name}.weight`);
      expectClose(l.bias, b, 0, 1e-7, `${l.name}.bias`);
    });
    expect(target.layers[0].weight.filter((v) => v !== 0).length).toBeLessThanOrEqual(12);
    // the target shares the online masks (a copy), also where it had a mask of its own
    expect(Array.from(target.layers[0].mask!)).toEqual(Array.from(online.layers[0].mask!));
    expect(target.layers[0].mask).not.toBe(online.layers[0].mask);
    expect(target.layers[1].mask).toBeNull();
    target.setMask(1, new Float32Array(42).fill(1));
    target.polyakFrom(online, tau);
    expect(target.layers[1].mask).toBeNull();
    target.polyakFrom(online, 1);
    target.layers.forEach((l, k) => expect(Array.from(l.weight)).toEqual(Array.from(online.layers[k].weight)));
    online.dispose();
    target.dispose();
  });

  it('leaks no tensors', async () => checkNoTensorLeaks(await getEngine()));
});

describe('tfjs engine backends', () => {
  it('cpu and wasm engines coexist and agree', async () => {
    const cpu = await createTfjsEngine('cpu');
    const wasm = await createTfjsEngine('wasm');
    const spec: MlpSpec = { name: 'actor', layerSizes: [17, 64, 64, 6], hiddenActivation: 'relu', outputActivation: 'tanh' };
    const a = cpu.createMlp(spec);
    const b = wasm.createMlp(spec);
    const rng = new Rng(12);
    initNet(a, rng, 0.5);
    b.copyFrom(a);
    const x = randomArray(rng, 32 * 17);
    const g = randomArray(rng, 32 * 6);
    // interleaved: each call must run on its own engine's backend
    const ya = a.forward(x, 32);
    const yb = b.forward(x, 32);
    const dxa = a.backward(g, { inputGrad: true })!;
    const dxb = b.backward(g, { inputGrad: true })!;
    expectClose(yb, ya, 1e-5, 0, 'outputs');
    expectClose(dxb, dxa, 1e-4, 0, 'dL/dx');
    a.layers.forEach((l, k) => expectClose(b.layers[k].weightGrad, l.weightGrad, 1e-4, 0, l.name));
    a.dispose();
    b.dispose();
  });

  it('auto picks the fastest backend that loads', async () => {
    const e = await createTfjsEngine('auto');
    expect(e.description).toMatch(/^tfjs-(tensorflow|wasm)/);
  });

  it('an explicitly requested backend that cannot load throws an error naming it', async () => {
    let nodeInstalled = true;
    try {
      await import('@tensorflow/tfjs-node' as string);
    } catch {
      nodeInstalled = false;
    }
    if (nodeInstalled) {
      expect((await createTfjsEngine('tensorflow')).description).toBe('tfjs-tensorflow');
    } else {
      await expect(createTfjsEngine('tensorflow')).rejects.toThrow(/tfjs backend 'tensorflow' unavailable: cannot import @tensorflow\/tfjs-node/);
    }
    await expect(createTfjsEngine('gpu' as never)).rejects.toThrow(/unknown backend 'gpu'/);
  });
});
