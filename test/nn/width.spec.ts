import { expect, it } from 'vitest';
import { networkMemory } from '../../bench/width.js';
import { SacAgent } from '../../plugins/agent-sac/sac-agent.js';
import type { SacOptions } from '../../plugins/agent-sac/sac-options.js';
import { Td3Agent } from '../../plugins/agent-td3/td3-agent.js';
import type { Td3Options } from '../../plugins/agent-td3/td3-options.js';
import { UniformReplayBuffer } from '../../plugins/replay-buffer-uniform/uniform-replay-buffer.js';
import { StaticSparsifier } from '../../plugins/sparsifier-static/static-sparsifier.js';
import type { BoxSpace } from '../../src/core/environment.js';
import type { NetworkGroup } from '../../src/core/network-group.js';
import type { Agent } from '../../src/core/agent.js';
import type { Mlp } from '../../src/nn/engine.js';
import { createNativeEngine } from '../../src/nn/native-engine.js';
import { Rng } from '../../src/util/rng.js';
import { nativeSuite } from '../helpers/native-suite.js';

/**
 * "Sparsity that buys width" (Ma et al., ICML 2025; Obando-Ceron et al., ICML 2024): TD3 at
 * hidden 2048-2048 with 99 % static ERK and SAC with three hidden layers of 1024 at 95 % on the
 * native engine, updated on real (random) transitions. Checks the masks against the ERK
 * definition (Evci et al. 2020: density ∝ (in + out)/(in·out) with one ε per group, layers that
 * would exceed density 1 dense), that inactive weights (online and target) and their Adam state
 * are exactly 0 from construction and stay 0 through updates, that the wide layers run on the
 * sparse kernels, and the engine's memory blocks against the layout formula of native/src/mlp.cc.
 */

const obs = 17;
const act = 6;
const actionSpace: BoxSpace = { type: 'box', shape: [act], dtype: 'float32', low: Array(act).fill(-1), high: Array(act).fill(1) };
const align16 = (n: number) => Math.ceil(n / 16) * 16;
const nnz = (m: Float32Array) => {
  let c = 0;
  for (let i = 0; i < m.length; i++) if (m[i] !== 0) c++;
  return c;
};

function filledBuffer(): UniformReplayBuffer {
  const buffer = new UniformReplayBuffer(2048, { observationSize: obs, actionSize: act });
  const rng = new Rng(7);
  for (let i = 0; i < 2048; i++) {
    buffer.add({
      observation: Float32Array.from({ length: obs }, () => rng.normal()), action: Float32Array.from({ length: act }, () => rng.uniformRange(-1, 1)),
      reward: rng.normal(), nextObservation: Float32Array.from({ length: obs }, () => rng.normal()), terminated: i % 97 === 96, truncated: false,
    });
  }
  return buffer;
}

/**
 * The group's masks follow the ERK allocation at `sparsity`: every sparse layer has
 * nnz = N − ⌊S_l·N⌋ with S_l = 1 − ε·(in+out)/(in·out) for one ε (so nnz·in·out/((in+out)·N)
 * agrees across layers to one weight), dense layers are those ERK would push past density 1, and
 * the pooled density is 1 − sparsity to within one weight per layer.
 */
function expectErk(group: NetworkGroup, sparsity: number): void {
  const layers = group.networks.flatMap((n) => n.layers);
  const total = layers.reduce((s, l) => s + l.inFeatures * l.outFeatures, 0);
  const active = layers.reduce((s, l) => s + (l.mask ? nnz(l.mask) : l.inFeatures * l.outFeatures), 0);
  expect(Math.abs(active - (1 - sparsity) * total)).toBeLessThanOrEqual(layers.length);
  const sparse = layers.filter((l) => l.mask);
  expect(sparse.length).toBeGreaterThan(0);
  const raw = (l: Mlp['layers'][number]) => (l.inFeatures + l.outFeatures) / (l.inFeatures * l.outFeatures);
  // ε from the largest sparse layer; each layer's count within one weight of ε·raw·N
  const big = sparse.reduce((a, b) => (a.inFeatures * a.outFeatures >= b.inFeatures * b.outFeatures ? a : b));
  const eps = nnz(big.mask!) / (raw(big) * big.inFeatures * big.outFeatures);
  for (const l of sparse) expect(Math.abs(nnz(l.mask!) - eps * raw(l) * l.inFeatures * l.outFeatures)).toBeLessThanOrEqual(2);
  for (const l of layers.filter((x) => !x.mask)) expect(eps * raw(l)).toBeGreaterThanOrEqual(1 - 1e-9);
}

