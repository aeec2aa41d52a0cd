/**
 * Round-trip time of one bridge STEP (HalfCheetah-v5 by default), measured from the TypeScript
 * client:
 *
 *   node dist/bench/bridge-step.js [envId] [numEnvs] [steps] [transports=ipc] [reps=1]
 *
 * after `npm run build` (or `npx vite-node bench/bridge-step.ts`). `transports` is a comma list
 * of local transports (`ipc`, `tcp`, `unix`); with several, and `reps` > 1, the transports and
 * the direct Python loop run interleaved (rep 1: ipc, unix, direct; rep 2: ...) and the medians
 * of the per-rep medians are reported, which is what to compare on a loaded machine. Also reports
 * PING (transport only) and the time of the same steps run directly in Python (no bridge), so
 * the bridge overhead (STEP - direct) can be read off.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { GymnasiumEnvironment } from '../plugins/environment-gymnasium/gymnasium-environment.js';
import type { LocalTransport } from '../plugins/environment-gymnasium/bridge-transport.js';
import { defaultPython } from '../src/util/paths.js';

function quantiles(xs: number[]): { median: number; p10: number; p90: number; mean: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p10: q(0.1), p90: q(0.9), mean: xs.reduce((a, b) => a + b, 0) / xs.length };
}

const median = (xs: number[]): number => quantiles(xs).median;

const fmt = (o: ReturnType<typeof quantiles>) =>
  `median ${o.median.toFixed(1)} us  (p10 ${o.p10.toFixed(1)}, p90 ${o.p90.toFixed(1)}, mean ${o.mean.toFixed(1)})`;

/** Median time of `steps` direct Python vector steps (no bridge), in us. */
function direct(envId: string, numEnvs: number, steps: number): number | null {
  const r = spawnSync(
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
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

async function bridge(envId: string, numEnvs: number, steps: number, transport: LocalTransport): Promise<{ step: number[]; ping: number[]; versions: Record<string, string> }> {
  const env = await GymnasiumEnvironment.start({ envId, numEnvs, seed: 0, transport });
  try {
    await env.reset();
    const actions = new Float32Array(numEnvs * env.actDim);
    const step: number[] = [];
    const ping: number[] = [];
    for (let i = 0; i < 200; i++) await env.step(actions); // warm-up
    for (let i = 0; i < steps; i++) {
      for (let j = 0; j < actions.length; j++) actions[j] = Math.sin(i * 0.1 + j);
      const t0 = process.hrtime.bigint();
      await env.step(actions);
      step.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    for (let i = 0; i < Math.min(steps, 2000); i++) {
      const t0 = process.hrtime.bigint();
      await env.ping();
      ping.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    return { step, ping, versions: { ...env.info.versions } };
  } finally {
    await env.close();
  }
}

async function main(): Promise<void> {
  const envId = process.argv[2] ?? 'HalfCheetah-v5';
  const numEnvs = Number(process.argv[3] ?? 1);
  const steps = Number(process.argv[4] ?? 5000);
  const transports = (process.argv[5] ?? 'ipc').split(',').filter(Boolean) as LocalTransport[];
  const reps = Number(process.argv[6] ?? 1);
  const load0 = loadavg()[0];
  const perRep = new Map<string, { step: number[]; ping: number[] }>(transports.map((t) => [t, { step: [], ping: [] }]));
  const all = new Map<string, { step: number[]; ping: number[] }>(transports.map((t) => [t, { step: [], ping: [] }]));
  const directs: number[] = [];
  let versions: Record<string, string> = {};
  for (let rep = 0; rep < reps; rep++) {
    for (const t of transports) {
      const r = await bridge(envId, numEnvs, steps, t);
      versions = r.versions;
      perRep.get(t)!.step.push(median(r.step));
      perRep.get(t)!.ping.push(median(r.ping));
      all.get(t)!.step.push(...r.step);
      all.get(t)!.ping.push(...r.ping);
    }
    const d = direct(envId, numEnvs, steps);
    if (d !== null) directs.push(d);
    if (reps > 1) process.stderr.write(`rep ${rep + 1}/${reps} done\n`);
  }
  console.log(
    `${envId} x${numEnvs}, ${steps} steps x ${reps} reps; bridge ${versions.bridge}, python ${versions.python}, mujoco ${versions.mujoco}; ` +
      `${cpus().length} CPUs, load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`,
  );
  const d = directs.length ? median(directs) : null;
  for (const t of transports) {
    const s = all.get(t)!;
    const pre = transports.length > 1 || t !== 'ipc' ? `[${t}] ` : '';
    console.log(`${pre}STEP round trip:      ${fmt(quantiles(s.step))}`);
    console.log(`${pre}PING round trip:      ${fmt(quantiles(s.ping))}`);
    if (reps > 1) {
      const ms = median(perRep.get(t)!.step);
      console.log(`${pre}STEP median of rep medians: ${ms.toFixed(1)} us${d !== null ? `; overhead vs direct ${(ms - d).toFixed(1)} us` : ''} (reps: ${perRep.get(t)!.step.map((x) => x.toFixed(0)).join(', ')})`);
    }
  }
  if (d !== null) console.log(`direct Python step:   median ${d.toFixed(1)} us (no bridge${reps > 1 ? `; reps: ${directs.map((x) => x.toFixed(0)).join(', ')}` : ''})`);
}

await main();
