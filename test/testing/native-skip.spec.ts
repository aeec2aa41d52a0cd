import { describe, expect, it, vi } from 'vitest';
import plugin from '../../plugins/sparsifier-static/index.js';
import { testSparsifier } from '../../src/testing/index.js';

// This file pretends the native addon is not built: the tester must skip `native`, say so, and never count it as passed.
vi.mock('../../src/nn/native-engine.js', async (importOriginal) => ({ ...(await importOriginal<object>()), nativeEngineAvailable: () => false }));

describe('sparse-rl/testing without the native engine', () => {
  const options = { options: { actorSparsity: 0.5, criticSparsity: 0.5 }, agents: ['td3'], updates: 5 } as const;

  it('skips the native runs with a note and runs tfjs', async () => {
    const report = await testSparsifier(plugin, options);
    expect(report.runs.map((r) => [r.engine, r.status])).toEqual([['native', 'skipped'], ['tfjs', 'passed']]);
    expect(report.passed).toBe(1);
    expect(report.skipped).toBe(1);
    expect(report.runs[0]).toMatchObject({ checks: [], note: expect.stringMatching(/native engine is not built here \(npm run build:native\)/) });
    expect(report.summary).toMatch(/^td3 × native: skipped: the native engine is not built/);
  });

  it('throws instead with requireNative', async () => {
    await expect(testSparsifier(plugin, { ...options, requireNative: true })).rejects.toThrow(/sparsifier\.static: skipped: the native engine is not built.*requireNative/);
  });
});
