import { expect } from 'vitest';
import { nativeEngineAvailable } from '../../src/nn/native-engine.js';
import type { SparsifierTestReport, SparsifierTestRun, TesterEngine } from '../../src/testing/index.js';

/** Whether the native addon is built here (the tester skips `native` runs, with a note, when not). */
export const nativeBuilt = nativeEngineAvailable();

/**
 * Asserts that the report has one run per agent × engine and that each passed, except `native`
 * runs where the addon is not built, which must be reported skipped with a note (never passed).
 * @returns the runs that ran
 */
export function expectEveryRun(report: SparsifierTestReport, agents: readonly string[] = ['td3', 'sac'], engines: readonly TesterEngine[] = ['native', 'tfjs']): SparsifierTestRun[] {
  expect(report.runs).toHaveLength(agents.length * engines.length);
  const ran: SparsifierTestRun[] = [];
  for (const engine of engines) {
    for (const agent of agents) {
      const run = report.runs.find((r) => r.agent === agent && r.engine === engine);
      expect(run, `${report.plugin}: run ${agent} × ${engine}`).toBeDefined();
      if (engine === 'native' && !nativeBuilt) {
        expect(run!.status).toBe('skipped');
        expect(run!.note).toMatch(/not built/);
        continue;
      }
      expect(run!.status, `${report.plugin}: ${agent} × ${engine}`).toBe('passed');
      expect(run!.checks.map((c) => c.check)).toEqual(['config', 'masked-weights', 'targets', 'sparsity', 'metrics', 'state', 'determinism']);
      ran.push(run!);
    }
  }
  return ran;
}

/** The outcome of one check of a run. */
export function checkOf(run: SparsifierTestRun, check: string): SparsifierTestRun['checks'][number] {
  const c = run.checks.find((x) => x.check === check);
  expect(c, `check ${check}`).toBeDefined();
  return c!;
}
