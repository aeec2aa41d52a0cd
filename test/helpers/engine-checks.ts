/**
 * Checks shared by the suites of one engine on several backends (tfjs on cpu/wasm, tfjs-node).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import type { Engine, MlpSpec } from '../../src/nn/engine.js';
import { Rng } from '../../src/util/rng.js';
import { centralDiff, expectClose, initNet, randomArray, refForward, refLayers, refLoss } from './reference-mlp.js';

/** Small MLPs [5, 7, 6, 3] with the activation pairs the agents use. */
export const SMALL_SPECS: readonly MlpSpec[] = [
  { name: 'small', layerSizes: [5, 7, 6, 3], hiddenActivation: 'relu', outputActivation: 'tanh' },
  { name: 'small', layerSizes: [5, 7, 6, 3], hiddenActivation: 'relu', outputActivation: 'linear' },
  { name: 'small', layerSizes: [5, 7, 6, 3], hiddenActivation: 'tanh', outputActivation: 'linear' },
];

/**
 * Forward, dL/dW, dL/db and dL/dx of `spec` (weights ×2 so tanh saturates a little and ReLUs
 * are mixed; masked at `density`) against central differences of the float64 reference; inactive
 * positions get 0 unless `denseGrad`. `predictRtol`: allowed predict ≠ forward (0 = identical).
 */
export function checkAgainstReference(e: Engine, spec: MlpSpec, density: number, denseGrad: boolean, predictRtol: number): void {
  const rng = new Rng(11);
  const mlp = e.createMlp(spec);
  initNet(mlp, rng, density);
  for (const l of mlp.layers) for (let i = 0; i < l.weight.length; i++) l.weight[i] *= 2;
  const batch = 4;
  const x = randomArray(rng, batch * 5);
  const r = randomArray(rng, batch * 3);
  const layers = refLayers(mlp);
  const x64 = Float64Array.from(x);

  const y = mlp.forward(x, batch);
  expectClose(y, refForward(layers, spec, x64, batch), 1e-5, 1e-7, 'forward');
  expectClose(mlp.predict(x, batch), y, predictRtol, 0, 'predict = forward');
  const dx = mlp.backward(r, { inputGrad: true, denseGrad })!;
  expect(dx).not.toBeNull();

  const loss = (): number => refLoss(layers, spec, x64, batch, r);
  mlp.layers.forEach((l, k) => {
    const dW = centralDiff(layers[k].w, loss);
    if (l.mask && !denseGrad) for (let i = 0; i < dW.length; i++) dW[i] *= l.mask[i];
    expectClose(l.weightGrad, dW, 1e-4, 1e-6, `${l.name} dL/dW`);
    expectClose(l.biasGrad, centralDiff(layers[k].b, loss), 1e-4, 1e-6, `${l.name} dL/db`);
    if (l.mask) {
      const inactive = Array.from(l.weightGrad).filter((_, i) => l.mask![i] === 0);
      if (denseGrad) expect(inactive.some((v) => v !== 0)).toBe(true);
      else expect(inactive.every((v) => v === 0)).toBe(true);
    }
  });
  expectClose(dx, centralDiff(x64, loss), 1e-4, 1e-6, 'dL/dx');
  mlp.dispose();
}

/** Rounds of predict / forward / backward / Adam leave the tfjs tensor count steady, and disposal frees everything. */
export function checkNoTensorLeaks(e: Engine): void {
  const rng = new Rng(10);
  const base = tf.memory().numTensors;
  const mlp = e.createMlp({ name: 'critic', layerSizes: [23, 64, 64, 1], hiddenActivation: 'relu', outputActivation: 'linear' });
  initNet(mlp, rng, 0.5);
  const adam = e.createAdam(mlp, { lr: 1e-3 });
  const x = randomArray(rng, 16 * 23);
  const round = (): void => {
    mlp.predict(x, 16);
    const y = mlp.forward(x, 16);
    mlp.backward(y, { inputGrad: true, denseGrad: true });
    mlp.backward(y);
    adam.step();
  };
  round();
  const steady = tf.memory().numTensors;
  for (let i = 0; i < 10; i++) round();
  expect(tf.memory().numTensors).toBe(steady);
  mlp.dispose();
  adam.dispose();
  expect(tf.memory().numTensors).toBe(base);
}
