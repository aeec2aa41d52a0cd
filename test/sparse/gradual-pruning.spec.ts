import { describe, expect, it } from 'vitest';
import { GradualPruningSparsifier, type GradualPruningOptions } from '../../plugins/sparsifier-gradual-pruning/gradual-pruning-sparsifier.js';
import type { Mlp } from '../../src/nn/engine.js';
import { createEngine } from '../../src/nn/engines.js';
import { checkWindow, cubicSparsity, iterativeSparsity, pruningPointIndex, pruningPointTime } from '../../src/sparse/pruning-schedule.js';
import { activeCount, layerSparsities } from '../../src/sparse/sparsity-distribution.js';
import { makeTd3, testEngines } from '../helpers/td3-fixture.js';

describe('pruning schedules (docs/methods.md §5.4–5.5)', () => {
  const w = { start: 100, end: 1100, interval: 100 };
  it('cubic: s_i at t₀, s_f at t_end exactly, monotone, the Zhu & Gupta formula in between', () => {
    expect(cubicSparsity(0, 0.1, 0.9, w)).toBe(0.1);
    expect(cubicSparsity(100, 0.1, 0.9, w)).toBe(0.1);
    expect(cubicSparsity(1100, 0.1, 0.9, w)).toBe(0.9);
    expect(cubicSparsity(5000, 0.1, 0.9, w)).toBe(0.9);
    expect(cubicSparsity(600, 0, 0.8, w)).toBeCloseTo(0.8 + (0 - 0.8) * 0.5 ** 3, 12);
    let prev = -1;
    for (let t = 0; t <= 1200; t++) {
      const s = cubicSparsity(t, 0, 0.9, w);
      expect(s).toBeGreaterThanOrEqual(prev);
      prev = s;
    }
  });
  it('pruning points: t₀ + kΔt, the end always included, −1 before t₀', () => {
    expect(pruningPointIndex(99, w)).toBe(-1);
    expect(pruningPointIndex(100, w)).toBe(0);
    expect(pruningPointIndex(199, w)).toBe(0);
    expect(pruningPointIndex(1100, w)).toBe(10);
    expect(pruningPointIndex(9999, w)).toBe(10);
    const odd = { start: 0, end: 250, interval: 100 }; // points 0, 100, 200, 250
    expect([0, 100, 200, 249, 250].map((t) => pruningPointIndex(t, odd))).toEqual([0, 1, 2, 2, 3]);
    expect(pruningPointTime(3, odd)).toBe(250);
    expect(() => checkWindow({ start: 10, end: 5, interval: 1 })).toThrow(RangeError);
    expect(() => checkWindow({ start: 0, end: 5, interval: 0 })).toThrow(RangeError);
  });
  it('iterative: geometric in the remaining weights, capped, s_f at the last point', () => {
    expect(iterativeSparsity(-1, 10, 0, 0.9, 0.2)).toBe(0);
    expect(iterativeSparsity(0, 10, 0, 0.9, 0.2)).toBe(0);
    expect(iterativeSparsity(2, 10, 0, 0.9, 0.2)).toBeCloseTo(1 - 0.8 ** 2, 12);
    expect(iterativeSparsity(9, 10, 0, 0.5, 0.2)).toBe(0.5);
    expect(iterativeSparsity(10, 10, 0, 0.9, 0.01)).toBe(0.9);
  });
});

const base: GradualPruningOptions = { actorSparsity: 0.9, criticSparsity: 0.8, initialSparsity: 0, startStep: 10, endStep: 110, pruningInterval: 20, sparsityDistribution: 'erdos-renyi-kernel', mode: 'gradual', iterativeFraction: 0.3 };

const active = (net: Mlp, k: number) => (net.layers[k].mask ? net.layers[k].mask!.reduce((a, b) => a + b, 0) : net.layers[k].weight.length);

