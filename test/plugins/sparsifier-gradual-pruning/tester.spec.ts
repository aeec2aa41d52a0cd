import { describe, expect, it } from 'vitest';
import plugin from '../../../plugins/sparsifier-gradual-pruning/index.js';
import { testSparsifier } from '../../../src/testing/index.js';
import { checkOf, expectEveryRun } from '../../testing/helpers.js';

// Pruned weights keep decaying Adam moments (masks only shrink, so they never matter): `decaying` rule.
describe('sparsifier.gradual-pruning keeps the sparsifier contract (sparse-rl/testing)', () => {
  it('cubic schedule from iteration 5 to 25 (every 5) on TD3 and SAC, native and tfjs: final sparsity reached after the window', async () => {
    const report = await testSparsifier(plugin, {
      options: { actorSparsity: 0.8, criticSparsity: 0.7, startStep: 5, endStep: 25, pruningInterval: 5 }, updates: 30, adamMoments: 'decaying',
    });
    for (const run of expectEveryRun(report)) {
      expect(checkOf(run, 'sparsity').status).toBe('passed');
      expect(run.metrics['pruning/critic_scheduled_sparsity']).toBe(0.7);
      expect(run.maskChanges).toBeGreaterThan(0); // dense at initialize, pruned since
    }
  });

  it('iterative mode (tfjs, SAC)', async () => {
    const report = await testSparsifier(plugin, {
      options: { actorSparsity: 0.9, criticSparsity: 0.9, startStep: 0, endStep: 12, pruningInterval: 4, mode: 'iterative' }, agents: ['sac'], engines: ['tfjs'], updates: 15, adamMoments: 'decaying',
    });
    expectEveryRun(report, ['sac'], ['tfjs']);
  });
});
