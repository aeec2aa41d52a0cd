/**
 * `saveState` / `restoreState` through the real bridge and real MuJoCo: a state captured
 * mid-episode and restored into a fresh environment continues bit for bit (episode ends and
 * autoresets included); mismatches are rejected naming the field; a non-MuJoCo env says why it
 * cannot be captured.
 */
import { describe, expect, it } from 'vitest';
import type { StepResult } from '../../../src/index.js';
import { GymnasiumEnvironment } from '../../../plugins/environment-gymnasium/gymnasium-environment.js';
import { HAS_VENV, randomActions, uniformStream } from './helpers.js';

/** Every field of each step result, as plain arrays (Float32Array / Float64Array values compared exactly). */
function record(results: readonly StepResult[]): unknown[] {
  return results.map((r) => ({
    observations: Array.from(r.observations),
    rewards: Array.from(r.rewards),
    terminated: Array.from(r.terminated),
    truncated: Array.from(r.truncated),
    finals: r.finalObservations.map((f) => (f ? Array.from(f) : null)),
    episodes: r.episodes,
  }));
}

async function steps(env: GymnasiumEnvironment, actions: readonly Float32Array[]): Promise<StepResult[]> {
  const out: StepResult[] = [];
  for (const a of actions) out.push(await env.step(a));
  return out;
}

describe.skipIf(!HAS_VENV)('saveState / restoreState', () => {
  for (const [envId, kwargs, vectorization] of [
    ['HalfCheetah-v5', { max_episode_steps: 60 }, 'sync'],
    ['Hopper-v5', {}, 'async'],
  ] as const) {
    it(`${envId} (${vectorization}): restored into a fresh environment, the next steps are bit-identical`, async () => {
      const rand = uniformStream(21);
      const actDim = envId === 'Hopper-v5' ? 3 : 6;
      const actions = Array.from({ length: 100 }, () => randomActions(rand, 2 * actDim));
      const a = await GymnasiumEnvironment.start({ envId, kwargs, numEnvs: 2, seed: 4, vectorization });
      let b: GymnasiumEnvironment | undefined;
      try {
        await a.reset();
        const before = await steps(a, actions.slice(0, 40));
        const snap = await a.saveState();
        if (!snap.restorable) throw new Error(snap.reason);
        expect(snap.payload).toBeInstanceOf(Uint8Array);
        const ref = await steps(a, actions.slice(40));
        expect(ref.some((r) => r.episodes.some((e) => e !== null))).toBe(true); // an episode end + autoreset inside

        b = await GymnasiumEnvironment.start({ envId, kwargs, numEnvs: 2, seed: 777, vectorization });
        const obs = await b.restoreState(snap.payload);
        expect(Array.from(obs)).toEqual(Array.from(before.at(-1)!.observations));
        expect(record(await steps(b, actions.slice(40)))).toEqual(record(ref));
      } finally {
        await a.close();
        await b?.close();
      }
    });
  }

  it('a payload of another env id or numEnvs is rejected naming the field; a non-MuJoCo env is not restorable', async () => {
    const a = await GymnasiumEnvironment.start({ envId: 'HalfCheetah-v5', numEnvs: 2 });
    const others: GymnasiumEnvironment[] = [];
    try {
      await a.reset(3);
      await a.step(new Float32Array(12).fill(0.5));
      const snap = await a.saveState();
      if (!snap.restorable) throw new Error(snap.reason);
      const hopper = await GymnasiumEnvironment.start({ envId: 'Hopper-v5', numEnvs: 2 });
      others.push(hopper);
      await expect(hopper.restoreState(snap.payload)).rejects.toThrow(/env_id mismatch: the state is of env_id 'HalfCheetah-v5', this session has 'Hopper-v5'/);
      const single = await GymnasiumEnvironment.start({ envId: 'HalfCheetah-v5', numEnvs: 1 });
      others.push(single);
      await expect(single.restoreState(snap.payload)).rejects.toThrow(/num_envs mismatch: the state is of num_envs 2, this session has 1/);
      await expect(single.restoreState(new TextEncoder().encode('{"format": 1}'))).rejects.toThrow(/not a sparse-rl-env-state payload/);
      expect((await single.reset(0)).length).toBe(17); // still usable

      const cartPole = await GymnasiumEnvironment.start({ envId: 'CartPole-v1' });
      others.push(cartPole);
      await cartPole.reset(0);
      const s = await cartPole.saveState();
      expect(s.restorable).toBe(false);
      if (!s.restorable) expect(s.reason).toMatch(/CartPoleEnv is not a Gymnasium MuJoCo v5 env/);
    } finally {
      await a.close();
      await Promise.all(others.map((e) => e.close()));
    }
  });
});
