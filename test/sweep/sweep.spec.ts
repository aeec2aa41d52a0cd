import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatIssue } from '../../src/config/validate.js';
import { expandSweep, validateRuns } from '../../src/sweep/expand.js';
import { runSweep } from '../../src/sweep/run-sweep.js';
import { scaledSchedule, shrinkOverrides, shrinkSchedules } from '../../src/sweep/shrink.js';
import { readSweepFile, validateSweep, type SweepFile } from '../../src/sweep/sweep-file.js';
import { packageRoot } from '../../src/util/paths.js';

const root = packageRoot();
const configs = join(root, 'configs');

function writeSweep(content: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'srl-sweep-'));
  const file = join(dir, 'sweep.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

const sweepOf = (raw: Record<string, unknown>): SweepFile => {
  const r = validateSweep(raw);
  expect(r.issues.map(formatIssue)).toEqual([]);
  return r.sweep!;
};

const issuesOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map(formatIssue);
    throw e;
  }
  throw new Error('expected a ConfigError');
};

describe('sweep schema', () => {
  it('accepts $schema, fills defaults', () => {
    const s = sweepOf({ $schema: '../schemas/sweep.schema.json', name: 'x', recipes: ['a.json'], seeds: [1] });
    expect(s.output).toBe('runs/sweeps');
    expect(s.maxRetries).toBe(2);
  });
  it.each([
    ['missing seeds', { name: 'x', recipes: ['a'] }, 'seeds: is required'],
    ['unknown key', { name: 'x', recipes: ['a'], seeds: [1], seed: 3 }, 'seed: unknown property; allowed: $schema, name'],
    ['bad method', { name: 'x', recipes: [{ path: 'a', method: 'a__b' }], seeds: [1] }, 'recipes[0].method: must match'],
    ['unknown recipe key', { name: 'x', recipes: [{ path: 'a', sets: [] }], seeds: [1] }, 'recipes[0].sets: unknown property; allowed: path, method, envs, set'],
    ['override without =', { name: 'x', recipes: ['a'], seeds: [1], set: ['agent.batchSize'] }, 'set[0]: must be an override PATH=VALUE'],
    ['fractional budget', { name: 'x', recipes: ['a'], seeds: [1], budget: { totalSteps: 1.5 } }, 'budget.totalSteps: must be integer'],
    ['duplicate seeds', { name: 'x', recipes: ['a'], seeds: [1, 1] }, 'seeds: must NOT have duplicate items'],
    ['recipe of wrong type', { name: 'x', recipes: [3], seeds: [1] }, 'recipes[0]: must be a path (string) or an object'],
  ])('%s', (_label, raw, fragment) => {
    const r = validateSweep(raw);
    expect(r.issues.map(formatIssue).join('\n')).toContain(fragment);
  });
});

describe('schedule shrinking', () => {
  const rlx2 = {
    totalSteps: 3_000_000,
    agent: { type: 'td3', learningStarts: 25000, nStep: { n: 3, delayIterations: 300_000 } },
    sparsifier: { type: 'rigl', actorSparsity: 0.9, topologyUpdate: { interval: 10_000, endStep: { actor: 1_487_500, critic: 2_975_000 }, dropFraction: 0.5 } },
    replayBuffer: { type: 'dynamic-capacity', capacity: 1_000_000, minSize: 100_000, checkInterval: 10_000, oldestK: 2048 },
  };
  it('scales every integer schedule constant by budget / totalSteps, keeps the rest', () => {
    const s = shrinkSchedules(rlx2, 30_000);
    expect(s.totalSteps).toBe(30_000);
    expect(s.agent.nStep).toEqual({ n: 3, delayIterations: 3000 });
    expect(s.agent.learningStarts).toBe(25000);
    expect(s.sparsifier.topologyUpdate).toEqual({ interval: 100, endStep: { actor: 14875, critic: 29750 }, dropFraction: 0.5 });
    expect(s.sparsifier.actorSparsity).toBe(0.9);
    expect(s.replayBuffer).toEqual({ type: 'dynamic-capacity', capacity: 1_000_000, minSize: 1000, checkInterval: 100, oldestK: 2048 });
    expect(rlx2.sparsifier.topologyUpdate.interval).toBe(10_000); // not modified
  });
  it('as overrides, at least 1', () => {
    expect(shrinkOverrides(rlx2, 30_000)).toEqual([
      'sparsifier.topologyUpdate.interval=100', 'sparsifier.topologyUpdate.endStep.actor=14875', 'sparsifier.topologyUpdate.endStep.critic=29750',
      'replayBuffer.minSize=1000', 'replayBuffer.checkInterval=100', 'agent.nStep.delayIterations=3000',
    ]);
    expect(scaledSchedule(rlx2, 3).find((v) => v.path === 'sparsifier.topologyUpdate.interval')?.to).toBe(1);
  });
});