/** Every inactive weight of online and target networks, and its Adam m and v, is exactly 0; targets share the online masks. */
function expectInactiveZero(group: NetworkGroup): void {
  group.networks.forEach((net, i) => {
    const state = group.optimizers[i].state;
    const target = group.targets[i];
    net.layers.forEach((l, k) => {
      if (!l.mask) return;
      const { m, v } = state.get(`${l.name}.weight`)!;
      const tl = target?.layers[k];
      let bad = 0;
      let maskDiff = 0;
      for (let j = 0; j < l.mask.length; j++) {
        if (tl && tl.mask?.[j] !== l.mask[j]) maskDiff++;
        if (l.mask[j] !== 0) continue;
        if (l.weight[j] !== 0 || m[j] !== 0 || v[j] !== 0 || (tl && tl.weight[j] !== 0)) bad++;
      }
      expect(bad, `${l.name}: non-zero inactive entries`).toBe(0);
      expect(maskDiff, `${l.name}: target mask differs`).toBe(0);
    });
  });
}

/** Parameter and Adam blocks equal native/src/mlp.cc's layout (each array rounded up to 16 floats). */
function expectMemoryFormula(net: Mlp, group: NetworkGroup): void {
  const mem = networkMemory(net, group.optimizers[group.networks.indexOf(net)]);
  const params = net.layers.reduce((s, l) => s + 3 * align16(l.inFeatures * l.outFeatures) + 2 * align16(l.outFeatures), 0);
  const adam = net.layers.reduce((s, l) => s + 2 * align16(l.inFeatures * l.outFeatures) + 2 * align16(l.outFeatures), 0);
  expect(mem.parameterBlock).toBe(4 * params);
  expect(mem.adamBlock).toBe(4 * adam);
  const active = net.layers.reduce((s, l) => s + (l.mask ? nnz(l.mask) : l.inFeatures * l.outFeatures) + l.outFeatures, 0);
  expect(mem.activeParameters).toBe(active);
  expect(mem.nnzLowerBound).toBe(16 * active);
  const index = net.layers.reduce((s, l) => {
    const n = l.mask ? nnz(l.mask) : Infinity;
    // CSR + CSC index (4 int32 per active weight, row and column pointers) and the packed copies in CSR and CSC order (2 float32)
    return n <= 0.5 * l.inFeatures * l.outFeatures ? s + 4 * (6 * n + l.outFeatures + l.inFeatures + 2) : s;
  }, 0);
  expect(mem.sparseIndex).toBe(index);
  expect(mem.engineTotal).toBe(4 * params + 4 * adam + index);
}

function expectUpdatesKeepMasks(agent: Agent, updates: number): void {
  const buffer = filledBuffer();
  const before = agent.groups.map((g) => g.networks.map((n) => n.layers.map((l) => l.weight.slice())));
  for (let i = 0; i < updates; i++) {
    const stats = agent.update(buffer);
    for (const v of Object.values(stats)) expect(Number.isFinite(v)).toBe(true);
  }
  for (const g of agent.groups) expectInactiveZero(g);
  // the active weights did train
  agent.groups.forEach((g, gi) => g.networks.forEach((n, ni) => n.layers.forEach((l, k) => {
    let changed = 0;
    for (let j = 0; j < l.weight.length; j++) if (l.weight[j] !== before[gi][ni][k][j]) changed++;
    expect(changed, l.name).toBeGreaterThan(0);
  })));
}

