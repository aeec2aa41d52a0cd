/**
 * `npm run bench`: one TD3 update (twin critics + delayed actor + Polyak targets, 256-256 MLPs,
 * batch 256, HalfCheetah dimensions obs 17 / act 6) in our engines and in a PyTorch reference
 * (bench/torch_td3.py, CPU, same thread count), side by side in one run: median of
 * `--reps` (≥ 5) interleaved repetitions. Then end-to-end training env-steps/s on HalfCheetah-v5:
 * ours through the Gymnasium bridge vs the PyTorch loop with an in-process env.
 *
 * Ratios are against PyTorch dense and our own native dense measured in the same run.
 * Usage: node dist/bench/td3-update.js [--reps 5] [--iters 100] [--threads 2] [--no-e2e] [--tfjs]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Td3Agent, type Td3Options } from '../plugins/agent-td3/td3-agent.js';
import { UniformReplayBuffer } from '../plugins/replay-buffer-uniform/uniform-replay-buffer.js';
import { DenseSparsifier } from '../plugins/sparsifier-dense/dense-sparsifier.js';
import { StaticSparsifier } from '../plugins/sparsifier-static/static-sparsifier.js';
import { loadConfig } from '../src/config/validate.js';
import type { BoxSpace } from '../src/core/environment.js';
import type { NetworkGroup } from '../src/core/network-group.js';
import type { SparsifierHooks as Sparsifier } from '../src/core/sparsifier.js';
import type { Engine } from '../src/nn/engine.js';
import { createEngine } from '../src/nn/engines.js';
import { createNativeEngine } from '../src/nn/native-engine.js';
import { RunContainer } from '../src/plugin/run-container.js';
import { nmMask } from '../src/sparse/nm.js';
import { train } from '../src/train/trainer.js';
import { packageRoot } from '../src/util/paths.js';
import { Rng } from '../src/util/rng.js';

const opts = new Command()
  .option('--reps <n>', 'interleaved repetitions', '5')
  .option('--iters <n>', 'updates per repetition', '100')
  .option('--threads <n>', 'threads for every engine', '2')
  .option('--no-e2e', 'skip the end-to-end comparison')
  .option('--tfjs', 'also time the tfjs engine (slow)')
  .parse()
  .opts<{ reps: string; iters: string; threads: string; e2e: boolean; tfjs: boolean }>();
const reps = Number(opts.reps);
const iters = Number(opts.iters);
const threads = Number(opts.threads);
const benchPython = join(packageRoot(), '.venv-bench', 'bin', 'python');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Static N:M masks by magnitude on every layer (the 2:4 / 1:4 rows of the table). */
class NmStatic extends DenseSparsifier {
  constructor(private readonly n: number, private readonly m: number) {
    super();
  }
  override initialize(groups: readonly NetworkGroup[]): void {
    for (const g of groups) {
      g.networks.forEach((net, i) => net.layers.forEach((l, k) => {
        const mask = nmMask(l.weight, l.outFeatures, l.inFeatures, this.n, this.m);
        net.setMask(k, mask);
        g.targets[i]?.setMask(k, mask);
      }));
    }
  }
}

const actionSpace: BoxSpace = { type: 'box', shape: [6], dtype: 'float32', low: Array(6).fill(-1), high: Array(6).fill(1) };
const td3: Td3Options = { hiddenSizes: [256, 256], actorLr: 3e-4, criticLr: 3e-4, weightDecay: 0, batchSize: 256, gamma: 0.99, tau: 0.005, policyNoise: 0.2, noiseClip: 0.5, policyDelay: 2, explorationNoise: 0.1, learningStarts: 0 };

function makeUpdate(engine: Engine, sparsifier: Sparsifier): () => void {
  const agent = new Td3Agent(td3, { observationSize: 17, actionSpace, engine, sparsifier, rng: new Rng(1) });
  const buffer = new UniformReplayBuffer(10000, { observationSize: 17, actionSize: 6 });
  const rng = new Rng(2);
  for (let i = 0; i < 10000; i++) {
    buffer.add({ observation: new Float32Array(17).map(() => rng.normal()), action: new Float32Array(6).map(() => rng.uniformRange(-1, 1)), reward: rng.normal(), nextObservation: new Float32Array(17).map(() => rng.normal()), terminated: false, truncated: false });
  }
  for (let i = 0; i < 10; i++) agent.update(buffer);
  return () => agent.update(buffer);
}

