/**
 * Quick timing of one TD3 update on the native engine, driven directly through the `Engine` API
 * (no agent code): 256-256 ReLU MLPs, batch 256, obs 17, act 6 (HalfCheetah sizes).
 *
 * One update = target actor predict + target policy smoothing noise, two target critics predict,
 * two critics forward/backward + Adam; every 2nd update the actor update through critic1
 * (forward, backward with input gradient, actor backward, Adam) and the Polyak update of the
 * three targets. Random data (a few pre-drawn batches, cycled).
 *
 * Configurations (`--configs`, comma-separated, always preceded by dense):
 * - `0.9` (any number in (0, 1)): random unstructured masks, that sparsity on every layer;
 * - `erk0.9`: random unstructured masks with ERK per-layer sparsities (src/sparse/sparsity-distribution.ts,
 *   solved per network; the small first layer gets a high density, the 256→1 / 256→6 output layers stay dense);
 * - `2:4`, `1:4`, `1:8` (any N:M): N:M masks by weight magnitude along the input dimension
 *   (src/sparse/nm.ts nmMask), on every layer (the engine runs layers whose density is under its
 *   threshold on the packed N:M kernels; 23→256 at 2:4 is 12/23 dense and stays on the dense kernels).
 *
 * Prints, per configuration, the median (and best) over `--reps` repetitions of the mean wall time
 * per update (ms) and of the process CPU time per update (robust to a loaded machine at --threads 1;
 * with more threads it includes the spinning workers), the ratios of those medians to dense, and a
 * per-operation breakdown (median over the repetitions of each operation's time per update).
 * Configurations are interleaved per repetition so they see the same machine load.
 *
 * Usage: npx vite-node bench/native-td3-update.ts -- [--reps 7] [--iters 200] [--threads 2]
 *        [--configs 0.9,erk0.9,2:4,1:4,1:8] [--sparsity 0.9,0.8,0.5 (= unstructured configs)]
 */
import { parseArgs } from 'node:util';

import type { Engine, Mlp, MlpSpec, Optimizer } from '../src/nn/engine.js';
import { createNativeEngine, NativeMlp } from '../src/nn/native-engine.js';
import { concatRows } from '../src/rl/twin-critics.js';
import { nmMask } from '../src/sparse/nm.js';
import { activeCount, layerSparsities } from '../src/sparse/sparsity-distribution.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    reps: { type: 'string', default: '7' },
    iters: { type: 'string', default: '200' },
    threads: { type: 'string', default: '2' },
    sparsity: { type: 'string' },
    configs: { type: 'string', default: '0.9,erk0.9,2:4,1:4,1:8' },
  },
});
const reps = Math.max(5, Number(values.reps));
const iters = Number(values.iters);
const threads = Number(values.threads);
const configNames = String(values.sparsity ?? values.configs).split(',').map((c) => c.trim()).filter((c) => c !== '');

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

/** Mask kind of a configuration name (see the header). */
type MaskKind = { kind: 'dense' } | { kind: 'uniform'; sparsity: number } | { kind: 'erk'; sparsity: number } | { kind: 'nm'; n: number; m: number };

function parseConfig(name: string): MaskKind {
  if (name === 'dense') return { kind: 'dense' };
  const nm = /^(\d+):(\d+)$/.exec(name);
  if (nm) return { kind: 'nm', n: Number(nm[1]), m: Number(nm[2]) };
  const erk = /^erk(.+)$/.exec(name);
  const sparsity = Number(erk ? erk[1] : name);
  if (!(sparsity > 0 && sparsity < 1)) throw new RangeError(`bad configuration '${name}'`);
  return erk ? { kind: 'erk', sparsity } : { kind: 'uniform', sparsity };
}

function configLabel(c: MaskKind): string {
  switch (c.kind) {
    case 'dense': return 'dense';
    case 'uniform': return `${Math.round(c.sparsity * 100)}% sparse`;
    case 'erk': return `ERK ${Math.round(c.sparsity * 100)}%`;
    case 'nm': return `N:M ${c.n}:${c.m}`;
  }
}

/** A random 0/1 mask of `n` entries with exactly activeCount(n, sparsity) ones. */
function randomMask(n: number, sparsity: number): Float32Array {
  const m = new Float32Array(n);
  const k = activeCount(n, sparsity);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
    m[idx[i]] = 1;
  }
  return m;
}

