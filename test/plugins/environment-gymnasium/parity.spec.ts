/**
 * Parity: what the TypeScript client receives through the bridge must be exactly what the same
 * Gymnasium env produces when driven directly in Python (observations after the float32 cast,
 * float64 rewards bit for bit, terminated/truncated flags, final observations, episode
 * statistics, same-step autoreset) over 2000 steps with several episode ends, for HalfCheetah-v5
 * (time limits), Hopper-v5 and Ant-v5 (early terminations under random actions), with both
 * vectorization modes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GymnasiumEnvironment } from '../../../plugins/environment-gymnasium/gymnasium-environment.js';
import { HAS_VENV, VENV_PYTHON, uniformStream, randomActions } from './helpers.js';

/** Independent reference rollout: plain gymnasium.make, no bridge code imported. */
const DIRECT_ROLLOUT = String.raw`
import sys
import numpy as np
import gymnasium as gym

env_id, n, seed, steps, actions_path, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
envs = [gym.make(env_id) for _ in range(n)]
act_dim = int(np.prod(envs[0].action_space.shape))
obs_dim = int(np.prod(envs[0].observation_space.shape))
acts = np.fromfile(actions_path, dtype="<f4").reshape(steps, n, act_dim)
reset_obs = np.stack([np.asarray(e.reset(seed=seed + i)[0], dtype=np.float32) for i, e in enumerate(envs)])
O = np.zeros((steps, n, obs_dim), np.float32)
F = np.zeros((steps, n, obs_dim), np.float32)
R = np.zeros((steps, n), np.float64)
TE = np.zeros((steps, n), np.uint8)
TR = np.zeros((steps, n), np.uint8)
for t in range(steps):
    for i, e in enumerate(envs):
        o, r, te, tr, _ = e.step(acts[t, i])
        R[t, i] = r
        TE[t, i] = te
        TR[t, i] = tr
        if te or tr:
            F[t, i] = np.asarray(o, dtype=np.float32)
            o, _ = e.reset()
        O[t, i] = np.asarray(o, dtype=np.float32)
for name, a in [("reset", reset_obs), ("obs", O), ("final", F), ("rew", R), ("term", TE), ("trunc", TR)]:
    a.astype(a.dtype.newbyteorder("<")).tofile(out + "/" + name + ".bin")
`;

