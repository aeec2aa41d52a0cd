/**
 * Faults and remote use, against the real bridge: restartOnCrash after a SIGKILL mid-run, the
 * idle timeout, a remote `sparse-rl-bridge serve` with CURVE on loopback, and protocol
 * negotiation.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GymnasiumEnvironment } from '../../../plugins/environment-gymnasium/gymnasium-environment.js';
import { CAPABILITIES, PROTOCOL_VERSION } from '../../../plugins/environment-gymnasium/protocol.js';
import { HAS_VENV, alive, keygen, startServe, uniformStream, randomActions, waitGone } from './helpers.js';

describe.skipIf(!HAS_VENV)('restartOnCrash', () => {
  it('a SIGKILLed bridge is respawned, the lost episodes are logged, and the run continues', async () => {
    const warnings: string[] = [];
    const env = await GymnasiumEnvironment.start({ envId: 'HalfCheetah-v5', numEnvs: 2, seed: 3, restartOnCrash: { maxRestarts: 2 }, onWarning: (m) => warnings.push(m) });
    const rand = uniformStream(9);
    try {
      await env.reset();
      let last = new Float32Array(0);
      for (let t = 0; t < 25; t++) last = (await env.step(randomActions(rand, 12))).observations.slice();
      const pid = env.pid;
      process.kill(pid, 'SIGKILL');
      const r = await env.step(randomActions(rand, 12)); // not re-sent: a synthetic boundary
      expect(env.restarts).toBe(1);
      expect(env.pid).not.toBe(pid);
      expect(await waitGone(pid, 2000)).toBe(true);
      expect(Array.from(r.truncated)).toEqual([1, 1]);
      expect(Array.from(r.rewards)).toEqual([0, 0]);
      expect(r.episodes).toEqual([null, null]);
      expect(Array.from(r.finalObservations[1]!)).toEqual(Array.from(last.subarray(17, 34)));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/failed during STEP .*SIGKILL.*restarting it \(restart 1\/2\)\. The STEP is not re-sent; interrupted episodes are lost: env 0: return -?[\d.e-]+ over 25 steps; env 1: /);
      for (let t = 0; t < 30; t++) {
        const s = await env.step(randomActions(rand, 12));
        expect(s.observations).toHaveLength(34);
      }
      // A crash during reset() is recovered the same way; then the restart budget is spent.
      process.kill(env.pid, 'SIGKILL');
      await env.reset();
      expect(env.restarts).toBe(2);
      process.kill(env.pid, 'SIGKILL');
      await expect(env.step(randomActions(rand, 12))).rejects.toThrow(/SIGKILL/);
    } finally {
      await env.close();
    }
  });
});

describe.skipIf(!HAS_VENV)('bridge lifetime', () => {
  it("serves over a private ipc:// socket by default, loopback TCP with transport 'tcp'", async () => {
    const seen: string[] = [];
    for (const transport of [undefined, 'tcp'] as const) {
      const env = await GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5', transport });
      try {
        const cmd = readFileSync(`/proc/${env.pid}/cmdline`, 'utf8').split('\0');
        const endpoint = cmd[cmd.indexOf('--connect') + 1];
        seen.push(endpoint);
        if (endpoint.startsWith('ipc://')) expect(statSync(dirname(endpoint.slice(6))).mode & 0o777).toBe(0o700);
        await env.reset(0);
        await env.step(new Float32Array([0.5]));
      } finally {
        await env.close();
      }
      if (seen.at(-1)!.startsWith('ipc://')) expect(existsSync(dirname(seen.at(-1)!.slice(6)))).toBe(false);
    }
    expect(seen[0]).toMatch(/^ipc:\/\//);
    expect(seen[1]).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
  });

  it('exits by itself after idleTimeoutS without a request; the next request fails clearly', async () => {
    const env = await GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5', idleTimeoutS: 0.5 });
    try {
      await env.reset(0);
      const pid = env.pid;
      expect(await waitGone(pid, 5000)).toBe(true);
      await expect(env.step(new Float32Array(1))).rejects.toThrow(/exited with code 5/);
    } finally {
      await env.close();
    }
  });
});

describe.skipIf(!HAS_VENV)('remote bridge with CURVE (loopback)', () => {
  let dir = '';
  let server: ChildProcess | null = null;
  let endpoint = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sparse-rl-curve-'));
    for (const [sub, name] of [['server', 'server'], ['clients', 'alice'], ['other', 'mallory']]) keygen(join(dir, sub), name);
    ({ proc: server, endpoint } = await startServe(
      ['--bind', 'tcp://127.0.0.1:*', '--once', '--curve-secret-key', join(dir, 'server', 'server.key_secret'), '--curve-client-keys', join(dir, 'clients')],
      { SPARSE_RL_BRIDGE_TOKEN: 'remote-token' },
    ));
  });
  afterAll(() => {
    if (server && server.exitCode === null) server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses clients without the server key or with an unknown key, then serves an allowed one', async () => {
    const serverPublicKey = join(dir, 'server', 'server.key');
    // Ephemeral client key: not in --curve-client-keys, so the handshake never completes.
    await expect(
      GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5', remote: { endpoint, serverPublicKey, token: 'remote-token' }, startTimeoutMs: 1000 }),
    ).rejects.toThrow(/did not answer HELLO within 1000 ms/);
    await expect(
      GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5', remote: { endpoint, serverPublicKey, clientKeyFile: join(dir, 'other', 'mallory.key_secret'), token: 'remote-token' }, startTimeoutMs: 1000 }),
    ).rejects.toThrow(/did not answer HELLO/);
    await expect(
      GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5', remote: { endpoint, serverPublicKey, clientKeyFile: join(dir, 'clients', 'alice.key_secret'), token: 'nope' } }),
    ).rejects.toThrow(/wrong token/);

    const env = await GymnasiumEnvironment.start({
      envId: 'InvertedPendulum-v5',
      numEnvs: 2,
      seed: 1,
      remote: { endpoint, serverPublicKey, clientKeyFile: join(dir, 'clients', 'alice.key_secret'), token: 'remote-token' },
    });
    try {
      expect(() => env.pid).toThrow(/remote/);
      expect(env.protocol).toEqual({ bridge: PROTOCOL_VERSION, client: PROTOCOL_VERSION, capabilities: [...CAPABILITIES] });
      const obs = await env.reset();
      expect(obs).toHaveLength(8);
      for (let t = 0; t < 20; t++) await env.step(new Float32Array([0.1, -0.1]));
    } finally {
      await env.close();
    }
    const code = await new Promise<number | null>((resolve) => (server!.exitCode !== null ? resolve(server!.exitCode) : server!.once('exit', (c) => resolve(c))));
    expect(code).toBe(0); // --once: CLOSE ended the only session
    expect(alive(server!.pid!)).toBe(false);
  });
});