function build(engine: Engine, config: MaskKind): Td3 {
  const mk = (name: string, sizes: number[], out: 'tanh' | 'linear'): Mlp => {
    const spec: MlpSpec = { name, layerSizes: sizes, hiddenActivation: 'relu', outputActivation: out };
    return engine.createMlp(spec);
  };
  const init = (net: Mlp) => {
    const erk = config.kind === 'erk' ? layerSparsities(net.layers, config.sparsity, 'erdos-renyi-kernel') : null;
    net.layers.forEach((l, k) => {
      const b = 1 / Math.sqrt(l.inFeatures);
      for (let i = 0; i < l.weight.length; i++) l.weight[i] = (2 * rand() - 1) * b;
      for (let i = 0; i < l.bias.length; i++) l.bias[i] = (2 * rand() - 1) * b;
      if (config.kind === 'uniform') net.setMask(k, randomMask(l.weight.length, config.sparsity));
      else if (erk && erk[k] > 0) net.setMask(k, randomMask(l.weight.length, erk[k]));
      else if (config.kind === 'nm') net.setMask(k, nmMask(l.weight, l.outFeatures, l.inFeatures, config.n, config.m));
    });
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

/** Accumulated time per operation (ms) of the current repetition. */
let breakdown = new Map<string, number>();
function op<T>(name: string, fn: () => T): T {
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
const configs = ['dense', ...configNames.filter((c) => c !== 'dense')].map((name) => {
  const kind = parseConfig(name);
  const nets = build(engine, kind);
  for (let it = 0; it < 20; it++) update(nets, batches[it % batches.length], it); // warm-up
  const kernels = (net: Mlp) =>
    (net as NativeMlp).sparseKernelLayers().map((s, k) => {
      // (optional chaining: the bench also runs against builds without N:M kernels)
      const nm = (net as Partial<NativeMlp>).nmKernelLayers?.()[k];
      const l = net.layers[k];
      const density = l.mask ? l.mask.reduce((a, v) => a + v, 0) / l.mask.length : 1;
      return `${density.toFixed(2)}${nm ? ` ${nm[0]}:${nm[1]}` : s ? ' csr' : ''}`;
    }).join(' | ');
  return {
    label: configLabel(kind), nets, times: [] as number[], cpu: [] as number[], ops: new Map<string, number[]>(),
    layers: `actor ${kernels(nets.actor)}; critic ${kernels(nets.critics[0])}`,
  };
});
for (let r = 0; r < reps; r++) {
  for (const c of configs) {
    breakdown = new Map();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let it = 0; it < iters; it++) update(c.nets, batches[it % batches.length], it);
    c.times.push((performance.now() - t0) / iters);
    const cu = process.cpuUsage(c0);
    c.cpu.push((cu.user + cu.system) / 1000 / iters);
    for (const [name, t] of breakdown) {
      if (!c.ops.has(name)) c.ops.set(name, []);
      c.ops.get(name)!.push(t / iters);
    }
  }
}
const dense = configs[0];
console.log('layer densities and kernels (density, csr / N:M sparse kernels, else dense):');
for (const c of configs) console.log(`  ${c.label.padEnd(12)} ${c.layers}`);
console.log('');
for (const c of configs) {
  const ms = median(c.times);
  const cpu = median(c.cpu);
  const ratio = c === dense ? '' : `  ${(ms / median(dense.times)).toFixed(2)}× dense (best-of ${(Math.min(...c.times) / Math.min(...dense.times)).toFixed(2)}×; cpu ${(cpu / median(dense.cpu)).toFixed(2)}×)`;
  console.log(`${c.label.padEnd(12)} median ${ms.toFixed(3)} ms/update, best ${Math.min(...c.times).toFixed(3)}, cpu ${cpu.toFixed(3)}${ratio}`);
  console.log(`             reps: ${c.times.map((t) => t.toFixed(3)).join(', ')}`);
}
console.log('\nPer-operation breakdown (median over the repetitions, ms per update; share of the sum of medians):');
const opNames = [...dense.ops.keys()];
console.log(`  ${'operation'.padEnd(32)} ${configs.map((c) => c.label.padStart(13)).join(' ')}`);
const sums = configs.map((c) => opNames.reduce((s, n) => s + median(c.ops.get(n) ?? [0]), 0));
for (const name of opNames) {
  const cells = configs.map((c, i) => {
    const t = median(c.ops.get(name) ?? [0]);
    return `${t.toFixed(3)} ${((100 * t) / sums[i]).toFixed(0).padStart(2)}%`.padStart(13);
  });
  console.log(`  ${name.padEnd(32)} ${cells.join(' ')}`);
}
console.log(`  ${'sum'.padEnd(32)} ${sums.map((t) => t.toFixed(3).padStart(13)).join(' ')}`);
console.log(`  ${'ratio vs dense'.padEnd(32)} ${sums.map((t) => `${(t / sums[0]).toFixed(2)}×`.padStart(13)).join(' ')}`);
// The JS glue (noise, concatenation, TD targets; identical in every configuration) is not engine time.
const native = configs.map((c, i) => sums[i] - median(c.ops.get('js glue') ?? [0]));
console.log(`  ${'native ops only (no js glue)'.padEnd(32)} ${native.map((t) => t.toFixed(3).padStart(13)).join(' ')}`);
console.log(`  ${'ratio vs dense'.padEnd(32)} ${native.map((t) => `${(t / native[0]).toFixed(2)}×`.padStart(13)).join(' ')}`);
configs.forEach((c) => dispose(c.nets));
