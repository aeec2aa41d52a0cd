/**
 * Restarts that stay reproducible: one crash induced deterministically in real MuJoCo (a test env
 * that `os._exit()`s once at a given step, see fixtures/crash_once_env.py), two identical runs give
 * identical observations and rewards, the listener sees `{ count: 1, seed }` with the seed
 * derived from the start seed; a crash after the last allowed restart says so. The plugin's
 * factory seeds the train and eval envs from the run seed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentFactory, RunConfig, type EnvironmentRestart, type ExperimentConfig } from '../../../src/index.js';
import plugin from '../../../plugins/environment-gymnasium/index.js';
import { GymnasiumEnvironment, RESTART_SEED_STRIDE, restartSeed } from '../../../plugins/environment-gymnasium/gymnasium-environment.js';
import { environmentStartOptions, type GymnasiumOptions } from '../../../plugins/environment-gymnasium/gymnasium-options.js';
import { HAS_VENV, ROOT, randomActions, uniformStream } from './helpers.js';

const FIXTURES = join(ROOT, 'test', 'plugins', 'environment-gymnasium', 'fixtures');

describe.skipIf(!HAS_VENV)('restartOnCrash, reproducibly', () => {
  let dir: string;
  let savedPath: string | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sparse-rl-crash-'));
    // The bridge imports the fixture module for the id `crash_once_env:...` from PYTHONPATH.
    savedPath = process.env.PYTHONPATH;
    process.env.PYTHONPATH = savedPath ? `${FIXTURES}${delimiter}${savedPath}` : FIXTURES;
  });
  afterAll(() => {
    if (savedPath === undefined) delete process.env.PYTHONPATH;
    else process.env.PYTHONPATH = savedPath;
    rmSync(dir, { recursive: true, force: true });
  });

  /** 30 steps of a 2-env run that crashes once at step 12; what it returned and what it reported. */
  async function run(tag: string, extra: (env: GymnasiumEnvironment) => Promise<void> = async () => {}) {
    const warnings: string[] = [];
    const restarts: EnvironmentRestart[] = [];
    const env = await GymnasiumEnvironment.start({
      envId: 'crash_once_env:CrashOnceHalfCheetah-v0',
      kwargs: { crash_at: 12, marker: join(dir, `${tag}.crashed`) },
      numEnvs: 2,
      seed: 5,
      restartOnCrash: { maxRestarts: 1 },
      onWarning: (m) => warnings.push(m),
    });
    env.onRestart((r) => restarts.push(r));
    const rand = uniformStream(3);
    const seen: number[][] = [];
    try {
      seen.push(Array.from(await env.reset()));
      for (let t = 0; t < 30; t++) {
        const r = await env.step(randomActions(rand, 12));
        seen.push(Array.from(r.observations), Array.from(r.rewards), Array.from(r.truncated));
      }
      await extra(env);
    } finally {
      await env.close();
    }
    return { seen, warnings, restarts, restartsCount: env.restarts };
  }

  it('two runs with one induced crash are identical, and the listener gets the deterministic seed', async () => {
    const first = await run('a', async (env) => {
      // The restart budget is spent: the next crash fails, saying so.
      process.kill(env.pid, 'SIGKILL');
      await expect(env.step(new Float32Array(12))).rejects.toThrow(/restarted 1 times, maxRestarts 1 reached\. .*SIGKILL/s);
    });
    const second = await run('b');
    expect(first.restartsCount).toBe(1);
    expect(first.warnings.filter((w) => /restarting it \(restart 1\/1\)/.test(w))).toHaveLength(1);
    expect(first.restarts).toHaveLength(1);
    const r = first.restarts[0];
    expect(r).toMatchObject({ count: 1, seed: 5 + RESTART_SEED_STRIDE });
    expect(r.seed).toBe(restartSeed(5, 1));
    expect(r.reason).toMatch(/exited with code 17/);
    expect(new Date(r.at).toISOString()).toBe(r.at);
    expect(second.restarts.map(({ count, seed }) => ({ count, seed }))).toEqual([{ count: 1, seed: 5 + RESTART_SEED_STRIDE }]);
    // The crashed step is the synthetic boundary (reward 0, truncated) in both runs, and everything matches.
    expect(second.seen).toEqual(first.seen);
    const t = 11; // seen = [reset obs, then per step t: obs (1 + 3t), rewards (2 + 3t), truncated (3 + 3t)]
    expect(first.seen[2 + 3 * t]).toEqual([0, 0]);
    expect(first.seen[3 + 3 * t]).toEqual([1, 1]);
    expect(first.seen[3 + 3 * (t - 1)]).toEqual([0, 0]);
  });
});

describe('the plugin factory', () => {
  const run = { seed: 42, evaluation: { seedOffset: 100 } } as const;
  const options = { id: 'InvertedPendulum-v5', kwargs: {}, numEnvs: 4, vectorization: 'async', startTimeoutMs: 60000, requestTimeoutMs: 30000, idleTimeoutS: 0, restartOnCrash: true, maxRestarts: 2 } as GymnasiumOptions;

  it('seeds the train env with the run seed and the eval env with seed + evaluation.seedOffset (the seeds the trainer resets with)', () => {
    const train = environmentStartOptions(options, 'train', run);
    const ev = environmentStartOptions(options, 'eval', run);
    expect(train).toMatchObject({ envId: 'InvertedPendulum-v5', numEnvs: 4, vectorization: 'async', seed: 42, restartOnCrash: { maxRestarts: 2 } });
    expect(ev).toMatchObject({ numEnvs: 1, vectorization: 'sync', seed: 142, restartOnCrash: { maxRestarts: 2 } });
    // Restart seeds of train (42 + k·S + i, i < 4) and eval (142 + k·S) stay disjoint.
    const trainSeeds = new Set([1, 2, 3].flatMap((k) => [0, 1, 2, 3].map((i) => restartSeed(42, k)! + i)));
    for (const k of [1, 2, 3]) expect(trainSeeds.has(restartSeed(142, k)!)).toBe(false);
    expect(train.video).toBeUndefined();
    const withVideo = { ...options, video: { dir: 'videos', namePrefix: 'ev' } };
    expect(environmentStartOptions(withVideo, 'train', run).video).toBeUndefined();
    expect(environmentStartOptions(withVideo, 'eval', run).video).toEqual({ dir: join(process.cwd(), 'videos'), namePrefix: 'ev' });
  });

  it.skipIf(!HAS_VENV)('is bound from the RunConfig token, and the eval env it starts resets with the eval seed by default', async () => {
    const bound: { token: symbol; factory: (...a: unknown[]) => unknown; deps: readonly symbol[] }[] = [];
    plugin.register({
      options: Object.freeze({ ...options, numEnvs: 1, vectorization: 'sync' }) as never,
      bind: ((token: symbol) => ({
        toConstantValue: () => {
          throw new Error('expected toResolvedValue');
        },
        toResolvedValue: (factory: (...a: unknown[]) => unknown, deps: readonly symbol[] = []) => void bound.push({ token, factory, deps }),
      })) as never,
    });
    expect(bound).toHaveLength(1);
    expect(bound[0].token).toBe(EnvironmentFactory);
    expect(bound[0].deps).toEqual([RunConfig]);
    const factory = bound[0].factory(run as unknown as ExperimentConfig) as EnvironmentFactory;
    const env = (await factory('eval')) as GymnasiumEnvironment;
    try {
      expect(env.numEnvs).toBe(1);
      const byDefault = Array.from(await env.reset());
      expect(byDefault).toEqual(Array.from(await env.reset(142)));
    } finally {
      await env.close();
    }
  });
});
