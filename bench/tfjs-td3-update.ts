/**
 * Times one TD3-shaped gradient update on the tfjs engine (docs/architecture.md §4), per backend.
 *
 * One update = target policy + twin target critics (predict), twin critics forward + backward +
 * Adam, actor forward → critic 1 forward → critic 1 backward with input gradient → actor backward
 * + Adam, and three Polyak target updates. Shapes as in TD3 on HalfCheetah: obs 17, act 6,
 * critics 23→256→256→1, actor 17→256→256→6 (tanh), batch 256. Every update runs the actor step
 * (no policy delay), so this is the cost of a full TD3 iteration.
 *
 * Usage (no build step): `npx vite-node bench/tfjs-td3-update.ts [wasm] [cpu] [tensorflow]
 *   [--density=0.1] [--reps=30]`; or after `npm run build`: `node dist/bench/tfjs-td3-update.js ...`.
 * Prints one line per backend: median, 10th and 90th percentile of the wall time of one update, ms.
 */
import type { Engine, Mlp, Optimizer } from '../src/nn/engine.js';
import { initLinearDefault } from '../src/nn/init.js';
import { createTfjsEngine, type TfjsBackendChoice } from '../src/nn/tfjs-engine.js';
import { initialMask } from '../src/sparse/mask.js';
import { Rng } from '../src/util/rng.js';

const OBS = 17;
const ACT = 6;
const HIDDEN = 256;
const BATCH = 256;

interface Td3Nets {
  actor: Mlp;
  actorTarget: Mlp;
  critics: [Mlp, Mlp];
  criticTargets: [Mlp, Mlp];
  actorOpt: Optimizer;
  criticOpts: [Optimizer, Optimizer];
}

function buildNets(engine: Engine, density: number, rng: Rng): Td3Nets {
  const actorSpec = (name: string) => ({ name, layerSizes: [OBS, HIDDEN, HIDDEN, ACT], hiddenActivation: 'relu', outputActivation: 'tanh' }) as const;
  const criticSpec = (name: string) => ({ name, layerSizes: [OBS + ACT, HIDDEN, HIDDEN, 1], hiddenActivation: 'relu', outputActivation: 'linear' }) as const;
  const actor = engine.createMlp(actorSpec('actor'));
  const actorTarget = engine.createMlp(actorSpec('actorTarget'));
  const critics: [Mlp, Mlp] = [engine.createMlp(criticSpec('critic1')), engine.createMlp(criticSpec('critic2'))];
  const criticTargets: [Mlp, Mlp] = [engine.createMlp(criticSpec('critic1Target')), engine.createMlp(criticSpec('critic2Target'))];
  for (const net of [actor, ...critics]) {
    initLinearDefault(net, rng);
    if (density < 1) net.layers.forEach((l, k) => net.setMask(k, initialMask(l.weight, Math.round(density * l.weight.length), 'random', rng)));
  }
  actorTarget.copyFrom(actor);
  criticTargets[0].copyFrom(critics[0]);
  criticTargets[1].copyFrom(critics[1]);
  return {
    actor,
    actorTarget,
    critics,
    criticTargets,
    actorOpt: engine.createAdam(actor, { lr: 3e-4 }),
    criticOpts: [engine.createAdam(critics[0], { lr: 3e-4 }), engine.createAdam(critics[1], { lr: 3e-4 })],
  };
}

function concatRows(a: Float32Array, da: number, b: Float32Array, db: number, n: number, out: Float32Array): void {
  for (let i = 0; i < n; i++) {
    out.set(a.subarray(i * da, (i + 1) * da), i * (da + db));
    out.set(b.subarray(i * db, (i + 1) * db), i * (da + db) + da);
  }
}

/** One TD3 update on a fixed random batch. */
function update(n: Td3Nets, batch: { s: Float32Array; a: Float32Array; r: Float32Array; s2: Float32Array }, rng: Rng): void {
  const b = BATCH;
  const sa = new Float32Array(b * (OBS + ACT));
  const a2 = n.actorTarget.predict(batch.s2, b);
  for (let i = 0; i < a2.length; i++) a2[i] = Math.max(-1, Math.min(1, a2[i] + Math.max(-0.5, Math.min(0.5, 0.2 * rng.normal()))));
  concatRows(batch.s2, OBS, a2, ACT, b, sa);
  const q1 = n.criticTargets[0].predict(sa, b);
  const q2 = n.criticTargets[1].predict(sa, b);
  const y = new Float32Array(b);
  for (let i = 0; i < b; i++) y[i] = batch.r[i] + 0.99 * Math.min(q1[i], q2[i]);

  concatRows(batch.s, OBS, batch.a, ACT, b, sa);
  const gq = new Float32Array(b);
  for (const critic of n.critics) {
    const q = critic.forward(sa, b);
    for (let i = 0; i < b; i++) gq[i] = (2 * (q[i] - y[i])) / b;
    critic.backward(gq);
  }
  n.criticOpts[0].step();
  n.criticOpts[1].step();

  const act = n.actor.forward(batch.s, b);
  concatRows(batch.s, OBS, act, ACT, b, sa);
  n.critics[0].forward(sa, b);
  const dsa = n.critics[0].backward(gq.fill(-1 / b), { inputGrad: true })!;
  const da = new Float32Array(b * ACT);
  for (let i = 0; i < b; i++) da.set(dsa.subarray(i * (OBS + ACT) + OBS, (i + 1) * (OBS + ACT)), i * ACT);
  n.actor.backward(da);
  n.actorOpt.step();

  n.actorTarget.polyakFrom(n.actor, 0.005);
  n.criticTargets[0].polyakFrom(n.critics[0], 0.005);
  n.criticTargets[1].polyakFrom(n.critics[1], 0.005);
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const backends = args.filter((a): a is TfjsBackendChoice => ['auto', 'tensorflow', 'wasm', 'cpu'].includes(a));
  const density = Number(args.find((a) => a.startsWith('--density='))?.slice(10) ?? 1);
  const reps = Number(args.find((a) => a.startsWith('--reps='))?.slice(7) ?? 30);
  for (const backend of backends.length > 0 ? backends : (['wasm', 'cpu'] as const)) {
    let engine: Engine;
    try {
      engine = await createTfjsEngine(backend);
    } catch (err) {
      console.log(`${backend}: ${(err as Error).message}`);
      continue;
    }
    const rng = new Rng(1);
    const nets = buildNets(engine, density, rng);
    const rand = (k: number, scale = 1) => Float32Array.from({ length: k }, () => scale * rng.normal());
    const batch = { s: rand(BATCH * OBS), a: rand(BATCH * ACT, 0.5).map((v) => Math.tanh(v)), r: rand(BATCH), s2: rand(BATCH * OBS) };
    const warmup = Math.max(3, Math.round(reps / 10));
    for (let i = 0; i < warmup; i++) update(nets, batch, rng);
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      update(nets, batch, rng);
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    console.log(
      `${engine.description}: TD3 update (batch ${BATCH}, density ${density}) median ${quantile(times, 0.5).toFixed(1)} ms ` +
        `(p10 ${quantile(times, 0.1).toFixed(1)}, p90 ${quantile(times, 0.9).toFixed(1)}, ${reps} reps)`,
    );
    for (const net of [nets.actor, nets.actorTarget, ...nets.critics, ...nets.criticTargets]) net.dispose();
  }
}

await main();
