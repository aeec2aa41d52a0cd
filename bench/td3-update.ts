/**
 * `npm run bench`: one TD3 update (twin critics + delayed actor + Polyak targets, 256-256 MLPs,
 * batch 256, HalfCheetah dimensions obs 17 / act 6) in our engines and in a PyTorch reference
 * (bench/torch_td3.py, CPU, same thread count), side by side in one run: median of
 * `--reps` (≥ 5) interleaved repetitions. Then end-to-end training env steps/s on HalfCheetah-v5
 * of the method recipes (dense, static ERK, RLx2-TD3, RNM-TD3 1:4, GST, dense SAC, RLx2-SAC) run by
 * the CLI through the Gymnasium bridge, against our dense loop and the PyTorch TD3 / SAC loops
 * (bench/torch_td3.py, bench/torch_sac.py) with an in-process env, with each row's wall time per
 * env step split into gradient updates and the rest (`time/*` metrics of the run).
 *
 * Ratios are against PyTorch dense and our own native dense measured in the same run.
 * Usage: node dist/bench/td3-update.js [--reps 5] [--iters 100] [--threads 2] [--no-e2e] [--e2e-reps 5] [--transport ipc] [--tfjs]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Td3Agent, type Td3Options } from '../plugins/agent-td3/td3-agent.js';
import { UniformReplayBuffer } from '../plugins/replay-buffer-uniform/uniform-replay-buffer.js';
import { DenseSparsifier } from '../plugins/sparsifier-dense/dense-sparsifier.js';
import { StaticSparsifier } from '../plugins/sparsifier-static/static-sparsifier.js';
import type { BoxSpace } from '../src/core/environment.js';
import type { NetworkGroup } from '../src/core/network-group.js';
import type { SparsifierHooks as Sparsifier } from '../src/core/sparsifier.js';
import type { Engine } from '../src/nn/engine.js';
import { createEngine } from '../src/nn/engines.js';
import { createNativeEngine } from '../src/nn/native-engine.js';
import { nmMask } from '../src/sparse/nm.js';
import { packageRoot } from '../src/util/paths.js';
import { Rng } from '../src/util/rng.js';

const opts = new Command()
  .option('--reps <n>', 'interleaved repetitions', '5')
  .option('--iters <n>', 'updates per repetition', '100')
  .option('--threads <n>', 'threads for every engine', '2')
  .option('--no-e2e', 'skip the end-to-end comparison')
  .option('--e2e-reps <n>', 'interleaved repetitions of the end-to-end rows', '5')
  .option('--transport <t>', 'bridge transport of the end-to-end rows: ipc (default of a run), unix or tcp', 'ipc')
  .option('--tfjs', 'also time the tfjs engine (slow)')
  .parse()
  .opts<{ reps: string; iters: string; threads: string; e2e: boolean; e2eReps: string; transport: string; tfjs: boolean }>();
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
  await endToEnd(haveTorch);
}

/**
 * One end-to-end row: a recipe of `configs/` run by the CLI (`sparse-rl train FILE --set …`) on
 * HalfCheetah-v5 through the bridge, with the bench window's overrides on top of {@link E2E_COMMON}.
 */
interface E2eRow {
  readonly label: string;
  readonly recipe: string;
  readonly set: readonly string[];
  /** The PyTorch loop this row is compared with. */
  readonly reference: 'td3' | 'sac';
}

const E2E_WARMUP = 1000;
/** Steps per 1000-step window measured: every window after the first learning one. */
const E2E_STEPS = 4000;
/**
 * Topology updates, mask updates, pruning steps and buffer checks every 1000 env steps (the
 * recipes' 10 000 scaled by 1/10, as a 300 000-step run of a 3 M-step recipe has them), the
 * n-step target on from the first update: every mechanism of a method runs inside the window.
 */
const WINDOW = 1000;
const E2E_COMMON = [
  `totalSteps=${E2E_WARMUP + E2E_STEPS}`, `agent.learningStarts=${E2E_WARMUP}`, 'evaluation.interval=1000000', 'evaluation.episodes=1',
  'evaluation.atStart=false', 'checkpoint.interval=1000000', 'output.progress=none', 'runtime.engine=native', `runtime.threads=${threads}`,
  ...(opts.transport === 'ipc' ? [] : [`environment.transport=${opts.transport}`]),
];
const rlx2Window = [`sparsifier.topologyUpdate.interval=${WINDOW}`, 'agent.nStep.delayIterations=0', `replayBuffer.checkInterval=${WINDOW}`, `replayBuffer.minSize=${WINDOW}`];
const E2E_ROWS: readonly E2eRow[] = [
  { label: 'dense TD3', recipe: 'dense-td3/halfcheetah-v5.json', set: ['replayBuffer.capacity=100000'], reference: 'td3' },
  { label: 'static ERK 90 % (actor and critic)', recipe: 'static-erk-td3/halfcheetah-v5.json', set: ['sparsifier.criticSparsity=0.9', 'replayBuffer.capacity=100000'], reference: 'td3' },
  { label: 'RLx2-TD3 recipe (90/85 %, n-step, dynamic buffer)', recipe: 'rlx2-td3/halfcheetah-v5.json', set: [...rlx2Window, 'replayBuffer.capacity=100000'], reference: 'td3' },
  { label: 'RNM-TD3 1:4', recipe: 'rnm-td3/halfcheetah-v5-1of4.json', set: [`sparsifier.maskInterval=${WINDOW}`, 'replayBuffer.capacity=100000'], reference: 'td3' },
  { label: 'GST (block-circulant, block pruning)', recipe: 'gst/halfcheetah-v5.json', set: [`sparsifier.pruneInterval=${WINDOW}`, `sparsifier.warmup=${WINDOW}`, 'replayBuffer.capacity=100000'], reference: 'td3' },
  { label: 'dense SAC', recipe: 'rlx2-sac/halfcheetah-v5.json', set: ['sparsifier={"type":"dense"}', 'replayBuffer={"type":"uniform","capacity":100000}', 'agent.nStep={"n":1}'], reference: 'sac' },
  { label: 'RLx2-SAC recipe (90/80 %, n-step, dynamic buffer)', recipe: 'rlx2-sac/halfcheetah-v5.json', set: [...rlx2Window, 'replayBuffer.capacity=100000'], reference: 'sac' },
];

