import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runRecipe, withoutWallClock } from '../helpers/recipe-run.js';
import { PluginRegistry } from '../../src/plugin/plugin-registry.js';

describe('the training loop hears training contributions bound by plugins (real MuJoCo through the bridge)', () => {
  it('onStart, onStep (metrics logged), onEvaluation and onEnd run; injected services reach the plugin', async () => {
    const registry = await PluginRegistry.load([resolve('test/fixtures/plugins/sparsifier-probed.ts')]);
    const { records, summary } = await runRecipe(registry, {
      name: 'contribution', seed: 2, totalSteps: 200, output: { progress: 'none', dir: mkdtempSync(join(tmpdir(), 'sparse-rl-contrib-')) },
      environment: { type: 'gymnasium', id: 'InvertedPendulum-v5' },
      agent: { type: 'td3', learningStarts: 50, batchSize: 16, hiddenSizes: [16, 16] },
      sparsifier: { type: 'probed', every: 50 }, replayBuffer: { type: 'uniform', capacity: 1000 },
      evaluation: { interval: 100, episodes: 1 }, checkpoint: { interval: 200 },
    }, 'contribution');
    const probes = records.filter((r) => 'probe/active_weights' in r);
    expect(probes.map((r) => r.step)).toEqual([50, 100, 150, 200]);
    // evaluation at 100 happens after the step's probe: the probe at 150 has seen one evaluation
    expect(probes.map((r) => r['probe/evaluations'])).toEqual([0, 0, 1, 1]);
    // hidden layers half masked (the seeded `probe` stream), first layers dense
    expect(probes[0]['probe/active_weights']).toBeLessThan(3 * 16 * 16 + 16 * 4 + 16 * 5 + 16 + 16 + 16);
    expect(summary.steps).toBe(200);
  });
});

describe('a bridge restarted after a crash stays reproducible (real MuJoCo; the env dies once, deterministically)', () => {
  it('two identical runs with one induced restart log identical metrics, env/restarts and metadata.restarts', async () => {
    const fixtures = resolve('test/plugins/environment-gymnasium/fixtures');
    const saved = process.env.PYTHONPATH;
    process.env.PYTHONPATH = saved ? `${fixtures}${delimiter}${saved}` : fixtures;
    try {
      const registry = await PluginRegistry.load([]);
      const markers = mkdtempSync(join(tmpdir(), 'sparse-rl-restart-'));
      const once = (tag: string) => runRecipe(registry, {
        name: 'restart', seed: 4, totalSteps: 1200, output: { progress: 'none' },
        environment: { type: 'gymnasium', id: 'crash_once_env:CrashOnceHalfCheetah-v0', kwargs: { crash_at: 700, marker: join(markers, tag) }, restartOnCrash: true, maxRestarts: 1 },
        agent: { type: 'td3', learningStarts: 200, batchSize: 16, hiddenSizes: [16, 16] },
        sparsifier: { type: 'static', actorSparsity: 0.5, criticSparsity: 0.5 }, replayBuffer: { type: 'uniform', capacity: 2000 },
        evaluation: { interval: 1200, episodes: 1, atStart: false }, checkpoint: { interval: 1200 }, // the train env reaches its 700th step first (a step-0 evaluation would crash the eval env first)
      }, 'restart');
      const [a, b] = [await once('a'), await once('b')];
      const learning = withoutWallClock;
      expect(learning(b.records)).toEqual(learning(a.records));
      expect(a.records.filter((r) => 'env/restarts' in r)).toEqual([expect.objectContaining({ 'env/restarts': 1 })]);
      const meta = JSON.parse(readFileSync(join(a.runDir, 'metadata.json'), 'utf8'));
      expect(meta.restarts).toEqual([expect.objectContaining({ role: 'train', count: 1, seed: expect.any(Number) })]);
      expect(meta.restarts[0].seed).toBe(JSON.parse(readFileSync(join(b.runDir, 'metadata.json'), 'utf8')).restarts[0].seed);
    } finally {
      if (saved === undefined) delete process.env.PYTHONPATH;
      else process.env.PYTHONPATH = saved;
    }
  });
});
