import { describe, expect, it } from 'vitest';
import plugin from '../../../plugins/sparsifier-dense/index.js';
import { testSparsifier } from '../../../src/testing/index.js';
import { checkOf, expectEveryRun } from '../../testing/helpers.js';

describe('sparsifier.dense keeps the sparsifier contract (sparse-rl/testing)', () => {
  it('TD3 and SAC, native and tfjs: no masks anywhere (sparsity 0), state {} round-trips, deterministic', async () => {
    const report = await testSparsifier(plugin, { expectSparsity: { actor: 0, critic: 0 } });
    for (const run of expectEveryRun(report)) {
      expect(checkOf(run, 'sparsity').status).toBe('passed');
      expect(run.metrics['sparsity/total']).toBe(0);
      expect(run.maskChanges).toBe(0);
    }
  });

  it('declares no sparsity of its own: the check is reported not applicable, not passed', async () => {
    const report = await testSparsifier(plugin, { agents: ['td3'], engines: ['tfjs'], updates: 5 });
    const [run] = expectEveryRun(report, ['td3'], ['tfjs']);
    expect(checkOf(run, 'sparsity')).toMatchObject({ status: 'not-applicable', detail: expect.stringMatching(/expectSparsity/) });
  });
});