/** Figures of one end-to-end run over its measured windows. */
interface E2eRun {
  stepsPerSecond: number;
  updateMs: number;
  nonUpdateMs: number;
}

/** Trains one row with the CLI and reads its timing metrics (`time/*`, every 1000 env steps). */
function runRow(row: E2eRow, dir: string, rep: number): E2eRun {
  const runDir = join(dir, `row${E2E_ROWS.indexOf(row)}-rep${rep}`); // two rows may share a recipe
  const set = [...E2E_COMMON, ...row.set].flatMap((o) => ['--set', o]);
  execFileSync(process.execPath, [join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), 'train', join(packageRoot(), 'configs', row.recipe), ...set, '--run-dir', runDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const windows = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>)
    .filter((m) => m.step > E2E_WARMUP + 1000 && 'time/steps_per_second' in m);
  const mean = (key: string) => windows.reduce((a, m) => a + m[key], 0) / windows.length;
  // equal-size windows: steps/s over all of them is the harmonic mean of the windows' rates
  if (windows.length === 0) throw new Error(`${row.label}: no timed window in ${runDir}/metrics.jsonl`);
  return { stepsPerSecond: windows.length / windows.reduce((a, m) => a + 1 / m['time/steps_per_second'], 0), updateMs: mean('time/update_ms_per_step'), nonUpdateMs: mean('time/non_update_ms_per_step') };
}

/** PyTorch loop (in-process env) env steps/s. */
function torchE2e(algo: 'td3' | 'sac'): number {
  const out = execFileSync(benchPython, [join(packageRoot(), 'bench', `torch_${algo}.py`), 'e2e', '--steps', String(E2E_STEPS), '--warmup', String(E2E_WARMUP), '--threads', String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out.trim().split('\n').pop()!).steps_per_second as number;
}

/**
 * End to end on HalfCheetah-v5: env steps/s of each recipe row through the bridge against our
 * dense loop of the same agent and the PyTorch loop, interleaved (every repetition runs every row
 * once), medians over repetitions; plus the wall time per env step outside the gradient updates.
 */
async function endToEnd(haveTorch: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-bench-'));
  const e2eReps = Number(opts.e2eReps);
  const ours = new Map<E2eRow, E2eRun[]>(E2E_ROWS.map((r) => [r, []]));
  const theirs: Record<'td3' | 'sac', number[]> = { td3: [], sac: [] };
  for (let r = 0; r < e2eReps; r++) {
    if (haveTorch) for (const algo of ['td3', 'sac'] as const) theirs[algo].push(torchE2e(algo));
    for (const row of E2E_ROWS) ours.get(row)!.push(runRow(row, dir, r));
    process.stderr.write(`end-to-end rep ${r + 1}/${e2eReps} done\n`);
  }
  const med = (runs: E2eRun[], key: keyof E2eRun) => median(runs.map((x) => x[key]));
  const dense = { td3: med(ours.get(E2E_ROWS[0])!, 'stepsPerSecond'), sac: med(ours.get(E2E_ROWS.find((r) => r.label === 'dense SAC')!)!, 'stepsPerSecond') };
  const torch = { td3: haveTorch ? median(theirs.td3) : NaN, sac: haveTorch ? median(theirs.sac) : NaN };
  console.log(`\nEnd to end on HalfCheetah-v5 through the bridge (${opts.transport} transport, numEnvs 1, env step overlapped with the updates), ${threads} threads: ${E2E_WARMUP} warm-up + ${E2E_STEPS} training steps, the first 1000 training steps not timed; median of ${e2eReps} interleaved reps`);
  console.log('Bench window: topology / mask / pruning updates and buffer checks every 1000 env steps, n-step target from the first update (commands below).');
  console.log('| loop | env steps/s | × our dense | × PyTorch dense | update ms / step | non-update ms / step |');
  console.log('|---|---|---|---|---|---|');
  for (const algo of ['td3', 'sac'] as const) if (haveTorch) console.log(`| PyTorch ${algo.toUpperCase()} dense, in-process env | ${torch[algo].toFixed(0)} | ${(torch[algo] / dense[algo]).toFixed(2)} | 1.00 | | |`);
  for (const row of E2E_ROWS) {
    const runs = ours.get(row)!;
    const sps = med(runs, 'stepsPerSecond');
    console.log(`| sparse-rl ${row.label} | ${sps.toFixed(0)} | ${(sps / dense[row.reference]).toFixed(2)} | ${(sps / torch[row.reference]).toFixed(2)} | ${med(runs, 'updateMs').toFixed(2)} | ${med(runs, 'nonUpdateMs').toFixed(3)} |`);
  }
  console.log('\nCommands (`npx sparse-rl train configs/RECIPE …`):');
  for (const row of E2E_ROWS) console.log(`- ${row.label}: ${row.recipe} ${[...E2E_COMMON, ...row.set].map((o) => `--set '${o}'`).join(' ')}`);
}

await main();
