/**
 * Bridge throughput: HalfCheetah-v5 steps per second in a plain Python in-process loop versus
 * through the bridge from TypeScript, for numEnvs 1 and 8 (random actions in [-1, 1), same
 * seeds), as the median of interleaved repetitions, plus the bridge's overhead per STEP.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/bridge-throughput.js [reps=5] [envSteps=4000] [envId] [transports=ipc]
 *
 * "in-process" is what a Python trainer would do: `gymnasium.make` envs stepped in a list with
 * same-step autoreset, observations stored into a float32 array. "bridge sync/async" is
 * `GymnasiumEnvironment.step()` end to end (encode, ZeroMQ, Python, decode). Overhead per STEP
 * = (bridge time per STEP) - (in-process time per vector step), in microseconds. `transports` is a
 * comma list of local transports (`ipc`, `tcp`, `unix`: see `bridge-transport.ts`), measured
 * interleaved with everything else.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { GymnasiumEnvironment } from '../plugins/environment-gymnasium/gymnasium-environment.js';
import type { Vectorization } from '../plugins/environment-gymnasium/protocol.js';
import type { LocalTransport } from '../plugins/environment-gymnasium/bridge-transport.js';
import { defaultPython } from '../src/util/paths.js';

const IN_PROCESS = String.raw`
import json, sys, time
import numpy as np
import gymnasium as gym
env_id, n, steps, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
envs = [gym.make(env_id) for _ in range(n)]
act_dim = envs[0].action_space.shape[0]
obs_dim = envs[0].observation_space.shape[0]
rng = np.random.default_rng(seed)
acts = rng.uniform(-1, 1, (steps, n, act_dim)).astype(np.float32)
obs = np.empty((n, obs_dim), np.float32)
rew = np.empty(n)
for i, e in enumerate(envs):
    e.reset(seed=seed + i)
def run(k):
    for t in range(k):
        a = acts[t]
        for i, e in enumerate(envs):
            o, r, te, tr, _ = e.step(a[i])
            rew[i] = r
            if te or tr:
                o, _ = e.reset()
            obs[i] = o
run(min(steps, 200))  # warm-up
t0 = time.perf_counter()
run(steps)
print(json.dumps({"seconds": time.perf_counter() - t0}))
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Seconds for `steps` vector steps of `n` envs in one Python process. */
function inProcess(envId: string, n: number, steps: number, seed: number): number {
  const r = spawnSync(defaultPython(), ['-c', IN_PROCESS, envId, String(n), String(steps), String(seed)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`in-process run failed: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { seconds: number }).seconds;
}

/** Seconds for `steps` STEPs of `n` envs through the bridge (start-up and warm-up excluded). */
async function throughBridge(envId: string, n: number, steps: number, seed: number, vectorization: Vectorization, transport: LocalTransport): Promise<number> {
  const env = await GymnasiumEnvironment.start({ envId, numEnvs: n, seed, vectorization, transport });
  try {
    await env.reset();
    let s = seed >>> 0 || 1;
    const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
    const acts: Float32Array[] = [];
    for (let t = 0; t < steps; t++) acts.push(Float32Array.from({ length: n * env.actDim }, rand));
    for (let t = 0; t < Math.min(steps, 200); t++) await env.step(acts[t]);
    const t0 = process.hrtime.bigint();
    for (let t = 0; t < steps; t++) await env.step(acts[t]);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  } finally {
    await env.close();
  }
}

async function main(): Promise<void> {
  const reps = Number(process.argv[2] ?? 5);
  const envSteps = Number(process.argv[3] ?? 4000);
  const envId = process.argv[4] ?? 'HalfCheetah-v5';
  const transports = (process.argv[5] ?? 'ipc').split(',').filter(Boolean) as LocalTransport[];
  const configs: { n: number; modes: Vectorization[] }[] = [
    { n: 1, modes: ['sync'] },
    { n: 8, modes: ['sync', 'async'] },
  ];
  const times = new Map<string, number[]>();
  const add = (k: string, v: number) => times.set(k, [...(times.get(k) ?? []), v]);
  for (let rep = 0; rep < reps; rep++) {
    for (const { n, modes } of configs) {
      const steps = Math.ceil(envSteps / n);
      add(`py ${n}`, inProcess(envId, n, steps, 100 + rep) / steps);
      for (const m of modes) for (const t of transports) add(`${m} ${n} ${t}`, (await throughBridge(envId, n, steps, 100 + rep, m, t)) / steps);
    }
    process.stderr.write(`rep ${rep + 1}/${reps} done\n`);
  }
  console.log(
    `${envId}, ${envSteps} env-steps per measurement, median of ${reps} interleaved reps; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}, load average ${loadavg()[0].toFixed(1)}`,
  );
  console.log('numEnvs | mode  | transport | in-process env-steps/s | bridge env-steps/s | ratio | overhead per STEP (us)');
  for (const { n, modes } of configs) {
    const py = median(times.get(`py ${n}`)!);
    for (const m of modes) {
      for (const t of transports) {
        const br = median(times.get(`${m} ${n} ${t}`)!);
        console.log(
          `${String(n).padStart(7)} | ${m.padEnd(5)} | ${t.padEnd(9)} | ${(n / py).toFixed(0).padStart(22)} | ${(n / br).toFixed(0).padStart(18)} | ${(py / br).toFixed(2).padStart(5)} | ${((br - py) * 1e6).toFixed(1).padStart(8)}`,
        );
      }
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
