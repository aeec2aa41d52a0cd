/**
 * Block-circulant layer timing (GST, arXiv 2101.09650): the native dense linear layer of a shape
 * against the block-circulant layer of the same shape on its direct path (materialised W_eff +
 * dense GEMM) and its FFT path (src/nn/block-circulant-layer.ts, native/src/circulant_layer.cc).
 *
 * One step = forward + backward with the input gradient (a hidden layer needs dx), batch 256,
 * random data, all blocks active. The dense layer is a one-layer linear MLP of the native engine
 * (`createMlp({ layerSizes: [in, out] })`, forward + backward(dy, { inputGrad: true })).
 * For each shape, all configurations are interleaved within each repetition (same machine
 * load); the table shows the median over `--reps` repetitions of the mean ms per step, and the
 * ratios to dense. Used to set CIRCULANT_FFT_MIN_BLOCK_SIZE (the 'auto' crossover).
 *
 * Second section (`critic`): a TD3-shaped critic `[23, 256, 256, 1]` (relu, linear output) as a
 * native MLP, one training step = forward + backward (parameter gradients, no dx) at batch 256:
 * plain dense, dense + the JS gradient fold of the GST sparsifier (what GST costs without engine
 * support), and every layer declared block-circulant (`Mlp.setBlockCirculant`: FFT kernels, folded
 * gradient written natively) for each block size of `--critic-blocks`.
 *
 * Usage: npm run bench:circulant -- [--reps 7] [--threads 2] [--target-ms 60]
 *        [--blocks 2,4,8,16,32,64] [--shapes 256x256,1024x1024,300x400]   (shapes are out×in)
 *        [--sections layers,critic,td3] [--critic-blocks 4,8,16]
 *
 * Third section (`td3`): one whole TD3 update (`Td3Agent.update`: twin critics, delayed actor,
 * Polyak targets; HalfCheetah shapes obs 17 / act 6, 256-256, batch 256) with the dense sparsifier
 * and with GST (b = 4, 8; all blocks active) on its two kernels: `direct` (dense kernels + JS fold)
 * and `auto` (the engine's FFT layers, chosen by GST on the native engine).
 */
import { parseArgs } from 'node:util';

import { BlockCirculantLinear } from '../src/nn/block-circulant-layer.js';
import type { Mlp } from '../src/nn/engine.js';
import { Td3Agent } from '../plugins/agent-td3/td3-agent.js';
import { UniformReplayBuffer } from '../plugins/replay-buffer-uniform/uniform-replay-buffer.js';
import { DenseSparsifier } from '../plugins/sparsifier-dense/dense-sparsifier.js';
import { GstSparsifier } from '../plugins/sparsifier-gst/gst-sparsifier.js';
import type { SparsifierHooks as Sparsifier } from '../src/core/sparsifier.js';
import { createNativeEngine } from '../src/nn/native-engine.js';
import { Rng } from '../src/util/rng.js';
import {
  circulantLayout,
  extractCirculant,
  foldCirculantGradient,
  materializeCirculant,
  type CirculantLayout,
} from '../src/sparse/block-circulant.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    reps: { type: 'string', default: '7' },
    threads: { type: 'string', default: '2' },
    'target-ms': { type: 'string', default: '60' },
    blocks: { type: 'string', default: '2,4,8,16,32,64' },
    shapes: { type: 'string', default: '256x256,1024x1024,300x400' },
    batch: { type: 'string', default: '256' },
    sections: { type: 'string', default: 'layers,critic,td3' },
    'critic-blocks': { type: 'string', default: '4,8,16' },
  },
});
const sections = new Set(String(values.sections).split(','));
const criticBlocks = String(values['critic-blocks']).split(',').map(Number);
const reps = Math.max(5, Number(values.reps));
const threads = Number(values.threads);
const targetMs = Number(values['target-ms']);
const blockSizes = String(values.blocks).split(',').map(Number);
const shapes = String(values.shapes)
  .split(',')
  .map((s) => s.split('x').map(Number) as [number, number]);
const BATCH = Number(values.batch);

const rng = new Rng(2101);
const rand = () => rng.uniform();
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

