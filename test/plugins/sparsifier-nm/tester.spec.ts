import { describe, expect, it } from 'vitest';
import plugin from '../../../plugins/sparsifier-nm/index.js';
import { testSparsifier } from '../../../src/testing/index.js';
import { checkOf, expectEveryRun } from '../../testing/helpers.js';

/**
 * Fraction of zeros of N:M masks over layers `[in, out]` with padMode `pad`: each row keeps N per
 * full group of M inputs and min(N, t) of a trailing group of t < M.
 */
function nmSparsity(layerSizes: readonly number[], n: number, m: number): number {
  let zeros = 0;
  let count = 0;
  for (let k = 0; k + 1 < layerSizes.length; k++) {
    const [inF, outF] = [layerSizes[k], layerSizes[k + 1]];
    const kept = Math.floor(inF / m) * n + Math.min(n, inF % m);
    zeros += (inF - kept) * outF;
    count += inF * outF;
  }
  return zeros / count;
}

// The tester's spaces: 11 observations, 3 actions; hidden [32, 32] (the SAC actor outputs mean and
// log-std: 6). Pruned entries keep decaying Adam moments (docs/methods.md §9.4.3): `decaying` rule.
const expectSparsity = (agent: string) => ({ actor: nmSparsity([11, 32, 32, agent === 'sac' ? 6 : 3], 2, 4), critic: nmSparsity([14, 32, 32, 1], 2, 4) });

describe('sparsifier.nm keeps the sparsifier contract (sparse-rl/testing)', () => {
  it('2:4 re-projected every 10 updates on TD3 and SAC, native and tfjs: exact N:M sparsity, masks moved, SAD metrics', async () => {
    const report = await testSparsifier(plugin, { options: { n: 2, m: 4, maskInterval: 10 }, updates: 40, expectSparsity, sparsityTolerance: 1e-9, adamMoments: 'decaying' });
    for (const run of expectEveryRun(report)) {
      expect(checkOf(run, 'sparsity').status).toBe('passed');
      expect(run.maskChanges).toBeGreaterThan(0);
      expect(run.metrics['nm/mask_updates/critic']).toBeGreaterThan(0);
    }
  });

  it('targets re-projected from their own weights (targetMode own; tfjs, TD3 and SAC)', async () => {
    const report = await testSparsifier(plugin, { options: { n: 1, m: 4, maskInterval: 10, targetMode: 'own' }, engines: ['tfjs'], updates: 20, adamMoments: 'decaying' });
    for (const run of expectEveryRun(report, ['td3', 'sac'], ['tfjs'])) expect(checkOf(run, 'targets').detail).toMatch(/'own'/);
  });

  it('straight-through gradients train pruned entries on purpose: moments not checked (tfjs, TD3)', async () => {
    const report = await testSparsifier(plugin, { options: { n: 2, m: 4, maskInterval: 5, gradMode: 'ste' }, agents: ['td3'], engines: ['tfjs'], updates: 15, adamMoments: 'skip' });
    expectEveryRun(report, ['td3'], ['tfjs']);
  });
});
