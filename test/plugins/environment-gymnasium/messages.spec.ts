/**
 * Every header exchanged with the real bridge (HELLO/WELCOME, RESET, STEP with terminations and
 * final observations, ERROR, PING, CLOSE, GET_STATE/SET_STATE; Box, Discrete, Dict and
 * MultiDiscrete spaces; async vectorization; clipped actions) validates against
 * schemas/bridge-protocol.schema.json.
 */
import { describe, expect, it } from 'vitest';
import { GymnasiumEnvironment } from '../../../plugins/environment-gymnasium/gymnasium-environment.js';
import { join } from 'node:path';
import { CAPABILITIES, PROTOCOL_VERSION, type WireHeader } from '../../../plugins/environment-gymnasium/protocol.js';
import { HAS_VENV, ROOT, uniformStream, protocolValidator, randomActions } from './helpers.js';

describe.skipIf(!HAS_VENV)('messages exchanged with the real bridge', () => {
  const validate = protocolValidator();
  const check = (log: { direction: string; header: WireHeader }[]) => {
    for (const { direction, header } of log) {
      expect(validate(header), `${direction} ${header.type}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(header)}`).toBe(true);
    }
  };

  it('InvertedPendulum-v5 x3 (Box, terminations, ERROR) validates against the schema', async () => {
    const log: { direction: string; header: WireHeader }[] = [];
    const env = await GymnasiumEnvironment.start({
      envId: 'InvertedPendulum-v5',
      numEnvs: 3,
      seed: 11,
      onMessage: (direction, header) => log.push({ direction, header }),
    });
    try {
      expect(env.observationSpace).toMatchObject({ type: 'box', shape: [4] });
      if (env.observationSpace.type === 'box') expect(env.observationSpace.low[0]).toBe(-Infinity);
      expect(env.info.versions.mujoco).toMatch(/^\d/);
      await env.reset();
      const rand = uniformStream(5);
      let finished = 0;
      for (let t = 0; t < 150; t++) {
        const r = await env.step(randomActions(rand, 3).map((x) => 3 * x));
        for (let i = 0; i < 3; i++) {
          if (r.terminated[i]) {
            finished++;
            expect(r.finalObservations[i]).toHaveLength(4);
            expect(r.episodes[i]!.length).toBeGreaterThan(0);
          }
        }
      }
      expect(finished).toBeGreaterThan(3);
      await expect(env.step(new Float32Array([0, Number.POSITIVE_INFINITY, 0]))).rejects.toThrow(/finite/);
      await env.ping();
    } finally {
      await env.close();
    }
    const types = new Set(log.map((l) => l.header.type));
    for (const t of ['HELLO', 'WELCOME', 'RESET', 'RESET_RESULT', 'STEP', 'STEP_RESULT', 'ERROR', 'PING', 'PONG', 'CLOSE', 'CLOSED']) expect(types).toContain(t);
    expect(log.some((l) => l.header.type === 'STEP_RESULT' && Array.isArray(l.header.final_indices))).toBe(true);
    check(log);
  });

  it('CartPole-v1 (Discrete actions) and an unknown id (ERROR at HELLO) validate too', async () => {
    const log: { direction: string; header: WireHeader }[] = [];
    const env = await GymnasiumEnvironment.start({ envId: 'CartPole-v1', numEnvs: 2, onMessage: (direction, header) => log.push({ direction, header }) });
    try {
      expect(env.actionSpace).toEqual({ type: 'discrete', n: 2, start: 0 });
      expect(env.actDim).toBe(1);
      await env.reset(0);
      for (let t = 0; t < 60; t++) await env.step(new Float32Array([t % 2, 1]));
      await expect(env.step(new Float32Array([0.5, 1]))).rejects.toThrow(/Discrete actions must be integers/);
      await expect(env.step(new Float32Array([2, 1]))).rejects.toThrow(/Discrete actions/);
    } finally {
      await env.close();
    }
    await expect(GymnasiumEnvironment.start({ envId: 'NoSuchEnv', onMessage: (direction, header) => log.push({ direction, header }) })).rejects.toThrow(/doesn't exist/);
    expect(log.at(-1)!.header.type).toBe('ERROR');
    check(log);
  });

  it('async vectorization, extended spaces (Dict obs, MultiDiscrete actions) and clipped actions validate too', async () => {
    const log: { direction: string; header: WireHeader }[] = [];
    const onMessage = (direction: string, header: WireHeader) => log.push({ direction, header });
    const saved = process.env.PYTHONPATH;
    process.env.PYTHONPATH = join(ROOT, 'bridge-python', 'tests'); // test-only env module
    let env: GymnasiumEnvironment;
    try {
      env = await GymnasiumEnvironment.start({ envId: 'spaces_env:DictObs-v0', numEnvs: 2, seed: 1, vectorization: 'async', onMessage });
    } finally {
      if (saved === undefined) delete process.env.PYTHONPATH;
      else process.env.PYTHONPATH = saved;
    }
    try {
      expect(env.vectorization).toBe('async');
      expect(env.observationSpace.type).toBe('dict');
      expect(env.actionSpace).toEqual({ type: 'multi-discrete', shape: [2], nvec: [3, 2], start: [0, 0] });
      expect(env.obsDim).toBe(2 + 3 + 2); // flags (MultiBinary 2) + mode (one-hot 3) + pos (Box 2)
      await env.reset();
      let ends = 0;
      for (let t = 0; t < 40; t++) {
        const r = await env.step(new Float32Array([t % 3, t % 2, 2, 1]));
        ends += r.finalObservations.filter((f) => f !== null).length;
      }
      expect(ends).toBeGreaterThan(0);
      await expect(env.step(new Float32Array([3, 0, 0, 0]))).rejects.toThrow(/MultiDiscrete actions must be integers/);
    } finally {
      await env.close();
    }
    const cheetah = await GymnasiumEnvironment.start({ envId: 'HalfCheetah-v5', onMessage });
    try {
      await cheetah.reset(0);
      await cheetah.step(new Float32Array([2, -2, 0, 0, 0, 1.5]));
      expect(cheetah.actionsClipped).toBe(3);
    } finally {
      await cheetah.close();
    }
    expect(log.some((l) => l.header.type === 'STEP_RESULT' && l.header.actions_clipped === 3)).toBe(true);
    expect(log.find((l) => l.header.type === 'HELLO')!.header).toMatchObject({ protocol: PROTOCOL_VERSION, capabilities: [...CAPABILITIES], vectorization: 'async' });
    check(log);
  });

  it('state capture (GET_STATE / SET_STATE, restorable or not) and a refused render mode validate too', async () => {
    const log: { direction: string; header: WireHeader }[] = [];
    const onMessage = (direction: string, header: WireHeader) => log.push({ direction, header });
    const a = await GymnasiumEnvironment.start({ envId: 'Hopper-v5', numEnvs: 2, onMessage });
    const b = await GymnasiumEnvironment.start({ envId: 'Hopper-v5', numEnvs: 2, onMessage });
    const c = await GymnasiumEnvironment.start({ envId: 'CartPole-v1', onMessage });
    try {
      expect(a.protocol.capabilities).toEqual(expect.arrayContaining(['state.snapshot', 'render.video']));
      await a.reset(1);
      await a.step(new Float32Array(6).fill(0.2));
      const snap = await a.saveState();
      if (!snap.restorable) throw new Error(snap.reason);
      await b.restoreState(snap.payload);
      await expect(b.restoreState(new Uint8Array([1, 2, 3]))).rejects.toThrow(/not a sparse-rl-env-state payload/);
      expect((await c.saveState()).restorable).toBe(false); // before reset
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
    await expect(GymnasiumEnvironment.start({ envId: 'Hopper-v5', kwargs: { render_mode: 'human' }, onMessage })).rejects.toThrow(/needs a display/);
    const types = new Set(log.map((l) => l.header.type));
    for (const t of ['GET_STATE', 'GET_STATE_RESULT', 'SET_STATE', 'SET_STATE_RESULT', 'ERROR']) expect(types).toContain(t);
    expect(log.filter((l) => l.header.type === 'GET_STATE_RESULT').map((l) => l.header.restorable)).toEqual([true, false]);
    check(log);
  });
});
