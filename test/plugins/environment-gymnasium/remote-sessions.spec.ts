/**
 * The TS client against one `sparse-rl-bridge serve` (real bridge, real MuJoCo): every
 * `GymnasiumEnvironment` is a session of its own (its own connection and envs), so two
 * environments stepped in turn give exactly what two spawned bridges give; a closed environment
 * frees only its own session; and the client reaches an IPv6 loopback server (`tcp://[::1]:PORT`).
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { GymnasiumEnvironment } from '../../../plugins/environment-gymnasium/gymnasium-environment.js';
import { HAS_VENV, randomActions, startServe, uniformStream } from './helpers.js';

const TOKEN = { SPARSE_RL_BRIDGE_TOKEN: 'sessions-token' };

/** Whether this machine can listen on ::1. */
async function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

const HAS_IPV6 = await hasIpv6Loopback();

describe.skipIf(!HAS_VENV)('sessions of one sparse-rl-bridge serve', () => {
  it('two environments are two sessions with their own envs, bit-identical to spawned bridges', async () => {
    const { proc, endpoint, log } = await startServe(['--bind', 'tcp://127.0.0.1:*'], TOKEN);
    const remote = { endpoint, token: 'sessions-token' };
    const envs: GymnasiumEnvironment[] = [];
    try {
      const a = await GymnasiumEnvironment.start({ envId: 'Hopper-v5', numEnvs: 2, seed: 7, remote });
      envs.push(a);
      const b = await GymnasiumEnvironment.start({ envId: 'Hopper-v5', numEnvs: 1, seed: 1007, remote });
      envs.push(b);
      const la = await GymnasiumEnvironment.start({ envId: 'Hopper-v5', numEnvs: 2, seed: 7 });
      envs.push(la);
      const lb = await GymnasiumEnvironment.start({ envId: 'Hopper-v5', numEnvs: 1, seed: 1007 });
      envs.push(lb);
      expect([a.session, b.session]).toEqual([1, 2]);
      expect([la.session, lb.session]).toEqual([null, null]);
      expect(Array.from(await a.reset())).toEqual(Array.from(await la.reset()));
      expect(Array.from(await b.reset())).toEqual(Array.from(await lb.reset()));
      const rand = uniformStream(3);
      let ends = 0;
      for (let t = 0; t < 150; t++) {
        const actA = randomActions(rand, 6);
        const actB = randomActions(rand, 3);
        const [ra, rb] = [await a.step(actA), await b.step(actB)]; // interleaved on one server
        const [qa, qb] = [await la.step(actA), await lb.step(actB)];
        expect(Array.from(ra.observations)).toEqual(Array.from(qa.observations));
        expect(Array.from(ra.rewards)).toEqual(Array.from(qa.rewards));
        expect(Array.from(rb.observations)).toEqual(Array.from(qb.observations));
        expect(Array.from(rb.terminated)).toEqual(Array.from(qb.terminated));
        ends += ra.episodes.filter((e) => e !== null).length + rb.episodes.filter((e) => e !== null).length;
      }
      expect(ends).toBeGreaterThan(0); // autoresets happened in the sessions
      await b.close();
      await expect.poll(() => log.some((l) => /session 2 \(peer 127\.0\.0\.1\) ended: CLOSE/.test(l))).toBe(true);
      for (let t = 0; t < 5; t++) {
        const act = randomActions(rand, 6);
        expect(Array.from((await a.step(act)).observations)).toEqual(Array.from((await la.step(act)).observations));
      }
    } finally {
      for (const e of envs) await e.close();
      proc.kill('SIGTERM');
    }
  });

  it.skipIf(!HAS_IPV6)('reaches an IPv6 loopback server (tcp://[::1]:PORT)', async () => {
    const { proc, endpoint, log } = await startServe(['--bind', 'tcp://[::1]:*'], TOKEN);
    try {
      expect(endpoint).toMatch(/^tcp:\/\/\[::1\]:\d+$/);
      const env = await GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5', seed: 0, remote: { endpoint, token: 'sessions-token' }, startTimeoutMs: 20_000 });
      try {
        expect(await env.reset()).toHaveLength(4);
        expect((await env.step(new Float32Array([0.1]))).rewards).toHaveLength(1);
        expect(log.some((l) => /session 1 \(peer ::1\): serving InvertedPendulum-v5/.test(l))).toBe(true);
      } finally {
        await env.close();
      }
    } finally {
      proc.kill('SIGTERM');
    }
  });
});
