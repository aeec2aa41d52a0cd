import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry } from '../../src/plugin/plugin-registry.js';
import { runRecipe, type Json } from '../helpers/recipe-run.js';

/**
 * The evaluation protocol of Fujimoto's TD3 `main.py`, RLx2 and DS-TD3: the evaluation env is
 * reset with seed + 100 at EVERY evaluation (they re-create it each time), and the untrained
 * policy is evaluated at step 0. Real Hopper-v5 through the bridge; a Python subclass appends the
 * seed of every reset to a file, so the test reads the seeds the env actually received.
 */
const fixtures = resolve('test/plugins/environment-gymnasium/fixtures');
let saved: string | undefined;
beforeAll(() => {
  saved = process.env.PYTHONPATH;
  process.env.PYTHONPATH = saved ? `${fixtures}${delimiter}${saved}` : fixtures;
});
afterAll(() => {
  if (saved === undefined) delete process.env.PYTHONPATH;
  else process.env.PYTHONPATH = saved;
});

async function run(evaluation: Json): Promise<{ seeds: string[]; evals: Json[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-eval-protocol-'));
  const log = join(dir, 'resets.txt');
  const registry = await PluginRegistry.load([]);
  const { records } = await runRecipe(registry, {
    name: 'eval-protocol', seed: 3, totalSteps: 600, output: { progress: 'none', dir },
    // the train env logs to the same file: its seeds (3, then None) are told apart from the eval env's (103)
    environment: { type: 'gymnasium', id: 'seed_log_env:SeedLogHopper-v0', kwargs: { log } },
    agent: { type: 'td3', learningStarts: 100, batchSize: 16, hiddenSizes: [16, 16] },
    sparsifier: { type: 'static', actorSparsity: 0.5, criticSparsity: 0.5 }, replayBuffer: { type: 'uniform', capacity: 1000 },
    evaluation: { interval: 200, episodes: 2, ...evaluation }, checkpoint: { interval: 600 },
  }, 'eval-protocol');
  const seeds = readFileSync(log, 'utf8').trim().split('\n');
  return { seeds, evals: records.filter((r) => 'eval/mean_return' in r) };
}

describe('evaluation protocol (real Hopper-v5 through the bridge)', () => {
  it('default: the eval env is reset with seed + seedOffset at every evaluation, and step 0 is evaluated', async () => {
    const { seeds, evals } = await run({});
    expect(evals.map((r) => r.step)).toEqual([0, 200, 400, 600]);
    // one seeded reset per evaluation (step 0, 200, 400, 600), each with 3 + 100
    expect(seeds.filter((s) => s === '103')).toHaveLength(4);
    expect(seeds.filter((s) => s === '3')).toHaveLength(1); // the training env: seeded once
  });

  it('reseed "first" and atStart false keep the previous protocol: one seeded reset, no step-0 evaluation', async () => {
    const { seeds, evals } = await run({ reseed: 'first', atStart: false });
    expect(evals.map((r) => r.step)).toEqual([200, 400, 600]);
    expect(seeds.filter((s) => s === '103')).toHaveLength(1);
  });
});
