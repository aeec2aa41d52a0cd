/**
 * Exported-policy benchmark (`npm run bench:export`): batch-1 inference latency — what a robot's
 * control loop pays per action — and model bytes of HalfCheetah-v5 TD3 actors (17 → 256 → 256 → 6)
 * built from the recipes `dense-td3`, `static-erk-td3` (90 % ERK actor), `rnm-td3` 1:4 and `gst`
 * (block size 4, every block circulant at initialisation), on three runtimes:
 *
 * - `engine`: the run's own engine (`agent.act(obs, 1, true)` + action scaling, as `eval` does);
 * - `onnx-runtime`: ONNX Runtime (onnxruntime-node) on the exported `policy.onnx`;
 * - `c -O2`: the exported `policy.c` compiled with gcc -O2, timed inside C (`benchCPolicy`).
 *
 * Latency is per call, the median over `--reps` repetitions in which every actor and runtime is
 * measured in turn (interleaved, same machine load). Bytes: the C export's weights + indices +
 * biases against the dense float32 actor, and the ONNX file. The last lines print the targets:
 * the 90 % ERK C export ≤ 0.2× the dense float32 bytes, and ≥ 3× faster than the dense C export
 * and than ONNX Runtime on the dense model.
 *
 * Usage: npm run bench:export -- [--reps 7] [--calls 20000]
 */
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../src/core/agent.js';
import { environmentSpecOf, type BoxSpace } from '../src/core/environment.js';
import { loadConfig } from '../src/config/validate.js';
import { benchCPolicy } from '../src/export/c-runner.js';
import { writeCPolicy } from '../src/export/c-export.js';
import { loadOnnxPolicy, writeOnnxPolicy } from '../src/export/onnx.js';
import { policyModelOf, type PolicyModel } from '../src/export/policy-model.js';
import { RunContainer } from '../src/plugin/run-container.js';
import { ActionScaler } from '../src/train/rollout.js';
import { packageRoot } from '../src/util/paths.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '7' }, calls: { type: 'string', default: '20000' } } });
const reps = Number(values.reps);
const calls = Number(values.calls);

const OBS = 17;
const ACT = 6;
const observationSpace = { type: 'box', shape: [OBS], dtype: 'float64', low: Array(OBS).fill(-Infinity), high: Array(OBS).fill(Infinity) } as const;
const actionSpace: BoxSpace = { type: 'box', shape: [ACT], dtype: 'float32', low: Array(ACT).fill(-1), high: Array(ACT).fill(1) };
const actors: [string, string, string[]][] = [
  ['dense', 'dense-td3/halfcheetah-v5.json', []],
  ['erk-90%', 'static-erk-td3/halfcheetah-v5.json', ['sparsifier.actorSparsity=0.9']],
  ['nm-1:4', 'rnm-td3/halfcheetah-v5-1of4.json', []],
  ['gst-b4', 'gst/halfcheetah-v5.json', []],
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const work = mkdtempSync(join(tmpdir(), 'sparse-rl-bench-export-'));
const rng = new Rng(7);
const inputs = Float32Array.from({ length: 64 * OBS }, () => rng.normal());

interface Entry {
  readonly label: string;
  readonly model: PolicyModel;
  readonly engineAct: (o: Float32Array) => Float32Array;
  readonly dir: string;
  readonly onnx: Awaited<ReturnType<typeof loadOnnxPolicy>>;
  readonly cBytes: number;
  readonly denseBytes: number;
  readonly onnxBytes: number;
  readonly samples: Record<'engine' | 'onnx-runtime' | 'c -O2', number[]>;
}

const entries: Entry[] = [];
for (const [label, recipe, overrides] of actors) {
  const { config, registry } = await loadConfig(join(packageRoot(), 'configs', recipe), { overrides, crossField: false });
  const run = new RunContainer(config, registry, { environmentSpec: environmentSpecOf('HalfCheetah-v5', observationSpace, actionSpace, 1) });
  const agent = await run.get<Agent>(Agent);
  const model = policyModelOf(agent, config, 'HalfCheetah-v5', observationSpace, actionSpace, { runDir: '-', checkpoint: '-', step: 0, agent: config.agent.type, sparsifier: config.sparsifier.type, name: config.name });
  const dir = join(work, label);
  const { report } = writeCPolicy(model, dir);
  writeOnnxPolicy(model, join(dir, 'policy.onnx'));
  const scaler = new ActionScaler(actionSpace);
  entries.push({
    label, model, dir, engineAct: (o) => scaler.toEnv(agent.act(o, 1, true)),
    onnx: await loadOnnxPolicy(join(dir, 'policy.onnx')), cBytes: report.totalBytes, denseBytes: report.denseBytes,
    onnxBytes: statSync(join(dir, 'policy.onnx')).size, samples: { engine: [], 'onnx-runtime': [], 'c -O2': [] },
  });
}

/** Mean ns per call of `calls` batch-1 calls cycling through 64 observations. */
async function timeJs(act: (o: Float32Array) => Float32Array | Promise<Float32Array>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await act(inputs.subarray((i % 64) * OBS, (i % 64 + 1) * OBS));
  return Number(process.hrtime.bigint() - t0) / calls;
}

for (const e of entries) await timeJs(e.engineAct); // warm-up (JIT)
for (let r = 0; r < reps; r++) {
  for (const e of entries) {
    e.samples.engine.push(await timeJs(e.engineAct));
    e.samples['onnx-runtime'].push(await timeJs((o) => e.onnx.act(o, 1)));
    e.samples['c -O2'].push((await benchCPolicy(e.dir, calls)).nsPerCall);
  }
}

const us = (ns: number) => (ns / 1000).toFixed(2);
console.log(`batch-1 inference of HalfCheetah-v5 TD3 actors (17-256-256-6), µs per call, median of ${reps} interleaved repetitions x ${calls} calls`);
console.log('| actor | density | engine | onnx-runtime | c -O2 | C bytes | dense float32 bytes | C / dense bytes | ONNX bytes |');
console.log('|---|---|---|---|---|---|---|---|---|');
const med = (e: Entry, k: keyof Entry['samples']) => median(e.samples[k]);
for (const e of entries) {
  const active = e.model.layers.reduce((a, l) => a + l.activeWeights, 0);
  const total = e.model.layers.reduce((a, l) => a + l.weight.length, 0);
  console.log(`| ${e.label} | ${(active / total).toFixed(3)} | ${us(med(e, 'engine'))} | ${us(med(e, 'onnx-runtime'))} | ${us(med(e, 'c -O2'))} | ${e.cBytes} | ${e.denseBytes} | ${(e.cBytes / e.denseBytes).toFixed(3)} | ${e.onnxBytes} |`);
}
const [dense, erk] = [entries[0], entries[1]];
console.log(`\ntargets (90 % ERK actor):`);
console.log(`  C bytes / dense float32 bytes = ${(erk.cBytes / erk.denseBytes).toFixed(3)} (target <= 0.2)`);
console.log(`  dense C / ERK C latency = ${(med(dense, 'c -O2') / med(erk, 'c -O2')).toFixed(2)}x (target >= 3)`);
console.log(`  ONNX Runtime dense / ERK C latency = ${(med(dense, 'onnx-runtime') / med(erk, 'c -O2')).toFixed(2)}x (target >= 3)`);
for (const e of entries) await e.onnx.close();
process.exit(0);