function bytes(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Index of the first differing element (bitwise), or -1. */
function firstMismatch(a: Float32Array | Float64Array | Uint8Array, b: Float32Array | Float64Array | Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const ab = bytes(a);
  const bb = bytes(b);
  const size = a.BYTES_PER_ELEMENT;
  for (let i = 0; i < a.length; i++) {
    if (!ab.subarray(i * size, (i + 1) * size).equals(bb.subarray(i * size, (i + 1) * size))) return i;
  }
  return -1;
}

interface ParityCase {
  readonly envId: string;
  readonly vectorization: 'sync' | 'async';
  readonly obsDim: number;
  readonly actDim: number;
  /** Fewest episode ends expected over the rollout (all envs together). */
  readonly minEnds: number;
  /** Whether early terminations (not only time limits) must occur. */
  readonly terminates: boolean;
}

const STEPS = 2000;
const CASES: readonly ParityCase[] = [
  { envId: 'HalfCheetah-v5', vectorization: 'sync', obsDim: 17, actDim: 6, minEnds: 4, terminates: false }, // 2 time limits per env
  { envId: 'Hopper-v5', vectorization: 'sync', obsDim: 11, actDim: 3, minEnds: 20, terminates: true },
  { envId: 'Hopper-v5', vectorization: 'async', obsDim: 11, actDim: 3, minEnds: 20, terminates: true },
  { envId: 'Ant-v5', vectorization: 'sync', obsDim: 105, actDim: 8, minEnds: 4, terminates: true },
  { envId: 'Ant-v5', vectorization: 'async', obsDim: 105, actDim: 8, minEnds: 4, terminates: true },
];

describe.skipIf(!HAS_VENV)('GymnasiumEnvironment parity with direct Gymnasium', () => {
  it.each(CASES)(
    '$envId ($vectorization), 2 envs, 2000 steps: observations, rewards, flags, final observations and episode statistics are identical',
    async ({ envId, vectorization, obsDim, actDim, minEnds, terminates }) => {
      const n = 2;
      const seed = 12345;
      const steps = STEPS;
      const env = await GymnasiumEnvironment.start({ envId, numEnvs: n, seed: 7, vectorization });
      const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-parity-'));
      try {
        expect(env.vectorization).toBe(vectorization);
        expect(env.info.maxEpisodeSteps).toBe(1000);
        expect(env.actionSpace.type).toBe('box');
        expect([env.obsDim, env.actDim]).toEqual([obsDim, actDim]);

        const rand = uniformStream(2024);
        const allActions = new Float32Array(steps * n * actDim);
        const obs = new Float32Array(steps * n * obsDim);
        const finals = new Float32Array(steps * n * obsDim);
        const rew = new Float64Array(steps * n);
        const term = new Uint8Array(steps * n);
        const trunc = new Uint8Array(steps * n);
        const resetObs = (await env.reset(seed)).slice();
        const runningReturn = new Float64Array(n);
        const runningLength = new Float64Array(n);
        let episodesSeen = 0;
        for (let t = 0; t < steps; t++) {
          const a = randomActions(rand, n * actDim);
          allActions.set(a, t * n * actDim);
          const r = await env.step(a);
          obs.set(r.observations, t * n * obsDim);
          rew.set(r.rewards, t * n);
          term.set(r.terminated, t * n);
          trunc.set(r.truncated, t * n);
          for (let i = 0; i < n; i++) {
            runningReturn[i] += r.rewards[i];
            runningLength[i]++;
            const done = r.terminated[i] === 1 || r.truncated[i] === 1;
            expect(r.finalObservations[i] !== null).toBe(done);
            expect(r.episodes[i] !== null).toBe(done);
            if (done) {
              finals.set(r.finalObservations[i]!, (t * n + i) * obsDim);
              expect(r.episodes[i]!.length).toBe(runningLength[i]);
              expect(r.episodes[i]!.return).toBe(runningReturn[i]); // float64 sum, same order
              runningReturn[i] = 0;
              runningLength[i] = 0;
              episodesSeen++;
            }
          }
        }
        expect(episodesSeen).toBeGreaterThanOrEqual(minEnds);
        const terminations = term.reduce((s, x) => s + x, 0);
        if (terminates) expect(terminations).toBeGreaterThan(0);
        else expect(terminations).toBe(0);

        writeFileSync(join(dir, 'actions.bin'), bytes(allActions));
        writeFileSync(join(dir, 'direct.py'), DIRECT_ROLLOUT);
        const res = spawnSync(VENV_PYTHON, [join(dir, 'direct.py'), envId, String(n), String(seed), String(steps), join(dir, 'actions.bin'), dir], {
          encoding: 'utf8',
          cwd: dir,
        });
        expect(res.status, res.stderr).toBe(0);
        const load = <T>(name: string, ctor: new (b: ArrayBuffer) => T): T => {
          const b = readFileSync(join(dir, `${name}.bin`));
          return new ctor(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
        };
        expect(firstMismatch(resetObs, load('reset', Float32Array))).toBe(-1);
        expect(firstMismatch(obs, load('obs', Float32Array))).toBe(-1);
        expect(firstMismatch(finals, load('final', Float32Array))).toBe(-1);
        expect(firstMismatch(rew, load('rew', Float64Array))).toBe(-1);
        expect(firstMismatch(term, load('term', Uint8Array))).toBe(-1);
        expect(firstMismatch(trunc, load('trunc', Uint8Array))).toBe(-1);
      } finally {
        await env.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
