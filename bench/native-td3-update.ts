/**
 * Quick timing of one TD3 update on the native engine, driven directly through the `Engine` API
 * (no agent code): 256-256 ReLU MLPs, batch 256, obs 17, act 6 (HalfCheetah sizes).
 *
 * One update = target actor predict + target policy smoothing noise, two target critics predict,
 * two critics forward/backward + Adam; every 2nd update the actor update through critic1
 * (forward, backward with input gradient, actor backward, Adam) and the Polyak update of the
 * three targets. Random data (a few pre-drawn batches, cycled).
 *
 * Prints the median (and best) over `--reps` repetitions of the mean time per update (ms), dense
 * and with random unstructured masks on every layer at each `--sparsity` (configurations
 * interleaved per repetition so they see the same machine load), plus a per-operation breakdown.
 *
 * Usage: npx vite-node bench/native-td3-update.ts -- [--reps 7] [--iters 200] [--threads 2]
 *        [--sparsity 0.9,0.8,0.5]
 */
import { parseArgs } from 'node:util';

import type { Engine, Mlp, MlpSpec, Optimizer } from '../src/nn/engine.js';
import { createNativeEngine } from '../src/nn/native-engine.js';
import { concatRows } from '../src/rl/twin-critics.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    reps: { type: 'string', default: '7' },
    iters: { type: 'string', default: '200' },
    threads: { type: 'string', default: '2' },
    sparsity: { type: 'string', default: '0.9' },
  },
});
const reps = Math.max(5, Number(values.reps));
const iters = Number(values.iters);
const threads = Number(values.threads);
const sparsities = String(values.sparsity).split(',').map(Number);

const OBS = 17;
const ACT = 6;
const BATCH = 256;
const HIDDEN = 256;
const GAMMA = 0.99;
const TAU = 0.005;

const rng = new Rng(12345);
const rand = () => rng.uniform();
const randn = () => rng.normal();
function randomArray(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = randn() * scale;
  return a;
}

interface Batch {
  obs: Float32Array;
  act: Float32Array;
  rew: Float32Array;
  nextObs: Float32Array;
  done: Float32Array;
}

interface Td3 {
  actor: Mlp;
  actorTarget: Mlp;
  critics: Mlp[];
  criticTargets: Mlp[];
  actorOpt: Optimizer;
  criticOpts: Optimizer[];
}

function build(engine: Engine, sparsity: number): Td3 {
  const mk = (name: string, sizes: number[], out: 'tanh' | 'linear'): Mlp => {
    const spec: MlpSpec = { name, layerSizes: sizes, hiddenActivation: 'relu', outputActivation: out };
    return engine.createMlp(spec);
  };
  const init = (net: Mlp) => {
    for (const l of net.layers) {
      const b = 1 / Math.sqrt(l.inFeatures);
      for (let i = 0; i < l.weight.length; i++) l.weight[i] = (2 * rand() - 1) * b;
      for (let i = 0; i < l.bias.length; i++) l.bias[i] = (2 * rand() - 1) * b;
      if (sparsity > 0) {
        const m = new Float32Array(l.weight.length);
        for (let i = 0; i < m.length; i++) m[i] = rand() < 1 - sparsity ? 1 : 0;
        net.setMask(net.layers.indexOf(l), m);
      }
    }
  };
  const actor = mk('actor', [OBS, HIDDEN, HIDDEN, ACT], 'tanh');
  const critics = [1, 2].map((i) => mk(`critic${i}`, [OBS + ACT, HIDDEN, HIDDEN, 1], 'linear'));
  [actor, ...critics].forEach(init);
  const actorTarget = mk('actorTarget', [OBS, HIDDEN, HIDDEN, ACT], 'tanh');
  actorTarget.copyFrom(actor);
  const criticTargets = critics.map((c, i) => {
    const t = mk(`critic${i + 1}Target`, [OBS + ACT, HIDDEN, HIDDEN, 1], 'linear');
    t.copyFrom(c);
    return t;
  });
  return {
    actor,
    actorTarget,
    critics,
    criticTargets,
    actorOpt: engine.createAdam(actor, { lr: 3e-4 }),
    criticOpts: critics.map((c) => engine.createAdam(c, { lr: 3e-4 })),
  };
}

/** The critic input `(s, a)` of the bench batch (`concatRows` of the agents). */
const concat = (a: Float32Array, aw: number, b: Float32Array, bw: number, out: Float32Array) => concatRows(a, aw, b, bw, BATCH, out);

/** Accumulated time per operation (ms) when `timed` is on. */
const breakdown = new Map<string, number>();
let timed = false;
function op<T>(name: string, fn: () => T): T {
  if (!timed) return fn();
  const t0 = performance.now();
  const r = fn();
  breakdown.set(name, (breakdown.get(name) ?? 0) + performance.now() - t0);
  return r;
}

const qIn = new Float32Array(BATCH * (OBS + ACT));
const gradQ = new Float32Array(BATCH);
const actorGradOut = new Float32Array(BATCH).fill(-1 / BATCH);
const actorGradA = new Float32Array(BATCH * ACT);

