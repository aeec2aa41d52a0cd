/**
 * `sparse-rl/testing`: checks a sparsifier plugin against the contract of the `Sparsifier`
 * extension point, as ESLint's `RuleTester` checks a rule. Semver applies to this module as to
 * `sparse-rl`.
 *
 * ```js
 * import { test } from 'node:test';
 * import { testSparsifier } from 'sparse-rl/testing';
 * import plugin from '../index.js';
 *
 * test('my sparsifier keeps the contract', async () => {
 *   const report = await testSparsifier(plugin, { options: { actorSparsity: 0.8, criticSparsity: 0.8 } });
 *   console.log(report.summary);
 * });
 * ```
 *
 * For each agent (TD3, SAC) × engine (native, tfjs) the tester builds a run without an
 * environment, runs a few gradient updates on random transitions and checks: declared sparsity
 * (a), masked weights and Adam moments at zero (b), targets consistent with `targetMasks` (c),
 * `state()` / `loadState` round trip (d), `metrics()` (e) and determinism (f). The first failed
 * check throws a `SparsifierContractError` naming the plugin, agent, engine and check. See
 * `testSparsifier` for the details of every check and `SparsifierTestOptions` for the knobs.
 */
export {
  SparsifierContractError, testSparsifier,
  type CheckOutcome, type ContractCheck, type SparsifierTestOptions, type SparsifierTestReport, type SparsifierTestRun, type TesterEngine,
} from './sparsifier-tester.js';
export type { PluginUnderTest } from './plugin-under-test.js';
export type { AdamMomentsRule } from './contract-checks.js';
export { METRIC_PREFIXES } from './contract-checks.js';
