/**
 * `npm run bench:width`: "sparsity that buys width" (Ma et al., ICML 2025, "Network Sparsity
 * Unlocks the Scaling Potential of Deep RL"; Obando-Ceron et al., ICML 2024). One TD3 update
 * (twin critics + delayed actor + Polyak targets, batch 256, HalfCheetah dimensions obs 17 /
 * act 6) at wide hidden layers (default 1024-1024 and 2048-2048) with static ERK masks (random
 * mask choice) at 90 %, 95 % and 99 % sparsity on the native engine, against PyTorch dense
 * (bench/torch_td3.py `update --hidden W --layers L`, CPU, same thread count) at the same width
 * and at 256-256, and against our native dense at the same width. Side by side in one run: the
 * median of `--reps` (≥ 5) interleaved repetitions; each repetition of a configuration runs
 * enough updates for about `--target-ms` (iteration counts calibrated once, even, so actor
 * updates are half of them as in a steady state). Every sparse configuration runs twice: with the
 * engine's gathered (O(nnz)) Adam and Polyak updates on the layers that qualify
 * (`gatheredMaxDensity` / `gatheredMinWeights`, defaults unless `--gathered-max-density` /
 * `--gathered-min-weights` are given) and with the dense updates (`gatheredMaxDensity: 0`).
 *
 * Memory per network (critic 1, the largest network; the actor differs only in its first and
 * last layer) is given as the engine stores it — the parameter block (weights, biases, their
 * gradients and the masks, dense `[out, in]` each, 64-byte aligned: native/src/mlp.cc) plus
 * the Adam block (m, v of weights and biases) plus the CSR/CSC index of each sparse-kernel
 * layer (4 int32 per active weight + out + in + 2, native/src/mlp.cc `buildIndex`) and its
 * packed weight copies (2 float32 per active weight, `Mlp::packedWeights`) — and as the
 * nnz-only lower bound: every active weight and every bias with value, gradient, Adam m and v in
 * float32 (16 B each), no index, no mask.
 *
 * Usage: node dist/bench/width.js [--reps 5] [--widths 1024,2048] [--layers 2]
 *   [--sparsities 0.9,0.95,0.99] [--threads 2] [--target-ms 1500]
 *   [--gathered-max-density D] [--gathered-min-weights N]
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { Td3Agent, type Td3Options } from '../plugins/agent-td3/td3-agent.js';
import { UniformReplayBuffer } from '../plugins/replay-buffer-uniform/uniform-replay-buffer.js';
import { DenseSparsifier } from '../plugins/sparsifier-dense/dense-sparsifier.js';
import { StaticSparsifier } from '../plugins/sparsifier-static/static-sparsifier.js';
import type { BoxSpace } from '../src/core/environment.js';
import type { Mlp, Optimizer } from '../src/nn/engine.js';
import { createNativeEngine } from '../src/nn/native-engine.js';
import { packageRoot } from '../src/util/paths.js';
import { Rng } from '../src/util/rng.js';

/** Memory of one network, in bytes (see the file comment). */
export interface NetworkMemory {
  /** Parameter block as the engine allocates it: weight, bias, weightGrad, biasGrad, mask per layer. */
  readonly parameterBlock: number;
  /** Adam block: m and v of every weight and bias. */
  readonly adamBlock: number;
  /** CSR + CSC index (int32) and packed weight copies (float32) of the layers on sparse kernels, from native/src/mlp.cc. */
  readonly sparseIndex: number;
  /** parameterBlock + adamBlock + sparseIndex. */
  readonly engineTotal: number;
  /** Active weights + biases (a dense layer counts every weight). */
  readonly activeParameters: number;
  /** 16 B per active parameter: value, gradient, Adam m, v in float32. */
  readonly nnzLowerBound: number;
}

/**
 * Bytes of one network as the engine stores it and the nnz-only lower bound.
 *
 * `parameterBlock` and `adamBlock` are the byte lengths of the native blocks behind the live
 * views (`layer.weight.buffer`, `optimizer.state` views' buffer), i.e. exactly what the native
 * engine allocated (per layer `3·in·out + 2·out` floats for the parameters, `2·in·out + 2·out`
 * for Adam, each array rounded up to 16 floats; native/src/mlp.cc). `sparseIndex` is not visible
 * from JS and is computed from the masks with the layout of native/src/mlp.cc `buildIndex`:
 * `4·nnz + (out + 1) + (in + 1)` int32 (row pointers, columns, weight offsets, CSC column
 * pointers, rows, CSR-to-CSC positions) plus the packed copies in CSR and CSC order, `2·nnz`
 * float32, for every masked layer of density ≤ `sparseDensityThreshold`.
 *
 * @param mlp a network of the native engine (views share one ArrayBuffer per block)
 * @param optimizer its Adam optimizer, or null (targets have none)
 * @param sparseDensityThreshold the engine's threshold (default 0.5)
 * @returns bytes; `activeParameters` is a count
 */
