import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import td3 from '../../plugins/agent-td3/index.js';
import { SparsifierContractError, testSparsifier, type ContractCheck, type SparsifierTestOptions } from '../../src/testing/index.js';
import type { PluginUnderTest } from '../../src/testing/plugin-under-test.js';
import * as broken from './fixtures/broken-sparsifiers.js';
import halves from './fixtures/sparsifier-halves.js';
import { checkOf, expectEveryRun } from './helpers.js';

const quick: SparsifierTestOptions = { agents: ['td3'], engines: ['tfjs'], updates: 10 };

/** Runs the tester and returns the contract error it must throw, checked to name plugin, agent, engine and check. */
async function failure(plugin: PluginUnderTest, check: ContractCheck, options: SparsifierTestOptions = quick): Promise<SparsifierContractError> {
  const error = await testSparsifier(plugin, options).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `the tester must reject (expected check "${check}")`).toBeInstanceOf(SparsifierContractError);
  const e = error as SparsifierContractError;
  expect(e.check, e.message).toBe(check);
  expect(e.message).toContain(e.plugin);
  expect(e.message).toContain(`agent ${e.agent}`);
  expect(e.message).toContain(`engine ${e.engine}`);
  expect(e.message).toContain(`"${check}"`);
  return e;
}

describe('sparse-rl/testing: testSparsifier', () => {
  it('passes a correct external plugin given by module path, and reports every check of every run', async () => {
    const path = fileURLToPath(new URL('./fixtures/sparsifier-halves.ts', import.meta.url));
    const report = await testSparsifier(path, { engines: ['tfjs'], updates: 12, expectSparsity: { actor: 0.5, critic: 0.5 } });
    expect(report.plugin).toBe('sparsifier.halves');
    const runs = expectEveryRun(report, ['td3', 'sac'], ['tfjs']);
    for (const run of runs) {
      for (const c of run.checks) expect(c.status, c.check).toBe('passed');
      expect(run.note).toMatch(/tfjs/);
      expect(run.seconds).toBeGreaterThan(0);
    }
    expect(report.summary.split('\n')).toHaveLength(2);
    expect(report.summary).toMatch(/^td3 × tfjs: passed \(config, masked-weights, targets, sparsity, metrics, state, determinism\)/);
  });

  it('(b) fails a sparsifier that leaves a masked weight non-zero', async () => {
    const e = await failure(broken.leakyWeights, 'masked-weights');
    expect(e.message).toMatch(/where its mask is 0 \(after update 1\)/);
  });

  it('(b) fails a sparsifier whose masked weights receive gradients: non-zero Adam moments, also under the decaying rule', async () => {
    expect((await failure(broken.liftedMasks, 'masked-weights')).message).toMatch(/Adam moments of .* where the mask is 0/);
    expect((await failure(broken.liftedMasks, 'masked-weights', { ...quick, adamMoments: 'decaying' })).message).toMatch(/never active/);
  });

  it("(b) adamMoments 'zero' (the default) flags the kept moments of pruned weights; 'decaying' accepts them", async () => {
    const e = await failure(broken.prunesOnce, 'masked-weights', { ...quick, expectSparsity: false });
    expect(e.message).toMatch(/Adam moments .* where the mask is 0 \(they must be exactly 0\) \(after update 3\)/);
    const report = await testSparsifier(broken.prunesOnce, { ...quick, expectSparsity: false, adamMoments: 'decaying' });
    expect(expectEveryRun(report, ['td3'], ['tfjs'])[0].maskChanges).toBeGreaterThan(0);
  });

  it('(c) fails a sparsifier that changes the online masks but skips the targets, under TD3 and SAC', async () => {
    for (const agent of ['td3', 'sac']) {
      // it drops active weights, whose Adam moments then decay: checked with the decaying rule
      const e = await failure(broken.onlineOnlyMasks, 'targets', { ...quick, agents: [agent], adamMoments: 'decaying' });
      expect(e.agent).toBe(agent);
      expect(e.message).toMatch(/targets share the online masks/);
    }
  });

  it('(d) fails a sparsifier whose loadState ignores the state', async () => {
    const e = await failure(broken.forgetfulState, 'state');
    expect(e.message).toMatch(/state\(\)\.updates: \d+ vs 0 \(original vs restored\)/);
  });

  it('(d) fails a sparsifier whose state() is not JSON data', async () => {
    expect((await failure(broken.typedArrayState, 'state')).message).toMatch(/state\(\)\.masks is a Map/);
  });

  it('(f) fails a sparsifier that draws from Math.random', async () => {
    expect((await failure(broken.mathRandom, 'determinism')).message).toMatch(/two runs with seed 1 differ: actor\.l1\.(weight|mask)\[\d+\] is .* in the first run and .* in the second/);
  });

  it('(a) fails a sparsifier that masks 1 − S instead of the declared S', async () => {
    const e = await failure(broken.densityForSparsity, 'sparsity', { ...quick, options: { actorSparsity: 0.8, criticSparsity: 0.7 } });
    expect(e.message).toMatch(/group actor has sparsity 0\.19\d+ .*expected 0\.8/);
  });

  it('(a) checks an expectation given by the caller, and leaves it out when turned off', async () => {
    expect((await failure(halves, 'sparsity', { ...quick, expectSparsity: { actor: 0.3 } })).message).toMatch(/group actor has sparsity 0\.50* .*expected 0\.3/);
    const report = await testSparsifier(broken.densityForSparsity, { ...quick, options: { actorSparsity: 0.8, criticSparsity: 0.7 }, expectSparsity: false });
    expect(checkOf(report.runs[0], 'sparsity')).toMatchObject({ status: 'not-applicable', detail: 'turned off (expectSparsity: false)' });
  });

  it('(e) fails metrics with a NaN, without sparsity/total, or with a key outside the documented prefixes', async () => {
    expect((await failure(broken.badMetrics, 'metrics', { ...quick, options: { variant: 'nan' } })).message).toMatch(/"sparsity\/actor"\] is null, not a finite number|sparsity\/actor.*not a finite number/);
    expect((await failure(broken.badMetrics, 'metrics', { ...quick, options: { variant: 'no-total' } })).message).toMatch(/no "sparsity\/total"/);
    expect((await failure(broken.badMetrics, 'metrics', { ...quick, options: { variant: 'prefix' } })).message).toMatch(/key "density" has none of the prefixes/);
  });

  it('reports an exception in a hook as a failed run, and invalid options as a failed config', async () => {
    const e = await failure(broken.throwingHook, 'run');
    expect(e.message).toMatch(/update 2 threw: plugin sparsifier\.throwing-hook: afterTargetUpdate threw: boom/);
    expect((await failure(broken.leakyWeights, 'config', { ...quick, options: { actorSparsity: 2 } })).message).toMatch(/sparsifier\.actorSparsity: must be < 1, got 2/);
  });

  it('refuses a plugin that is not a sparsifier, and one that cannot be loaded', async () => {
    await expect(testSparsifier(td3, quick)).rejects.toThrow(/agent\.td3 is a agent plugin; testSparsifier tests sparsifiers/);
    await expect(testSparsifier('./no-such-plugin.js', quick)).rejects.toThrow(/cannot load plugin "\.\/no-such-plugin\.js"/);
  });
});
