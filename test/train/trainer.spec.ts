import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runRecipe } from '../helpers/recipe-run.js';
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