export function networkMemory(mlp: Mlp, optimizer: Optimizer | null, sparseDensityThreshold = 0.5): NetworkMemory {
  const parameterBlock = mlp.layers[0].weight.buffer.byteLength;
  const firstState = optimizer?.state.values().next().value;
  const adamBlock = firstState ? firstState.m.buffer.byteLength : 0;
  let sparseIndex = 0;
  let activeParameters = 0;
  for (const l of mlp.layers) {
    const n = l.inFeatures * l.outFeatures;
    let nnz = n;
    if (l.mask) {
      nnz = 0;
      for (let i = 0; i < n; i++) if (l.mask[i] !== 0) nnz++;
      if (nnz <= sparseDensityThreshold * n) sparseIndex += 4 * (6 * nnz + l.outFeatures + 1 + l.inFeatures + 1);
    }
    activeParameters += nnz + l.outFeatures;
  }
  return { parameterBlock, adamBlock, sparseIndex, engineTotal: parameterBlock + adamBlock + sparseIndex, activeParameters, nnzLowerBound: 16 * activeParameters };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 1);
const actionSpace: BoxSpace = { type: 'box', shape: [6], dtype: 'float32', low: Array(6).fill(-1), high: Array(6).fill(1) };
const td3Options = (hiddenSizes: number[]): Td3Options => ({ hiddenSizes, actorLr: 3e-4, criticLr: 3e-4, weightDecay: 0, batchSize: 256, gamma: 0.99, tau: 0.005, policyNoise: 0.2, noiseClip: 0.5, policyDelay: 2, explorationNoise: 0.1, learningStarts: 0 });

interface Row {
  readonly name: string;
  readonly width: number;
  readonly kind: 'torch' | 'native dense' | 'native sparse' | 'native sparse, dense updates';
  readonly sparsity: number;
  /** Runs `n` updates and returns ms per update. */
  readonly measure: (n: number) => number;
  iters: number;
  readonly times: number[];
  readonly memory: NetworkMemory;
  /** Agent construction (networks, init, masks, targets, Adam), ms; NaN for PyTorch. */
  readonly setupMs: number;
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--reps <n>', 'interleaved repetitions (>= 5 for the README)', '5')
    .option('--widths <list>', 'hidden widths to compare, comma separated', '1024,2048')
    .option('--layers <n>', 'number of hidden layers of actor and critics', '2')
    .option('--sparsities <list>', 'static ERK sparsities (actor and critics), comma separated', '0.9,0.95,0.99')
    .option('--threads <n>', 'threads for every engine', '2')
    .option('--target-ms <ms>', 'wall time of one repetition of one configuration (sets its update count)', '1500')
    .option('--gathered-max-density <d>', "the engine's gatheredMaxDensity for the gathered rows (default: the engine's)")
    .option('--gathered-min-weights <n>', "the engine's gatheredMinWeights for the gathered rows (default: the engine's)")
    .parse()
    .opts<{ reps: string; widths: string; layers: string; sparsities: string; threads: string; targetMs: string; gatheredMaxDensity?: string; gatheredMinWeights?: string }>();
  const reps = Number(opts.reps);
  const widths = opts.widths.split(',').map(Number);
  const depth = Number(opts.layers);
  const sparsities = opts.sparsities.split(',').map(Number);
  const threads = Number(opts.threads);
  const targetMs = Number(opts.targetMs);
  const benchPython = join(packageRoot(), '.venv-bench', 'bin', 'python');
  const haveTorch = existsSync(benchPython);
  if (!haveTorch) console.log('PyTorch reference missing: run `npm run bench:setup` (creates .venv-bench with torch from PyPI). Continuing without it.');
  const engine = createNativeEngine({
    threads,
    gatheredMaxDensity: opts.gatheredMaxDensity === undefined ? undefined : Number(opts.gatheredMaxDensity),
    gatheredMinWeights: opts.gatheredMinWeights === undefined ? undefined : Number(opts.gatheredMinWeights),
  });
  const denseUpdateEngine = createNativeEngine({ threads, gatheredMaxDensity: 0 });
  const hidden = (w: number) => Array<number>(depth).fill(w);
  const label = (w: number) => hidden(w).join('-');

