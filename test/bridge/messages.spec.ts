/**
 * Every header exchanged with the real bridge (HELLO/WELCOME, RESET, STEP with terminations and
 * final observations, ERROR, PING, CLOSE; Box and Discrete spaces) validates against
 * schemas/bridge-protocol.schema.json.
 */
import { describe, expect, it } from 'vitest';
import { GymnasiumEnvironment } from '../../src/bridge/gymnasium-environment.js';
import type { WireHeader } from '../../src/bridge/protocol.js';
import { HAS_VENV, mulberry32, protocolValidator, randomActions } from './helpers.js';

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
      const rand = mulberry32(5);
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
});