// the native engine when built (it may be mid-rebuild in a shared checkout), always the tfjs reference
for (const kind of testEngines) {
  for (const mode of ['gradual', 'iterative'] as const) {
    describe(`sparsifier.gradual-pruning ${mode} on a real TD3 agent (${kind} engine)`, () => {
      it('starts dense, masks only shrink, pruned weights stay zero (targets too), exact per-layer counts at the end', async () => {
        const engine = await createEngine({ engine: kind, backend: 'cpu', threads: 2 });
        const options = { ...base, mode };
        const sparsifier = new GradualPruningSparsifier(options);
        const { agent, buffer } = makeTd3(engine, sparsifier, { seed: 3, transitions: 300 });
        for (const g of agent.groups) for (const n of [...g.networks, ...g.targets]) for (const l of n.layers) expect(l.mask).toBeNull();
        const nets = agent.groups.flatMap((g) => [...g.networks, ...g.targets]);
        let prev = nets.map((n) => n.layers.map((_, k) => active(n, k)));
        const prevMasks = new Map<string, Float32Array>();
        for (let it = 1; it <= 140; it++) {
          agent.update(buffer);
          const now = nets.map((n) => n.layers.map((_, k) => active(n, k)));
          now.forEach((row, i) => row.forEach((c, k) => expect(c).toBeLessThanOrEqual(prev[i][k])));
          prev = now;
          for (const g of agent.groups) {
            g.networks.forEach((net, j) => net.layers.forEach((l, k) => {
              const tm = g.targets[j].layers[k].mask;
              expect(tm === null ? null : tm.every((x, i) => x === l.mask![i])).toBe(l.mask ? true : null);
              if (!l.mask) return;
              // pruned once, pruned forever
              const before = prevMasks.get(l.name);
              let regrown = 0;
              if (before) for (let i = 0; i < before.length; i++) if (before[i] === 0 && l.mask[i] !== 0) regrown++;
              expect(regrown).toBe(0);
              prevMasks.set(l.name, Float32Array.from(l.mask));
            }));
            for (const net of [...g.networks, ...g.targets]) {
              for (const l of net.layers) if (l.mask) for (let i = 0; i < l.weight.length; i++) if (l.mask[i] === 0 && l.weight[i] !== 0) throw new Error(`${l.name}[${i}] pruned but ${l.weight[i]}`);
            }
          }
          if (it < 10) for (const n of nets) for (const l of n.layers) expect(l.mask).toBeNull();
        }
        // after the end: exact per-layer counts of the ERK allocation of the final sparsity
        for (const [g, sf] of [[agent.groups[0], 0.9], [agent.groups[1], 0.8]] as const) {
          const layers = g.networks.flatMap((n) => n.layers);
          const s = layerSparsities(layers, sf, 'erdos-renyi-kernel');
          let k = 0;
          for (const net of g.networks) net.layers.forEach((l, i) => expect(active(net, i)).toBe(activeCount(l.weight.length, s[k++])));
        }
        const m = sparsifier.metrics(agent.groups);
        expect(m['sparsity/actor']).toBeCloseTo(0.9, 2);
        expect(m['sparsity/critic']).toBeCloseTo(0.8, 2);
        expect(m['pruning/critic_scheduled_sparsity']).toBe(0.8);
        expect(m['pruning/actor_scheduled_sparsity']).toBe(0.9);
      });
    });
  }
}

describe('sparsifier.gradual-pruning options', () => {
  it('rejects bad windows and sparsities', () => {
    expect(() => new GradualPruningSparsifier({ ...base, startStep: 200, endStep: 100 })).toThrow(RangeError);
    expect(() => new GradualPruningSparsifier({ ...base, actorSparsity: 1 })).toThrow(RangeError);
  });
  it('per-layer schedule value at each point follows the cubic curve to the layer final', () => {
    const s = new GradualPruningSparsifier(base);
    expect(s.sparsityAt(0, 0.9)).toBe(0);
    expect(s.sparsityAt(5, 0.9)).toBe(0.9);
    expect(s.sparsityAt(1, 0.9)).toBeCloseTo(0.9 - 0.9 * 0.8 ** 3, 12);
  });
});
