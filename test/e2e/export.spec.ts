/**
 * `sparse-rl export` end to end on policies trained through the real bridge (short runs): the
 * quickstart (TD3 + static ERK, InvertedPendulum-v5), and HalfCheetah-v5 runs of the static-ERK,
 * RNM-TD3 1:4, GST and RLx2-SAC recipes. Every export reproduces the run's engine on 1 000
 * observations the policy visits in the real env (max |Δaction| ≤ 1e-5 for ONNX Runtime, the
 * compiled C and the sparse-safetensors round trip), and `eval --policy` on the ONNX and C exports
 * gives the episode returns `eval` gives on the run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvalEnvironment, type Environment } from '../../src/core/environment.js';
import { loadConfig } from '../../src/config/validate.js';
import { compileCPolicy } from '../../src/export/c-runner.js';
import { loadOnnxPolicy } from '../../src/export/onnx.js';
import { loadPolicy, type LoadedPolicy } from '../../src/export/policy-model.js';
import { readSparsePolicy } from '../../src/export/sparse-safetensors.js';
import { RunContainer } from '../../src/plugin/run-container.js';
import { packageRoot } from '../../src/util/paths.js';
import { merge, type Json } from '../helpers/recipe-run.js';

const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const runCli = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

/** A recipe shrunk to `steps` env steps with small networks (the structure of its masks kept). */
function shrunk(recipe: string, overrides: Json, steps = 1500): Json {
  const base = JSON.parse(readFileSync(join(packageRoot(), 'configs', recipe), 'utf8')) as Json;
  delete base.$schema;
  return merge(base, merge({
    totalSteps: steps, evaluation: { interval: steps, episodes: 1 }, checkpoint: { interval: steps }, output: { progress: 'none' }, loggers: [],
    agent: { learningStarts: 500, batchSize: 32, hiddenSizes: [64, 64] },
  }, overrides));
}

const cases: [string, Json][] = [
  ['quickstart (TD3, static ERK 90 %/85 %, InvertedPendulum-v5)', shrunk('../configs/quickstart.json', {}, 1000)],
  ['static ERK 90 % (HalfCheetah-v5)', shrunk('static-erk-td3/halfcheetah-v5.json', {})],
  ['RNM-TD3 1:4 (HalfCheetah-v5)', shrunk('rnm-td3/halfcheetah-v5-1of4.json', { sparsifier: { maskInterval: 200 } })],
  ['GST block-circulant b = 4 (HalfCheetah-v5)', shrunk('gst/halfcheetah-v5.json', { sparsifier: { warmup: 0, pruneInterval: 200 }, evaluation: { interval: 500 } })],
  ['RLx2-SAC (tanh-mean policy, HalfCheetah-v5)', shrunk('rlx2-sac/halfcheetah-v5.json', { sparsifier: { topologyUpdate: { interval: 200, endStep: { actor: 1200, critic: 1200 } } }, replayBuffer: { capacity: 5000, minSize: 300, checkInterval: 500 } })],
];

/** 1 000 observations the run's policy visits on its evaluation env (seeded), `[1000, obsDim]`. */
async function visitedObservations(runDir: string, loaded: LoadedPolicy): Promise<Float32Array> {
  const { config, registry } = await loadConfig(join(runDir, 'config.json'), { crossField: false });
  const run = new RunContainer(config, registry, { evaluationOnly: true });
  try {
    const env = await run.get<Environment>(EvalEnvironment);
    const d = loaded.model.observationSize;
    const out = new Float32Array(1000 * d);
    let o = await env.reset(5);
    for (let t = 0; t < 1000; t++) {
      out.set(o, t * d);
      o = (await env.step(loaded.act(o, 1))).observations;
    }
    return out;
  } finally {
    await run.close();
  }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('export: every format reproduces the trained policy (real MuJoCo through the bridge)', () => {
  for (const [label, config] of cases) {
    describe(label, () => {
      const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-export-'));
      const runDir = join(dir, 'run');
      let loaded: LoadedPolicy;
      let observations: Float32Array;
      let reference: Float32Array;
      beforeAll(async () => {
        writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
        const t = runCli(['train', join(dir, 'config.json'), '--run-dir', runDir]);
        expect(t.status, t.stderr).toBe(0);
        for (const format of ['onnx', 'c', 'sparse-safetensors']) {
          const e = runCli(['export', runDir, '--format', format, '--out', join(dir, 'export')]);
          expect(e.status, e.stderr).toBe(0);
        }
        loaded = await loadPolicy(runDir);
        observations = await visitedObservations(runDir, loaded);
        reference = loaded.act(observations, 1000);
      });
      afterAll(async () => loaded?.close());

      it('ONNX Runtime, the compiled C and the sparse-safetensors model give the engine\'s actions (max |Δ| ≤ 1e-5)', async () => {
        const onnx = await loadOnnxPolicy(join(dir, 'export', 'policy.onnx'));
        const c = await compileCPolicy(join(dir, 'export'));
        try {
          expect(maxAbsDiff(await onnx.act(observations, 1000), reference)).toBeLessThanOrEqual(1e-5);
          expect(maxAbsDiff(await c.act(observations, 1000), reference)).toBeLessThanOrEqual(1e-5);
        } finally {
          await onnx.close();
          await c.close();
        }
        const back = readSparsePolicy(join(dir, 'export', 'policy.sparse.safetensors'));
        expect(back.layers.map((l) => Array.from(l.weight))).toEqual(loaded.model.layers.map((l) => Array.from(l.weight)));
        expect(back.layers.map((l) => Array.from(l.bias))).toEqual(loaded.model.layers.map((l) => Array.from(l.bias)));
      });

      it('eval --policy on the ONNX and the C export gives the episode returns of eval on the run', () => {
        const args = [runDir, '--episodes', '2', '--seed', '9'];
        const run = runCli(['eval', ...args, '--output', join(dir, 'eval-run.json')]);
        expect(run.status, run.stderr).toBe(0);
        const expected = JSON.parse(readFileSync(join(dir, 'eval-run.json'), 'utf8')).returns as number[];
        for (const policy of ['policy.onnx', 'policy.c']) {
          const r = runCli(['eval', ...args, '--policy', join(dir, 'export', policy), '--output', join(dir, `eval-${policy}.json`)]);
          expect(r.status, r.stderr).toBe(0);
          const got = JSON.parse(readFileSync(join(dir, `eval-${policy}.json`), 'utf8'));
          expect(got.policy).toBe(join(dir, 'export', policy));
          got.returns.forEach((v: number, i: number) => expect(v).toBeCloseTo(expected[i], 2));
        }
      });
    });
  }

  it('bad input names the run, the layer or the allowed formats', () => {
    const empty = mkdtempSync(join(tmpdir(), 'sparse-rl-export-bad-'));
    writeFileSync(join(empty, 'config.json'), '{}');
    const noCheckpoint = runCli(['export', empty, '--format', 'onnx']);
    expect(noCheckpoint.status).not.toBe(0);
    expect(noCheckpoint.stderr).toContain(`run ${empty} has no complete checkpoint yet`);
    const typo = runCli(['export', empty, '--format', 'onx']);
    expect(typo.status).not.toBe(0);
    expect(typo.stderr).toContain("Allowed choices are onnx, c, sparse-safetensors");
  });
});