describe('grid expansion', () => {
  it('folder and file recipes × envs × seeds, deterministic names, overrides in order', () => {
    const file = writeSweep({});
    const sweep = sweepOf({
      name: 'grid', envs: ['HalfCheetah-v5', 'Hopper-v5'], seeds: [1, 2], set: ['evaluation.episodes=2'], budget: { totalSteps: 30000 },
      recipes: [join(configs, 'rlx2-td3'), { path: join(configs, 'quickstart.json'), method: 'qs', set: ['agent.batchSize=64'], envs: ['InvertedPendulum-v5'] }],
    });
    const runs = expandSweep(sweep, file, { threads: 3 });
    expect(runs.map((r) => r.name)).toEqual([
      'rlx2-td3__HalfCheetah-v5__s1', 'rlx2-td3__HalfCheetah-v5__s2', 'rlx2-td3__Hopper-v5__s1', 'rlx2-td3__Hopper-v5__s2',
      'qs__InvertedPendulum-v5__s1', 'qs__InvertedPendulum-v5__s2',
    ]);
    expect(runs[2].recipe).toBe(join(configs, 'rlx2-td3', 'hopper-v5.json'));
    expect(runs[2].configName).toBe('rlx2-td3-hopper-v5');
    const qs = runs[5];
    expect(qs.trainArgs.slice(0, 1)).toEqual([join(configs, 'quickstart.json')]);
    const sets = qs.trainArgs.join(' ');
    expect(sets).toContain('--set name=qs-invertedpendulum-v5 --set environment.id=InvertedPendulum-v5 --set runtime.threads=3 --set evaluation.episodes=2 --set agent.batchSize=64 --seed 2 --total-steps 30000');
    expect(runs[0].trainArgs.join(' ')).toContain('--set sparsifier.topologyUpdate.interval=100');
  });

  it('a sweep that sets runtime.threads keeps it; file recipes run their own env', () => {
    const sweep = sweepOf({ name: 'g', seeds: [7], set: ['runtime.threads=1'], recipes: [join(configs, 'quickstart.json')] });
    const [run] = expandSweep(sweep, writeSweep({}), { threads: 4 });
    expect(run.name).toBe('quickstart__InvertedPendulum-v5__s7');
    expect(run.trainArgs.join(' ')).not.toContain('runtime.threads=4');
  });

  it('names the recipe for missing files, folders without the env, clashing names', () => {
    const sweep = sweepOf({
      name: 'g', seeds: [1], envs: ['Pong-v9'],
      recipes: ['nope.json', join(configs, 'rlx2-td3'), join(configs, 'quickstart.json'), join(configs, 'quickstart.json')],
    });
    const issues = issuesOf(() => expandSweep(sweep, writeSweep({})));
    expect(issues[0]).toMatch(/^recipes\[0\]: no such file or folder/);
    expect(issues[1]).toMatch(/^recipes\[1\]\.path|^recipes\[1\]: .*has no pong-v9\.json for env Pong-v9/);
    expect(issues[2]).toMatch(/^recipes\[3\]: run name quickstart__Pong-v9__s1 clashes with a run of recipes\[2\]/);
  });

  it('validates every run before anything starts: errors name the sweep file, run, recipe and field', async () => {
    const sweep = sweepOf({ name: 'g', seeds: [1], recipes: [{ path: join(configs, 'quickstart.json'), method: 'a', set: ['agent.batchSize=abc'] }] });
    const file = writeSweep({});
    const err = await validateRuns(expandSweep(sweep, file), file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).file).toBe(file);
    expect((err as ConfigError).issues.map(formatIssue)).toEqual([expect.stringMatching(/^run a__InvertedPendulum-v5__s1 \(.*quickstart\.json\): --set agent\.batchSize=abc: agent\.batchSize: must be integer/)]);
  });
});

describe('idempotence', () => {
  it('re-running a completed sweep starts nothing; a run made with another config is refused, naming it and the field', async () => {
    const storage = mkdtempSync(join(tmpdir(), 'srl-sweep-store-'));
    const raw = { name: 'done', seeds: [1, 2], set: ['runtime.threads=1', 'loggers=[]'], recipes: [join(configs, 'quickstart.json')], budget: { totalSteps: 3000 } };
    const file = writeSweep(raw);
    const runs = await validateRuns(expandSweep(sweepOf(raw), file), file);
    for (const r of runs) {
      const dir = join(storage, 'done', 'runs', r.name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'config.json'), JSON.stringify(r.config));
      writeFileSync(join(dir, 'metadata.json'), JSON.stringify({ status: 'completed' }));
    }
    const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
    const result = await runSweep(file, { storage, stream: quiet, cli: '/nonexistent/main.js' });
    expect(result.attemptsStarted).toBe(0);
    expect(result.manifest?.status).toBe('completed');
    expect(result.manifest?.counts.completed).toBe(2);

    // A config.json written before a default existed (here: without the evaluation section's
    // defaulted keys) is loaded as `train --resume` loads it, defaults filled in: no difference.
    const { reseed: _r, atStart: _a, ...olderEvaluation } = runs[0].config.evaluation as unknown as Record<string, unknown>;
    writeFileSync(join(storage, 'done', 'runs', runs[0].name, 'config.json'), JSON.stringify({ ...runs[0].config, evaluation: olderEvaluation }));
    expect((await runSweep(file, { storage, stream: quiet, cli: '/nonexistent/main.js' })).attemptsStarted).toBe(0);

    writeFileSync(join(storage, 'done', 'runs', runs[1].name, 'config.json'), JSON.stringify({ ...runs[1].config, totalSteps: 5000 }));
    const err = await runSweep(file, { storage, stream: quiet, cli: '/nonexistent/main.js' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map(formatIssue).join('\n')).toMatch(/run quickstart__InvertedPendulum-v5__s2: .* was made with another config \(totalSteps: 5000 in the run, 3000 in the sweep\)/);
  });
});

describe('the committed sweep files (sweeps/*.json)', () => {
  const files = readdirSync(join(root, 'sweeps')).filter((f) => f.endsWith('.json'));

  it.each(files)('%s validates, and every run it expands to validates', async (f) => {
    const file = join(root, 'sweeps', f);
    const runs = expandSweep(readSweepFile(file), file);
    expect(runs.length).toBeGreaterThan(0);
    const validated = await validateRuns(runs, file, () => {});
    expect(validated).toHaveLength(runs.length);
  });
});
