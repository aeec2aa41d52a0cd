import { describe, expect, it } from 'vitest';
import plugin from '../../../plugins/sparsifier-static/index.js';
import { testSparsifier } from '../../../src/testing/index.js';
import { checkOf, expectEveryRun } from '../../testing/helpers.js';

describe('sparsifier.static keeps the sparsifier contract (sparse-rl/testing)', () => {
  it('ERK random masks on TD3 and SAC, native and tfjs: declared sparsity, zero masked weights and moments, fixed masks', async () => {
    const report = await testSparsifier(plugin, { options: { actorSparsity: 0.8, criticSparsity: 0.7 } });
    for (const run of expectEveryRun(report)) {
      expect(checkOf(run, 'sparsity').status).toBe('passed');
      expect(run.metrics['sparsity/actor']).toBeCloseTo(0.8, 2);
      expect(run.metrics['sparsity/critic']).toBeCloseTo(0.7, 2);
      expect(run.maskChanges).toBe(0); // static: the masks never move
    }
  });

  it('uniform distribution with magnitude init (tfjs, TD3)', async () => {
    const report = await testSparsifier(plugin, {
      options: { actorSparsity: 0.5, criticSparsity: 0.9, sparsityDistribution: 'uniform', maskInit: 'magnitude' }, agents: ['td3'], engines: ['tfjs'], updates: 10,
    });
    const [run] = expectEveryRun(report, ['td3'], ['tfjs']);
    expect(run.metrics['sparsity/critic']).toBeCloseTo(0.9, 2);
  });
});