function timeIt(fn: () => void, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

function torchUpdate(): number {
  const out = execFileSync(benchPython, [join(packageRoot(), 'bench', 'torch_td3.py'), 'update', '--iters', String(iters), '--blocks', '1', '--threads', String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out.trim().split('\n').pop()!).ms_per_update as number;
}

async function main() {
  const haveTorch = existsSync(benchPython);
  if (!haveTorch) console.log('PyTorch reference missing: run `npm run bench:setup` (creates .venv-bench with torch from PyPI). Continuing without it.');
  const native = await createEngine({ engine: 'native', backend: 'auto', threads });
  // the same masks computed with the dense kernels (W ⊙ M), i.e. what masked-only sparsity costs
  const maskedOnly = createNativeEngine({ threads, sparseDensityThreshold: 0 });
  const erk = () => new StaticSparsifier({ actorSparsity: 0.9, criticSparsity: 0.9, sparsityDistribution: 'erdos-renyi-kernel', maskInit: 'random' });
  const rows: [string, () => void][] = [
    ['native dense', makeUpdate(native, new DenseSparsifier())],
    ['native 90% ERK (unstructured)', makeUpdate(native, erk())],
    ['native 2:4', makeUpdate(native, new NmStatic(2, 4))],
    ['native 1:4', makeUpdate(native, new NmStatic(1, 4))],
    ['native 90% ERK, masked-dense kernels (masked-only)', makeUpdate(maskedOnly, erk())],
  ];
  if (opts.tfjs) {
    const tfjs = await createEngine({ engine: 'tfjs', backend: 'auto', threads });
    rows.push([`${tfjs.description} dense`, makeUpdate(tfjs, new DenseSparsifier())]);
  }
  const times = new Map<string, number[]>([['PyTorch dense', []], ...rows.map(([k]) => [k, []] as [string, number[]])]);
  for (let r = 0; r < reps; r++) {
    if (haveTorch) times.get('PyTorch dense')!.push(torchUpdate());
    for (const [name, fn] of rows) times.get(name)!.push(timeIt(fn, name.startsWith('tfjs') ? Math.max(3, iters / 20) : iters));
    process.stderr.write(`rep ${r + 1}/${reps} done\n`);
  }
  const torchMs = haveTorch ? median(times.get('PyTorch dense')!) : NaN;
  const denseMs = median(times.get('native dense')!);
  console.log(`\nOne TD3 update (256-256, batch 256, obs 17, act 6), ${threads} threads, median of ${reps} interleaved reps × ${iters} updates`);
  console.log('| engine | ms / update | × PyTorch dense | × our dense |');
  console.log('|---|---|---|---|');
  for (const [name, ts] of times) {
    if (!ts.length) continue;
    const ms = median(ts);
    console.log(`| ${name} | ${ms.toFixed(2)} | ${(ms / torchMs).toFixed(2)} | ${(ms / denseMs).toFixed(2)} |`);
  }

  if (!opts.e2e) return;
  // end to end: our trainer through the bridge vs PyTorch loop with in-process env
  const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-bench-'));
  const cfgFile = join(dir, 'bench.json');
  const warmup = 1000;
  const steps = 3000;
  writeFileSync(cfgFile, JSON.stringify({
    name: 'bench-e2e', seed: 1, totalSteps: warmup + steps,
    environment: { type: 'gymnasium', id: 'HalfCheetah-v5' }, agent: { type: 'td3', learningStarts: warmup },
    evaluation: { interval: 1_000_000, episodes: 1 }, checkpoint: { interval: 1_000_000 },
    runtime: { engine: 'native', threads }, output: { progress: 'none' },
  }));
  const ours: Record<'overlap' | 'sequential', number[]> = { overlap: [], sequential: [] };
  const theirs: number[] = [];
  for (let r = 0; r < Math.min(reps, 3); r++) {
    if (haveTorch) {
      const out = execFileSync(benchPython, [join(packageRoot(), 'bench', 'torch_td3.py'), 'e2e', '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      theirs.push(JSON.parse(out.trim().split('\n').pop()!).steps_per_second);
    }
    for (const mode of ['overlap', 'sequential'] as const) {
      const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
      cfg.runtime.overlapEnvStep = mode === 'overlap';
      const modeFile = join(dir, `bench-${mode}.json`);
      writeFileSync(modeFile, JSON.stringify(cfg));
      const { config, registry } = await loadConfig(modeFile);
      const runDir = join(dir, `run${r}-${mode}`);
      await train(new RunContainer(config, registry), { runDir });
      const sps = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.step > warmup + 1000 && 'time/steps_per_second' in m).map((m) => m['time/steps_per_second'] as number);
      ours[mode].push(median(sps));
    }
  }
  console.log(`\nEnd-to-end TD3 training on HalfCheetah-v5 (after ${warmup} warm-up steps), env steps/s, median of ${ours.overlap.length} reps`);
  console.log('| loop | steps/s | × PyTorch |');
  console.log('|---|---|---|');
  const t = haveTorch ? median(theirs) : NaN;
  if (haveTorch) console.log(`| PyTorch, in-process env | ${t.toFixed(0)} | 1.00 |`);
  for (const mode of ['overlap', 'sequential'] as const) {
    const v = median(ours[mode]);
    console.log(`| sparse-rl native dense, bridge, ${mode === 'overlap' ? 'env step overlapped with updates' : 'sequential'} | ${v.toFixed(0)} | ${(v / t).toFixed(2)} |`);
  }
}

await main();
