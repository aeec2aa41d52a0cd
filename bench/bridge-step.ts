/**
 * Round-trip time of one bridge STEP (HalfCheetah-v5 by default), measured from the TypeScript
 * client: `node dist/bench/bridge-step.js [envId] [numEnvs] [steps]` after `npm run build`
 * (or `npx vite-node bench/bridge-step.ts`). Also reports PING (transport only) and the time of
 * the same steps run directly in Python (no bridge), so the bridge overhead can be read off.
 */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { GymnasiumEnvironment } from '../plugins/environment-gymnasium/gymnasium-environment.js';
import { defaultPython } from '../src/util/paths.js';

function quantiles(xs: number[]): { median: number; p10: number; p90: number; mean: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p10: q(0.1), p90: q(0.9), mean: xs.reduce((a, b) => a + b, 0) / xs.length };
}

const fmt = (o: ReturnType<typeof quantiles>) =>
  `median ${o.median.toFixed(1)} us  (p10 ${o.p10.toFixed(1)}, p90 ${o.p90.toFixed(1)}, mean ${o.mean.toFixed(1)})`;

async function main(): Promise<void> {
  const envId = process.argv[2] ?? 'HalfCheetah-v5';
  const numEnvs = Number(process.argv[3] ?? 1);
  const steps = Number(process.argv[4] ?? 5000);
  const env = await GymnasiumEnvironment.start({ envId, numEnvs, seed: 0 });
  try {
    await env.reset();
    const actions = new Float32Array(numEnvs * env.actDim);
    const stepTimes: number[] = [];
    const pingTimes: number[] = [];
    for (let i = 0; i < 200; i++) await env.step(actions); // warm-up
    for (let i = 0; i < steps; i++) {
      for (let j = 0; j < actions.length; j++) actions[j] = Math.sin(i * 0.1 + j);
      const t0 = process.hrtime.bigint();
      await env.step(actions);
      stepTimes.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    for (let i = 0; i < Math.min(steps, 2000); i++) {
      const t0 = process.hrtime.bigint();
      await env.ping();
      pingTimes.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    const direct = spawnSync(
      defaultPython(),
      [
        '-c',
        `import time, numpy as np, gymnasium as gym
envs = [gym.make(${JSON.stringify(envId)}) for _ in range(${numEnvs})]
for i, e in enumerate(envs): e.reset(seed=i)
a = np.zeros(envs[0].action_space.shape, np.float32)
ts = []
for k in range(${steps}):
    t = time.perf_counter()
    for e in envs:
        o, r, te, tr, _ = e.step(a)
        if te or tr: e.reset()
    ts.append((time.perf_counter() - t) * 1e6)
print(sorted(ts)[len(ts) // 2])`,
      ],
      { encoding: 'utf8', cwd: tmpdir() }, // MuJoCo may write MUJOCO_LOG.TXT into the cwd
    );
    console.log(`${envId} x${numEnvs}, ${steps} steps; bridge ${env.info.versions.bridge}, python ${env.info.versions.python}, mujoco ${env.info.versions.mujoco}`);
    console.log(`STEP round trip:      ${fmt(quantiles(stepTimes))}`);
    console.log(`PING round trip:      ${fmt(quantiles(pingTimes))}`);
    if (direct.status === 0) console.log(`direct Python step:   median ${Number(direct.stdout.trim()).toFixed(1)} us (no bridge)`);
  } finally {
    await env.close();
  }
}

await main();
