/**
 * Remote training through `sparse-rl-bridge serve` on loopback TCP with CURVE (an allow-listed
 * client key and the token) gives exactly the metrics of the same seeded run with locally spawned
 * bridges, for numEnvs 1 and 2 with evaluation on: the training env and the evaluation env are
 * two sessions of the one server, open at the same time, each with its own envs (real MuJoCo,
 * Hopper-v5, the portable tfjs `cpu` engine). Wall-clock keys are dropped before comparing.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfigFile } from '../../src/config/validate.js';
import { PluginRegistry } from '../../src/plugin/plugin-registry.js';
import { packageRoot } from '../../src/util/paths.js';
import { merge, runRecipe, withoutWallClock, type Json } from '../helpers/recipe-run.js';
import { tiny } from '../helpers/recipes.js';
import { HAS_VENV, keygen, startServe } from '../plugins/environment-gymnasium/helpers.js';

const ROOT = packageRoot();
const TOKEN = 'e2e-remote-token';

const deterministic = withoutWallClock;

/** Hopper-v5, 1200 steps (learning from step 200), evaluated (2 episodes) at steps 0, 600 and 1200, a checkpoint at the end. */
function runConfig(numEnvs: number): Json {
  const base = merge(readConfigFile(join(ROOT, 'configs', 'dense-td3', 'hopper-v5.json')) as Json, tiny);
  return merge(base, {
    totalSteps: 1200,
    environment: { numEnvs },
    agent: { learningStarts: 200 },
    evaluation: { interval: 600, episodes: 2 },
    checkpoint: { interval: 1200 },
    runtime: { engine: 'tfjs', backend: 'cpu' },
  });
}

describe.skipIf(!HAS_VENV)('remote training through sparse-rl-bridge serve (CURVE, loopback) = local training', () => {
  let dir = '';
  let server: ChildProcess | null = null;
  let endpoint = '';
  let alicePublicKey = '';
  let log: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sparse-rl-remote-e2e-'));
    keygen(join(dir, 'server'), 'server');
    alicePublicKey = keygen(join(dir, 'clients'), 'alice');
    ({ proc: server, endpoint, log } = await startServe(
      ['--bind', 'tcp://127.0.0.1:*', '--curve-secret-key', join(dir, 'server', 'server.key_secret'), '--curve-client-keys', join(dir, 'clients')],
      { SPARSE_RL_BRIDGE_TOKEN: TOKEN },
    ));
  });

  afterAll(() => {
    if (server && server.exitCode === null) server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([1, 2])('numEnvs %i: identical metrics, training and evaluation envs in two sessions', async (numEnvs) => {
    const registry = await PluginRegistry.load();
    const cfg = runConfig(numEnvs);
    const local = await runRecipe(registry, cfg, `remote-e2e-local-${numEnvs}`);
    const from = log.length;
    const remoteCfg = merge(cfg, {
      environment: {
        remote: { endpoint, serverPublicKey: join(dir, 'server', 'server.key'), clientKeyFile: join(dir, 'clients', 'alice.key_secret'), token: TOKEN },
      },
    });
    const remote = await runRecipe(registry, remoteCfg, `remote-e2e-remote-${numEnvs}`);

    const expected = deterministic(local.records);
    expect(expected.filter((r) => 'eval/mean_return' in r)).toHaveLength(3); // evaluation on: steps 0, 600 and 1200
    expect(expected.length).toBeGreaterThan(2);
    expect(deterministic(remote.records)).toEqual(expected);

    // The remote run really went through the server: its training env (numEnvs copies) and its
    // evaluation env (1 copy) were two sessions of alice's key, both open before either ended.
    const runLog = log.slice(from);
    const key = alicePublicKey.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const serving = (n: number) => new RegExp(`session (\\d+) \\(peer 127\\.0\\.0\\.1, CURVE key ${key}\\): serving Hopper-v5 x${n} `);
    const trainLine = runLog.findIndex((l) => serving(numEnvs).test(l));
    const evalLine = runLog.findIndex((l, i) => serving(1).test(l) && (numEnvs !== 1 || i !== trainLine));
    expect(trainLine, runLog.join('\n')).toBeGreaterThanOrEqual(0);
    expect(evalLine, runLog.join('\n')).toBeGreaterThanOrEqual(0);
    const trainSession = serving(numEnvs).exec(runLog[trainLine])![1];
    const evalSession = serving(1).exec(runLog[evalLine])![1];
    expect(trainSession).not.toBe(evalSession);
    const firstEnd = runLog.findIndex((l) => / ended: /.test(l));
    expect(firstEnd).toBeGreaterThan(Math.max(trainLine, evalLine));
    await new Promise((r) => setTimeout(r, 300)); // the CLOSE of the last env reaches the log
    for (const s of [trainSession, evalSession]) expect(log.slice(from).some((l) => l.includes(`session ${s} (`) && / ended: CLOSE/.test(l)), log.slice(from).join('\n')).toBe(true);
    expect(server!.exitCode).toBe(null);
    expect(JSON.parse(readFileSync(join(remote.runDir, 'summary.json'), 'utf8'))).toBeTruthy();
  });
});
