/**
 * Test fixtures shared by the export suites (c-export, sparse-safetensors, onnx): hand-built
 * `PolicyModel`s of every layer structure, the float64 forward pass every exported form must
 * reproduce, seeded random observations and a max-abs-difference check.
 */
import { expect } from 'vitest';
import type { LayerStructureHint, PolicyLayer, PolicyModel } from '../../src/export/policy-model.js';
import type { Activation } from '../../src/nn/engine.js';
import { circulantLayout, expandBlockMask, materializeCirculant } from '../../src/sparse/block-circulant.js';
import { nmMask } from '../../src/sparse/nm.js';
import { uniformStream } from '../helpers/random.js';

/** A uniform [0, 1) stream (see `uniformStream`). */
export type Rand = () => number;

/** Uniform in ±scale as a float32, never exactly 0 (so non-zero patterns equal masks). */
export const weightValue = (rand: Rand, scale: number): number => {
  const v = Math.fround((rand() * 2 - 1) * scale);
  return v === 0 ? scale / 3 : v;
};

/** A 0/1 mask with exactly round(density · size) active entries, at random (Fisher–Yates on `rand`). */
export function randomMask(size: number, density: number, rand: Rand): Uint8Array {
  const order = Array.from({ length: size }, (_, i) => i);
  for (let i = size - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const mask = new Uint8Array(size);
  for (let k = 0; k < Math.round(density * size); k++) mask[order[k]] = 1;
  return mask;
}

/**
 * A `PolicyLayer` of the given `[out, in]` weight (zeroed in place where `mask` is 0) and bias;
 * `activeWeights` counts the mask (all weights when unmasked).
 */
export function policyLayer(name: string, weight: Float32Array, bias: Float32Array, mask: Uint8Array | null, activation: Activation, structure: LayerStructureHint): PolicyLayer {
  if (mask) for (let i = 0; i < weight.length; i++) if (!mask[i]) weight[i] = 0;
  const outFeatures = bias.length;
  return {
    name, inFeatures: weight.length / outFeatures, outFeatures, weight, bias, mask, activation, structure,
    activeWeights: mask ? mask.reduce((a, b) => a + b, 0) : weight.length,
  };
}

/**
 * An `out × inF` layer: weights `weightValue(rand, 1.5/√inF)` unless `weight` is given, masked by
 * `mask`; then biases `weightValue(rand, 0.1)`.
 */
export function makeLayer(name: string, out: number, inF: number, activation: Activation, structure: LayerStructureHint, rand: Rand, mask: Uint8Array | null, weight?: Float32Array): PolicyLayer {
  const scale = 1.5 / Math.sqrt(inF);
  const w = weight ?? Float32Array.from({ length: out * inF }, () => weightValue(rand, scale));
  const bias = Float32Array.from({ length: out }, () => weightValue(rand, 0.1));
  return policyLayer(name, w, bias, mask, activation, structure);
}

/** An N:M layer: random weights masked by their own N:M magnitude mask, hinted `{ kind: 'nm', n, m }`. */
export function nmLayer(name: string, out: number, inF: number, n: number, m: number, activation: Activation, rand: Rand): PolicyLayer {
  const dense = makeLayer(name, out, inF, activation, { kind: 'nm', n, m }, rand, null);
  const mask = Uint8Array.from(nmMask(dense.weight, out, inF, n, m));
  return makeLayer(name, out, inF, activation, { kind: 'nm', n, m }, rand, mask, dense.weight);
}

/** A block-circulant layer (vectors at random, `blockDensity` of the blocks active; unmasked when 1). */
export function circulantLayer(name: string, out: number, inF: number, b: number, blockDensity: number, activation: Activation, rand: Rand): PolicyLayer {
  const layout = circulantLayout(out, inF, b);
  const nb = layout.outBlocks * layout.inBlocks;
  const vectors = Float32Array.from({ length: nb * b }, () => weightValue(rand, 1.5 / Math.sqrt(inF)));
  const blockMask = blockDensity < 1 ? Float32Array.from(randomMask(nb, blockDensity, rand)) : null;
  const weight = materializeCirculant(vectors, layout, blockMask);
  const mask = blockMask ? Uint8Array.from(expandBlockMask(blockMask, layout)) : null;
  return makeLayer(name, out, inF, activation, { kind: 'circulant', blockSize: b }, rand, mask, weight);
}

/**
 * A `Hand-v0` model of `layers` (observation = the first layer's inputs, in ±10), action bounds
 * `[-1 - 0.5 i, 1 + 0.25 i]`, no squash and offset 0 unless given, a fixed `runs/hand` source.
 */
export function makeModel(layers: PolicyLayer[], actionSize: number, opts: { squash?: 'tanh' | 'none'; outputOffset?: number } = {}): PolicyModel {
  const obs = layers[0].inFeatures;
  const low = Float32Array.from({ length: actionSize }, (_, i) => -1 - 0.5 * i);
  const high = Float32Array.from({ length: actionSize }, (_, i) => 1 + 0.25 * i);
  return {
    envId: 'Hand-v0', observationSize: obs, actionSize,
    observationSpace: { type: 'box', shape: [obs], dtype: 'float32', low: new Array(obs).fill(-10), high: new Array(obs).fill(10) },
    actionSpace: { type: 'box', shape: [actionSize], dtype: 'float32', low: [...low], high: [...high] },
    layers, outputOffset: opts.outputOffset ?? 0, squash: opts.squash ?? 'none', actionLow: low, actionHigh: high,
    source: { runDir: 'runs/hand', checkpoint: 'runs/hand/checkpoints/step-1', step: 1, agent: 'td3', sparsifier: 'hand', name: 'hand' },
  };
}

/** A hand-built policy with the storage kind `layerStorage` should choose for each of its layers. */
export interface ModelCase {
  model: PolicyModel;
  kinds: string[];
}

/** A `ModelCase` with the name a suite gives it (test titles, file names). */
export type NamedModelCase = { name: string } & ModelCase;

/**
 * The three structured policies, named `names` and built in this order from `rand` (which callers
 * go on drawing from): unstructured 90 % (CSR, then dense); N:M 2:4 and 1:4 with a SAC-style head
 * (offset 3, tanh squash); block-circulant b = 4 on in/out sizes that are not multiples of 4.
 */
export function structuredModels(rand: Rand, names: [unstructured: string, nm: string, circulant: string]): NamedModelCase[] {
  const unstructured: ModelCase = {
    kinds: ['csr', 'dense', 'dense'],
    model: makeModel([
      makeLayer('actor.l1', 64, 24, 'relu', { kind: 'unstructured' }, rand, randomMask(64 * 24, 0.1, rand)),
      makeLayer('actor.l2', 48, 64, 'relu', { kind: 'dense' }, rand, null),
      makeLayer('actor.l3', 6, 48, 'tanh', { kind: 'dense' }, rand, null),
    ], 6),
  };
  const nm: ModelCase = {
    kinds: ['nm', 'nm', 'dense'],
    model: makeModel([
      nmLayer('actor.l1', 32, 17, 2, 4, 'relu', rand), // 17 = 4·4 + 1: a trailing group of 1 (one padding slot per row)
      nmLayer('actor.l2', 30, 32, 1, 4, 'relu', rand),
      makeLayer('actor.l3', 6, 30, 'linear', { kind: 'dense' }, rand, null),
    ], 3, { squash: 'tanh', outputOffset: 3 }),
  };
  const circulant: ModelCase = {
    kinds: ['circulant', 'circulant', 'dense'],
    model: makeModel([
      circulantLayer('actor.l1', 30, 17, 4, 1, 'relu', rand),
      circulantLayer('actor.l2', 22, 30, 4, 0.5, 'relu', rand),
      makeLayer('actor.l3', 5, 22, 'tanh', { kind: 'dense' }, rand, null),
    ], 5),
  };
  return [unstructured, nm, circulant].map((c, i) => ({ name: names[i], ...c }));
}

/**
 * The model's forward pass in float64, straight from its definition (PolicyModel's docs):
 * `[n, observationSize]` observations → `[n, actionSize]` actions in env units.
 */
export function referenceForward(model: PolicyModel, obs: Float32Array, n: number): Float64Array {
  const out = new Float64Array(n * model.actionSize);
  for (let k = 0; k < n; k++) {
    let x: Float64Array = Float64Array.from(obs.subarray(k * model.observationSize, (k + 1) * model.observationSize));
    for (const l of model.layers) {
      const y = new Float64Array(l.outFeatures);
      for (let r = 0; r < l.outFeatures; r++) {
        let s = l.bias[r];
        for (let c = 0; c < l.inFeatures; c++) s += l.weight[r * l.inFeatures + c] * x[c];
        y[r] = l.activation === 'relu' ? Math.max(0, s) : l.activation === 'tanh' ? Math.tanh(s) : s;
      }
      x = y;
    }
    for (let i = 0; i < model.actionSize; i++) {
      let a = x[model.outputOffset + i];
      if (model.squash === 'tanh') a = Math.tanh(a);
      out[k * model.actionSize + i] = model.actionLow[i] + ((a + 1) * (model.actionHigh[i] - model.actionLow[i])) / 2;
    }
  }
  return out;
}

/** `n` observations of `dim` floats, uniform in ±scale, from `uniformStream(seed)`. */
export function observations(dim: number, n: number, seed: number, scale = 2): Float32Array {
  const rand = uniformStream(seed);
  return Float32Array.from({ length: n * dim }, () => (rand() * 2 - 1) * scale);
}

/** The largest |a[i] - b[i]|, after expecting equal lengths. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}
