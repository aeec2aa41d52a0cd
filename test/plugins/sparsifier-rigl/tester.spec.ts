import { describe, expect, it } from 'vitest';
import plugin from '../../../plugins/sparsifier-rigl/index.js';
import { testSparsifier } from '../../../src/testing/index.js';
import { expectEveryRun } from '../../testing/helpers.js';

// RigL keeps the Adam moments of dropped weights (they decay; RLx2's code, docs/methods.md §1.b.10),
// so the moments are checked with the `decaying` rule: exactly 0 where a weight was never active,
// never growing while it stays masked.
describe('sparsifier.rigl keeps the sparsifier contract (sparse-rl/testing)', () => {
  it('topology updates every 10 calls on TD3 and SAC, native and tfjs: sparsity kept, masks moved, targets share them', async () => {
    const report = await testSparsifier(plugin, {
      options: { actorSparsity: 0.8, criticSparsity: 0.7, topologyUpdate: { interval: 10 } }, updates: 40, adamMoments: 'decaying',
    });
    for (const run of expectEveryRun(report)) {
      expect(run.maskChanges).toBeGreaterThan(0);
      expect(run.metrics['topology/critic_mask_change']).toBeGreaterThan(0);
      expect(run.metrics['topology/actor_mask_change']).toBeGreaterThan(0);
    }
  });

  it('random grow without optimizer-state reset, optimizer step kept (tfjs, SAC)', async () => {
    const report = await testSparsifier(plugin, {
      options: { actorSparsity: 0.6, criticSparsity: 0.6, topologyUpdate: { interval: 5, growCriterion: 'random', resetOptimizerStateOnGrow: false, skipOptimizerStep: false, dropFractionSchedule: 'constant' } },
      agents: ['sac'], engines: ['tfjs'], updates: 20, adamMoments: 'decaying',
    });
    const [run] = expectEveryRun(report, ['sac'], ['tfjs']);
    expect(run.maskChanges).toBeGreaterThan(0);
  });
});
