/**
 * Block-circulant layer timing (GST, arXiv 2101.09650): the native dense linear layer of a shape
 * against the block-circulant layer of the same shape on its direct path (materialised W_eff +
 * dense GEMM) and its FFT path (src/nn/block-circulant-layer.ts, native/src/circulant.cc).
 *
 * One step = forward + backward with the input gradient (a hidden layer needs dx), batch 256,
 * random data, all blocks active. The dense layer is a one-layer linear MLP of the native engine
 * (`createMlp({ layerSizes: [in, out] })`, forward + backward(dy, { inputGrad: true })).
 * For each shape, all configurations are interleaved within each repetition (same machine
 * load); the table shows the median over `--reps` repetitions of the mean ms per step, and the
 * ratios to dense. Used to set CIRCULANT_FFT_MIN_BLOCK_SIZE (the 'auto' crossover).
 *
 * Usage: npm run bench:circulant -- [--reps 7] [--threads 2] [--target-ms 60]
 *        [--blocks 2,4,8,16,32,64] [--shapes 256x256,1024x1024,300x400]   (shapes are out×in)
 */
import { parseArgs } from 'node:util';

import { BlockCirculantLinear } from '../src/nn/block-circulant-layer.js';
import type { Mlp } from '../src/nn/engine.js';
import { createNativeEngine } from '../src/nn/native-engine.js';
import { circulantLayout } from '../src/sparse/block-circulant.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    reps: { type: 'string', default: '7' },
    threads: { type: 'string', default: '2' },
    'target-ms': { type: 'string', default: '60' },
    blocks: { type: 'string', default: '2,4,8,16,32,64' },
    shapes: { type: 'string', default: '256x256,1024x1024,300x400' },
    batch: { type: 'string', default: '256' },
  },
});
const reps = Math.max(5, Number(values.reps));
const threads = Number(values.threads);
const targetMs = Number(values['target-ms']);
const blockSizes = String(values.blocks).split(',').map(Number);
const shapes = String(values.shapes)
  .split(',')
  .map((s) => s.split('x').map(Number) as [number, number]);
const BATCH = Number(values.batch);

/** xorshift32 uniform in [0, 1). */
function makeRng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}
const rand = makeRng(2101);
function randomArray(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * rand() - 1) * scale;
  return a;
}
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];

interface Config {
  label: string;
  step: () => void;
  iters: number;
  times: number[];
  dispose: () => void;
}

/** Calibrates the iteration count so that one measurement takes about targetMs. */
function calibrate(step: () => void): number {
  for (let i = 0; i < 2; i++) step(); // warm-up (buffers, caches)
  const t0 = performance.now();
  step();
  const once = Math.max(performance.now() - t0, 1e-3);
  return Math.max(1, Math.round(targetMs / once));
}

const engine = createNativeEngine({ threads });
console.log(
  `${engine.description}; block-circulant layer vs dense layer, batch ${BATCH}, ms per forward + backward (with dx)`,
);
console.log(`median of ${reps} repetitions, configurations of a shape interleaved within each repetition; all blocks active\n`);

const header = `${'shape (out×in)'.padEnd(15)}${'b'.padStart(4)}${'dense'.padStart(10)}${'direct'.padStart(10)}${'fft'.padStart(10)}${'direct/dense'.padStart(14)}${'fft/dense'.padStart(11)}${'fft/direct'.padStart(12)}  faster`;
console.log(header);
console.log('-'.repeat(header.length));

const summary: string[] = [];
for (const [out, inF] of shapes) {
  const x = randomArray(BATCH * inF);
  const dy = randomArray(BATCH * out, 1 / BATCH);
  const bias = randomArray(out, 0.1);
  const configs: Config[] = [];
  // Dense reference layer
  const mlp: Mlp = engine.createMlp({ name: `dense${out}x${inF}`, layerSizes: [inF, out], hiddenActivation: 'linear', outputActivation: 'linear' });
  const bound = 1 / Math.sqrt(inF);
  mlp.layers[0].weight.set(randomArray(out * inF, bound));
  mlp.layers[0].bias.set(bias);
  const denseStep = () => {
    mlp.forward(x, BATCH);
    mlp.backward(dy, { inputGrad: true });
  };
  configs.push({ label: 'dense', step: denseStep, iters: calibrate(denseStep), times: [], dispose: () => mlp.dispose() });
  const agreement: string[] = [];
  for (const b of blockSizes) {
    const layout = circulantLayout(out, inF, b);
    const vectors = randomArray(layout.outBlocks * layout.inBlocks * b, bound);
    const layers = (['direct', 'fft'] as const).map((method) => new BlockCirculantLinear(layout, { method, threads }));
    // Both paths must agree before they are timed.
    const [yd, yf] = layers.map((l) => l.forward(x, BATCH, vectors, null, bias));
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < yd.length; i++) {
      diff = Math.max(diff, Math.abs(yd[i] - yf[i]));
      scale = Math.max(scale, Math.abs(yd[i]));
    }
    agreement.push(`b=${b}: ${(diff / scale).toExponential(1)}`);
    for (const layer of layers) {
      const step = () => {
        layer.forward(x, BATCH, vectors, null, bias);
        layer.backward(dy);
      };
      configs.push({ label: `${layer.method} b=${b}`, step, iters: calibrate(step), times: [], dispose: () => layer.dispose() });
    }
  }
  for (let r = 0; r < reps; r++) {
    for (const c of configs) {
      const t0 = performance.now();
      for (let i = 0; i < c.iters; i++) c.step();
      c.times.push((performance.now() - t0) / c.iters);
    }
  }
  const ms = (label: string) => median(configs.find((c) => c.label === label)!.times);
  const dense = ms('dense');
  blockSizes.forEach((b, k) => {
    const direct = ms(`direct b=${b}`);
    const fft = ms(`fft b=${b}`);
    const shape = k === 0 ? `${out}×${inF}` : '';
    console.log(
      `${shape.padEnd(15)}${String(b).padStart(4)}${dense.toFixed(3).padStart(10)}${direct.toFixed(3).padStart(10)}${fft.toFixed(3).padStart(10)}` +
        `${(direct / dense).toFixed(2).padStart(14)}${(fft / dense).toFixed(2).padStart(11)}${(fft / direct).toFixed(2).padStart(12)}  ${fft < direct ? 'fft' : 'direct'}`,
    );
  });
  summary.push(`${out}×${inF} max |y_fft − y_direct| / max |y|: ${agreement.join(', ')}`);
  configs.forEach((c) => c.dispose());
}
console.log('');
summary.forEach((s) => console.log(s));
