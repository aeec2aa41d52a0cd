import { describe, expect, it } from 'vitest';
import type { GradualPruningOptions } from '../../../plugins/sparsifier-gradual-pruning/gradual-pruning-options.js';
import { GradualPruningSparsifier } from '../../../plugins/sparsifier-gradual-pruning/gradual-pruning-sparsifier.js';
import type { Mlp } from '../../../src/nn/engine.js';
import { createEngine } from '../../../src/nn/engines.js';
import { activeCount, layerSparsities } from '../../../src/sparse/sparsity-distribution.js';
import { makeTd3, testEngines } from '../../helpers/td3-fixture.js';

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
