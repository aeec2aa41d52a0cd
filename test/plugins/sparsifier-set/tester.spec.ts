import { describe, expect, it } from 'vitest';
import plugin from '../../../plugins/sparsifier-set/index.js';
import { testSparsifier } from '../../../src/testing/index.js';
import { checkOf, expectEveryRun } from '../../testing/helpers.js';

// SET keeps the Adam moments of dropped weights (they decay, docs/methods.md §2.h.2): `decaying` rule.
describe('sparsifier.set keeps the sparsifier contract (sparse-rl/testing)', () => {
  it('adaptations every 10 iterations on TD3 and SAC, native and tfjs, targets with their own top-|w| masks', async () => {
    const report = await testSparsifier(plugin, { options: { lambdas: [2, 4], interval: 10 }, updates: 40, adamMoments: 'decaying' });
    for (const run of expectEveryRun(report)) {
      expect(checkOf(run, 'targets').detail).toMatch(/'own'/);
      expect(run.maskChanges).toBeGreaterThan(0);
      expect(run.metrics['sparsity/actor']).toBeGreaterThan(0.5);
      expect(run.metrics['topology/critic_grown']).toBeGreaterThan(0);
    }
  });

  it('targets sharing the online masks (targetMode shared; tfjs, TD3 and SAC)', async () => {
    const report = await testSparsifier(plugin, { options: { lambdas: [2, 4], interval: 10, targetMode: 'shared' }, engines: ['tfjs'], updates: 30, adamMoments: 'decaying' });
    for (const run of expectEveryRun(report, ['td3', 'sac'], ['tfjs'])) expect(checkOf(run, 'targets').detail).toMatch(/'online'/);
  });
});