function update(n: Td3, b: Batch, it: number): void {
  // Target: a' = clip(μ'(s') + clip(N(0, 0.2), ±0.5), ±1), y = r + γ(1 − d)·min(Q1', Q2')
  const na = op('target actor predict', () => n.actorTarget.predict(b.nextObs, BATCH));
  op('js glue', () => {
    for (let i = 0; i < na.length; i++) {
      const noise = Math.min(0.5, Math.max(-0.5, 0.2 * randn()));
      na[i] = Math.min(1, Math.max(-1, na[i] + noise));
    }
    concat(b.nextObs, OBS, na, ACT, qIn);
  });
  const q1t = op('target critics predict', () => n.criticTargets[0].predict(qIn, BATCH));
  const q2t = op('target critics predict', () => n.criticTargets[1].predict(qIn, BATCH));
  const y = new Float32Array(BATCH);
  op('js glue', () => {
    for (let i = 0; i < BATCH; i++) y[i] = b.rew[i] + GAMMA * (1 - b.done[i]) * Math.min(q1t[i], q2t[i]);
    concat(b.obs, OBS, b.act, ACT, qIn);
  });
  // Critic losses: mean squared TD errors of both critics
  n.critics.forEach((c, j) => {
    const q = op('critics forward', () => c.forward(qIn, BATCH));
    op('js glue', () => {
      for (let i = 0; i < BATCH; i++) gradQ[i] = (2 * (q[i] - y[i])) / BATCH;
    });
    op('critics backward', () => c.backward(gradQ));
    op('adam (critics)', () => n.criticOpts[j].step());
  });
  if (it % 2 !== 0) return;
  // Delayed actor update: maximise Q1(s, μ(s))
  const a = op('actor forward', () => n.actor.forward(b.obs, BATCH));
  op('js glue', () => concat(b.obs, OBS, a, ACT, qIn));
  op('critic1 forward (actor loss)', () => n.critics[0].forward(qIn, BATCH));
  const dq = op('critic1 backward + input grad', () => n.critics[0].backward(actorGradOut, { inputGrad: true }))!;
  op('js glue', () => {
    for (let r = 0; r < BATCH; r++) {
      for (let k = 0; k < ACT; k++) actorGradA[r * ACT + k] = dq[r * (OBS + ACT) + OBS + k];
    }
  });
  op('actor backward', () => n.actor.backward(actorGradA));
  op('adam (actor)', () => n.actorOpt.step());
  op('polyak (3 targets)', () => {
    n.actorTarget.polyakFrom(n.actor, TAU);
    n.criticTargets.forEach((t, i) => t.polyakFrom(n.critics[i], TAU));
  });
}

function dispose(n: Td3): void {
  [n.actorOpt, ...n.criticOpts].forEach((o) => o.dispose());
  [n.actor, n.actorTarget, ...n.critics, ...n.criticTargets].forEach((m) => m.dispose());
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];

const engine = createNativeEngine({ threads });
const batches: Batch[] = Array.from({ length: 8 }, () => ({
  obs: randomArray(BATCH * OBS),
  act: randomArray(BATCH * ACT, 0.5).map((v) => Math.max(-1, Math.min(1, v))),
  rew: randomArray(BATCH),
  nextObs: randomArray(BATCH * OBS),
  done: new Float32Array(BATCH).map(() => (rand() < 0.01 ? 1 : 0)),
}));

console.log(`${engine.description}; TD3 update, batch ${BATCH}, obs ${OBS}, act ${ACT}, hidden ${HIDDEN}-${HIDDEN}`);
console.log(`${reps} repetitions × ${iters} updates per configuration, configurations interleaved within each repetition`);
console.log('(actor update and target Polyak every 2nd update)\n');

// Configurations are interleaved so that they see the same machine conditions (shared hosts).
const configs = [0, ...sparsities].map((sparsity) => {
  const nets = build(engine, sparsity);
  for (let it = 0; it < 20; it++) update(nets, batches[it % batches.length], it); // warm-up
  return { sparsity, nets, times: [] as number[], label: sparsity === 0 ? 'dense' : `${Math.round(sparsity * 100)}% sparse` };
});
for (let r = 0; r < reps; r++) {
  for (const c of configs) {
    const t0 = performance.now();
    for (let it = 0; it < iters; it++) update(c.nets, batches[it % batches.length], it);
    c.times.push((performance.now() - t0) / iters);
  }
}
const dense = configs[0];
for (const c of configs) {
  const ms = median(c.times);
  const ratio = c === dense ? '' : `  ${(ms / median(dense.times)).toFixed(2)}× dense (best-of: ${(Math.min(...c.times) / Math.min(...dense.times)).toFixed(2)}×)`;
  console.log(`${c.label.padEnd(12)} median ${ms.toFixed(3)} ms/update, best ${Math.min(...c.times).toFixed(3)}${ratio}`);
  console.log(`             reps: ${c.times.map((t) => t.toFixed(3)).join(', ')}`);
}
console.log('\nPer-operation breakdown (one timed pass of each configuration, ms per update):');
for (const c of configs) {
  breakdown.clear();
  timed = true;
  for (let it = 0; it < iters; it++) update(c.nets, batches[it % batches.length], it);
  timed = false;
  const total = [...breakdown.values()].reduce((s, v) => s + v, 0);
  console.log(`  ${c.label} (${(total / iters).toFixed(3)} ms)`);
  for (const [name, t] of breakdown) {
    console.log(`    ${name.padEnd(32)} ${(t / iters).toFixed(3)} ms  ${((100 * t) / total).toFixed(1)}%`);
  }
}
configs.forEach((c) => dispose(c.nets));
