import { describe, expect, it } from 'vitest';
import plugin from '../../../plugins/sparsifier-gst/index.js';
import { testSparsifier } from '../../../src/testing/index.js';
import { checkOf, expectEveryRun } from '../../testing/helpers.js';

// Pruned blocks keep decaying Adam moments: `decaying` rule. GST declares a block sparsity, not a
// weight sparsity: partial edge blocks (11 inputs, 3 and 1 outputs, b = 4) make the weight
// fraction differ from it by up to a few percent, so (a) gets a tolerance and the block sparsity
// of every layer is asserted exactly from the gst/block_sparsity/* metrics.
describe('sparsifier.gst keeps the sparsifier contract (sparse-rl/testing)', () => {
  it('linear ramp to block sparsity 0.5 by iteration 20, pruning every 5, on TD3 and SAC, native (FFT kernels) and tfjs', async () => {
    const report = await testSparsifier(plugin, {
      options: { controller: 'linear-ramp', warmup: 0, rampEnd: 20, maxSparsity: 0.5, pruneInterval: 5 }, updates: 30,
      expectSparsity: { actor: 0.5, critic: 0.5 }, sparsityTolerance: 0.02, adamMoments: 'decaying',
    });
    for (const run of expectEveryRun(report)) {
      expect(run.metrics['gst/target_sparsity']).toBe(0.5);
      expect(run.maskChanges).toBeGreaterThan(0);
      const blocks = Object.entries(run.metrics).filter(([k]) => k.startsWith('gst/block_sparsity/'));
      expect(blocks.length).toBeGreaterThan(0);
      // every layer has an even block count (b = 4: 8×3, 8×8, 1×8 actor; 8×4, 8×8, 1×8 critic), so exactly half its blocks go
      for (const [k, v] of blocks) expect(v, k).toBe(0.5);
    }
  });

  it('reward-aware controller raised by improving evaluations (every 5 updates; tfjs, TD3 and SAC)', async () => {
    const report = await testSparsifier(plugin, {
      options: { warmup: 0, increase: 0.1, pruneInterval: 5 }, engines: ['tfjs'], updates: 30, evaluateEvery: 5, adamMoments: 'decaying',
    });
    for (const run of expectEveryRun(report, ['td3', 'sac'], ['tfjs'])) {
      expect(run.metrics['gst/raises']).toBeGreaterThan(0);
      expect(checkOf(run, 'sparsity').status).toBe('not-applicable');
      expect(run.maskChanges).toBeGreaterThan(0);
    }
  });
});