/** `reps` repetitions, every configuration once per repetition (interleaved: same machine load), ms per step into `times`. */
function measure(configs: Config[]): void {
  for (let r = 0; r < reps; r++) {
    for (const c of configs) {
      const t0 = performance.now();
      for (let i = 0; i < c.iters; i++) c.step();
      c.times.push((performance.now() - t0) / c.iters);
    }
  }
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
if (sections.has('layers')) layerSection();
if (sections.has('critic')) criticSection();
if (sections.has('td3')) td3Section();

/** One TD3 update: dense sparsifier vs GST on its direct and FFT kernels. */
function td3Section(): void {
  const td3 = { hiddenSizes: [256, 256], actorLr: 3e-4, criticLr: 3e-4, weightDecay: 0, batchSize: 256, gamma: 0.99, tau: 0.005, policyNoise: 0.2, noiseClip: 0.5, policyDelay: 2, explorationNoise: 0.1, learningStarts: 0 };
  const actionSpace = { type: 'box' as const, shape: [6], dtype: 'float32', low: Array(6).fill(-1), high: Array(6).fill(1) };
  const buffer = new UniformReplayBuffer(10000, { observationSize: 17, actionSize: 6 });
  for (let i = 0; i < 10000; i++) {
    buffer.add({ observation: randomArray(17), action: randomArray(6), reward: rand(), nextObservation: randomArray(17), terminated: rand() < 0.01, truncated: false });
  }
  const gst = (blockSize: number, kernel: 'direct' | 'auto') => new GstSparsifier({
    blockSize, kernel, mode: 'circulant-only', firstLayer: true, pruneInterval: 10000, controller: 'reward-aware', tolerance: 0.05, increase: 0.05, decrease: 0.05,
    minSparsity: 0, maxSparsity: 0.9, initialSparsity: 0, cooldown: 2, warmup: 0, rampEnd: 1, switchMargin: 0.05,
  });
  const variants: [string, () => Sparsifier][] = [['dense', () => new DenseSparsifier()]];
  for (const b of [4, 8]) variants.push([`gst b=${b} direct`, () => gst(b, 'direct')], [`gst b=${b} fft`, () => gst(b, 'auto')]);
  const configs: Config[] = variants.map(([label, make]) => {
    const agent = new Td3Agent(td3, { observationSize: 17, actionSpace, engine, sparsifier: make(), rng: new Rng(7) });
    const step = () => void agent.update(buffer);
    return { label, step, iters: calibrate(step), times: [], dispose: () => undefined };
  });
  measure(configs);
  const d = median(configs[0].times);
  console.log(`\n${engine.description}; one TD3 update (obs 17, act 6, 256-256, batch 256), ms, median of ${reps}`);
  console.log(`${'sparsifier'.padEnd(20)}${'ms'.padStart(8)}${'× dense'.padStart(10)}`);
  for (const c of configs) console.log(`${c.label.padEnd(20)}${median(c.times).toFixed(3).padStart(8)}${(median(c.times) / d).toFixed(2).padStart(10)}`);
}

function layerSection(): void {
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
    measure(configs);
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
}

/** TD3-shaped critic: dense vs dense + JS fold vs block-circulant layers on the engine's FFT path. */
function criticSection(): void {
  const sizes = [23, 256, 256, 1];
  const batch = 256;
  const x = randomArray(batch * sizes[0]);
  const dy = randomArray(batch, 1 / batch);
  const makeCritic = (name: string): Mlp => {
    const net = engine.createMlp({ name, layerSizes: sizes, hiddenActivation: 'relu', outputActivation: 'linear' });
    for (const l of net.layers) {
      const bound = 1 / Math.sqrt(l.inFeatures);
      l.weight.set(randomArray(l.weight.length, bound));
      l.bias.set(randomArray(l.bias.length, bound));
    }
    return net;
  };
  const configs: Config[] = [];
  const dense = makeCritic('dense');
  const denseStep = () => {
    dense.forward(x, batch);
    dense.backward(dy);
  };
  configs.push({ label: 'dense', step: denseStep, iters: calibrate(denseStep), times: [], dispose: () => dense.dispose() });
  for (const b of criticBlocks) {
    // dense kernels + the GST sparsifier's JS fold (materializeCirculant(foldCirculantGradient(g)))
    const jsNet = makeCritic(`js${b}`);
    const layouts: CirculantLayout[] = jsNet.layers.map((l) => circulantLayout(l.outFeatures, l.inFeatures, b));
    jsNet.layers.forEach((l, k) => l.weight.set(materializeCirculant(extractCirculant(l.weight, layouts[k]), layouts[k])));
    const scratch = layouts.map((L) => new Float32Array(L.outBlocks * L.inBlocks * b));
    const jsStep = () => {
      jsNet.forward(x, batch);
      jsNet.backward(dy);
      jsNet.layers.forEach((l, k) => materializeCirculant(foldCirculantGradient(l.weightGrad, layouts[k], scratch[k]), layouts[k], null, l.weightGrad));
    };
    configs.push({ label: `js b=${b}`, step: jsStep, iters: calibrate(jsStep), times: [], dispose: () => jsNet.dispose() });
    // every layer declared block-circulant: FFT kernels, native fold
    const circ = makeCritic(`circ${b}`);
    circ.copyFrom(jsNet);
    circ.layers.forEach((_, k) => circ.setBlockCirculant!(k, b));
    const circStep = () => {
      circ.forward(x, batch);
      circ.backward(dy);
    };
    configs.push({ label: `circ b=${b}`, step: circStep, iters: calibrate(circStep), times: [], dispose: () => circ.dispose() });
  }
  measure(configs);
  const ms = (label: string) => median(configs.find((c) => c.label === label)!.times);
  const d = ms('dense');
  console.log(`\n${engine.description}; TD3-shaped critic ${sizes.join('→')} (relu), batch ${batch}, ms per forward + backward (parameter gradients), median of ${reps}`);
  console.log(`native MLP: dense; dense + JS fold (GST today); all layers setBlockCirculant(b) (FFT, native fold)`);
  const head = `${'b'.padStart(4)}${'dense'.padStart(10)}${'dense+JS fold'.padStart(15)}${'circulant'.padStart(11)}${'circ/dense'.padStart(12)}${'circ/(dense+fold)'.padStart(19)}`;
  console.log(head);
  console.log('-'.repeat(head.length));
  for (const b of criticBlocks) {
    const js = ms(`js b=${b}`);
    const circ = ms(`circ b=${b}`);
    console.log(`${String(b).padStart(4)}${d.toFixed(3).padStart(10)}${js.toFixed(3).padStart(15)}${circ.toFixed(3).padStart(11)}${(circ / d).toFixed(2).padStart(12)}${(circ / js).toFixed(2).padStart(19)}`);
  }
  configs.forEach((c) => c.dispose());
}