  const torchRow = (width: number): Row => {
    const run = (n: number, warmup: number) => {
      const args = [join(packageRoot(), 'bench', 'torch_td3.py'), 'update', '--iters', String(n), '--blocks', '1', '--threads', String(threads), '--hidden', String(width), '--layers', String(depth), '--update-warmup', String(warmup)];
      const out = execFileSync(benchPython, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      return JSON.parse(out.trim().split('\n').pop()!).ms_per_update as number;
    };
    const obs = 17 + 6;
    const params = (w: number) => hidden(w).reduce((s, h, k, hs) => s + (k === 0 ? obs : hs[k - 1]) * h + h, 0) + hidden(w)[depth - 1] + 1;
    const p = params(width);
    // PyTorch stores every parameter with its .grad and Adam's exp_avg, exp_avg_sq: 16 B
    const memory: NetworkMemory = { parameterBlock: 8 * p, adamBlock: 8 * p, sparseIndex: 0, engineTotal: 16 * p, activeParameters: p, nnzLowerBound: 16 * p };
    // warm-up in each process as long as one repetition, at least 2 updates
    return { name: `PyTorch dense ${label(width)}`, width, kind: 'torch', sparsity: 0, measure: (n) => run(n, Math.max(2, Math.min(20, n))), iters: 2, times: [], memory, setupMs: NaN };
  };

  const nativeRow = (width: number, sparsity: number, denseUpdates = false): Row => {
    const t0 = performance.now();
    const sparsifier = sparsity > 0
      ? new StaticSparsifier({ actorSparsity: sparsity, criticSparsity: sparsity, sparsityDistribution: 'erdos-renyi-kernel', maskInit: 'random' })
      : new DenseSparsifier();
    const agent = new Td3Agent(td3Options(hidden(width)), { observationSize: 17, actionSpace, engine: denseUpdates ? denseUpdateEngine : engine, sparsifier, rng: new Rng(1) });
    const setupMs = performance.now() - t0;
    const buffer = new UniformReplayBuffer(10000, { observationSize: 17, actionSize: 6 });
    const rng = new Rng(2);
    for (let i = 0; i < 10000; i++) {
      buffer.add({ observation: new Float32Array(17).map(() => rng.normal()), action: new Float32Array(6).map(() => rng.uniformRange(-1, 1)), reward: rng.normal(), nextObservation: new Float32Array(17).map(() => rng.normal()), terminated: false, truncated: false });
    }
    for (let i = 0; i < 2; i++) agent.update(buffer);
    const critic = agent.groups[1];
    const memory = networkMemory(critic.networks[0], critic.optimizers[0]);
    const measure = (n: number) => {
      const s = process.hrtime.bigint();
      for (let i = 0; i < n; i++) agent.update(buffer);
      return Number(process.hrtime.bigint() - s) / 1e6 / n;
    };
    const name = sparsity > 0 ? `native ${Math.round(sparsity * 100)}% static ERK ${label(width)}${denseUpdates ? ', dense Adam/Polyak' : ''}` : `native dense ${label(width)}`;
    const kind = sparsity === 0 ? 'native dense' : denseUpdates ? 'native sparse, dense updates' : 'native sparse';
    return { name, width, kind, sparsity, measure, iters: 2, times: [], memory, setupMs };
  };

  const rows: Row[] = [];
  if (haveTorch) rows.push(torchRow(256));
  for (const w of widths) {
    if (haveTorch && w !== 256) rows.push(torchRow(w));
    rows.push(nativeRow(w, 0));
    for (const s of sparsities) rows.push(nativeRow(w, s), nativeRow(w, s, true));
  }
  // calibration: update counts so that each repetition of a row takes about targetMs (even, ≥ 2)
  for (const row of rows) {
    const est = row.measure(2);
    row.iters = Math.max(2, 2 * Math.round(targetMs / est / 2));
    process.stderr.write(`calibrated ${row.name}: ~${est.toFixed(1)} ms/update, ${row.iters} updates per rep\n`);
  }
  for (let r = 0; r < reps; r++) {
    for (const row of rows) row.times.push(row.measure(row.iters));
    process.stderr.write(`rep ${r + 1}/${reps} done\n`);
  }

  const ms = (row: Row) => median(row.times);
  const torch256 = rows.find((r) => r.kind === 'torch' && r.width === 256);
  const ratio = (a: number, b: Row | undefined) => (b ? (a / ms(b)).toFixed(2) : 'n/a');
  console.log(`\nOne TD3 update (batch 256, obs 17, act 6, ${depth} hidden layers), ${threads} threads, median of ${reps} interleaved reps (updates per rep in brackets)`);
  console.log('Memory: one critic network; engine = parameter block (W, b, dW, db, mask) + Adam (m, v) + sparse index as the native engine allocates them; nnz-only = 16 B per active weight or bias (value, gradient, Adam m, v)');
  console.log('| config | ms / update | × PyTorch dense 256-256 | × PyTorch dense same width | × our dense same width | critic MiB (engine) | critic MiB (nnz-only) | agent setup ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const t = ms(row);
    const sameTorch = rows.find((o) => o.kind === 'torch' && o.width === row.width);
    const sameDense = rows.find((o) => o.kind === 'native dense' && o.width === row.width);
    const setup = Number.isNaN(row.setupMs) ? '–' : row.setupMs.toFixed(0);
    console.log(`| ${row.name} [${row.iters}] | ${t.toFixed(2)} | ${ratio(t, torch256)} | ${ratio(t, sameTorch)} | ${ratio(t, sameDense)} | ${mib(row.memory.engineTotal)} | ${mib(row.memory.nnzLowerBound)} | ${setup} |`);
  }
  const target = (width: number, sparsity: number) => {
    const row = rows.find((o) => o.kind === 'native sparse' && o.width === width && Math.abs(o.sparsity - sparsity) < 1e-9);
    if (!row || !torch256) return;
    const x = ms(row) / ms(torch256);
    console.log(`target: ${Math.round(sparsity * 100)} %-sparse ${label(width)} ≤ 1.0× PyTorch dense 256-256: ${x.toFixed(2)}× (${x <= 1 ? 'met' : 'NOT met'})`);
  };
  console.log('');
  target(1024, 0.95);
  target(2048, 0.99);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