nativeSuite('wide static-sparse networks on the native engine (2 threads)', () => {
  const engine = createNativeEngine({ threads: 2 });

  it('TD3 2048-2048 at 99 % static ERK: ERK masks, inactive weights exactly 0 from construction and through updates, memory = layout formula', () => {
    const options: Td3Options = {
      hiddenSizes: [2048, 2048], actorLr: 3e-4, criticLr: 3e-4, weightDecay: 0, batchSize: 256, gamma: 0.99, tau: 0.005,
      policyNoise: 0.2, noiseClip: 0.5, policyDelay: 2, explorationNoise: 0.1, learningStarts: 0,
    };
    const sparsifier = new StaticSparsifier({ actorSparsity: 0.99, criticSparsity: 0.99, sparsityDistribution: 'erdos-renyi-kernel', maskInit: 'random' });
    const t0 = performance.now();
    const agent = new Td3Agent(options, { observationSize: obs, actionSpace, engine, sparsifier, rng: new Rng(3) });
    const setupMs = performance.now() - t0;
    expect(setupMs).toBeLessThan(15_000); // ~2 s on 2 shared cores; a quadratic JS loop would take minutes
    const [actor, critic] = agent.groups;
    expect(actor.networks[0].layers.map((l) => [l.inFeatures, l.outFeatures])).toEqual([[17, 2048], [2048, 2048], [2048, 6]]);
    expect(critic.networks.map((n) => n.layers[1].weight.length)).toEqual([2048 * 2048, 2048 * 2048]);
    expectErk(actor, 0.99);
    expectErk(critic, 0.99);
    // the 2048×2048 layers (density ≈ 0.6 %) run on the sparse kernels; the critics' 2048→1 layer is dense under ERK
    const native = (n: Mlp) => (n as unknown as { sparseKernelLayers(): boolean[] }).sparseKernelLayers();
    expect(native(actor.networks[0])[1]).toBe(true);
    expect(native(critic.networks[0])).toEqual([true, true, false]);
    expect(critic.networks[0].layers[2].mask).toBeNull();
    for (const g of agent.groups) expectInactiveZero(g);
    expectMemoryFormula(critic.networks[0], critic);
    expectMemoryFormula(actor.networks[0], actor);
    expectUpdatesKeepMasks(agent, 4);
    expectMemoryFormula(critic.networks[1], critic);
  });

  it('SAC with three hidden layers of 1024 at 95 % static ERK: the same invariants', () => {
    const options: SacOptions = {
      hiddenSizes: [1024, 1024, 1024], actorLr: 3e-4, criticLr: 3e-4, alphaLr: 3e-4, weightDecay: 0, batchSize: 256, gamma: 0.99, tau: 0.005,
      learningStarts: 0, entropyCoefficient: 'auto', targetEntropy: null, actorUpdateInterval: 1, targetUpdateInterval: 1,
      logStdMin: -5, logStdMax: 2, logStdBounding: 'tanh', nStep: { n: 1, delayIterations: 0 },
    };
    const sparsifier = new StaticSparsifier({ actorSparsity: 0.95, criticSparsity: 0.95, sparsityDistribution: 'erdos-renyi-kernel', maskInit: 'random' });
    const agent = new SacAgent(options, { observationSize: obs, actionSpace, engine, sparsifier, rng: new Rng(4) });
    const [actor, critic] = agent.groups;
    expect(actor.networks[0].layers.map((l) => [l.inFeatures, l.outFeatures])).toEqual([[17, 1024], [1024, 1024], [1024, 1024], [1024, 12]]);
    expectErk(actor, 0.95);
    expectErk(critic, 0.95);
    for (const g of agent.groups) expectInactiveZero(g);
    expectMemoryFormula(critic.networks[0], critic);
    expectUpdatesKeepMasks(agent, 3);
  });
});
