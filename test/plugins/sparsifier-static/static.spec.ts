import { describe, expect, it } from 'vitest';
import { StaticSparsifier } from '../../../plugins/sparsifier-static/static-sparsifier.js';
import type { Engine, Mlp } from '../../../src/nn/engine.js';
import { createEngine } from '../../../src/nn/engines.js';
import { activeCount, layerSparsities } from '../../../src/sparse/sparsity-distribution.js';
import { makeTd3 } from '../../helpers/td3-fixture.js';

function makeAgent(engine: Engine, actorSparsity: number, criticSparsity: number) {
  const sparsifier = new StaticSparsifier({ actorSparsity, criticSparsity, sparsityDistribution: 'erdos-renyi-kernel', maskInit: 'random' });
  return makeTd3(engine, sparsifier, { hiddenSizes: [64, 64], tau: 0.005 });
}

function maskedNonZeros(net: Mlp): number {
  let bad = 0;
  for (const l of net.layers) if (l.mask) for (let i = 0; i < l.weight.length; i++) if (l.mask[i] === 0 && l.weight[i] !== 0) bad++;
  return bad;
}

for (const kind of ['native', 'tfjs'] as const) {
  describe(`static sparsifier mask invariants (${kind} engine)`, () => {
    it('per-layer density exact to one weight; masks shared with targets; masked weights stay zero over many updates', async () => {
      const engine = await createEngine({ engine: kind, backend: 'cpu', threads: 2 });
      const { agent, buffer } = makeAgent(engine, 0.9, 0.8);
      const [actorGroup, criticGroup] = agent.groups;
      // exact per-layer active counts from the ERK allocation
      for (const [group, s] of [[actorGroup, 0.9], [criticGroup, 0.8]] as const) {
        const layers = group.networks.flatMap((n) => n.layers);
        const sparsities = layerSparsities(layers, s, 'erdos-renyi-kernel');
        layers.forEach((l, k) => {
          const active = l.mask ? l.mask.reduce((a, b) => a + b, 0) : l.weight.length;
          expect(active).toBe(sparsities[k] > 0 ? activeCount(l.weight.length, sparsities[k]) : l.weight.length);
        });
        group.networks.forEach((net, i) => net.layers.forEach((l, k) => expect(group.targets[i].layers[k].mask).toEqual(l.mask)));
      }
      const masksBefore = agent.groups.flatMap((g) => g.networks.flatMap((n) => n.layers.map((l) => l.mask && Float32Array.from(l.mask))));
      const actorW0 = Float32Array.from(actorGroup.networks[0].layers[1].weight);
      const iterations = kind === 'native' ? 300 : 40;
      for (let i = 0; i < iterations; i++) agent.update(buffer);
      // weights moved, masks unchanged, masked entries exactly zero in online and target networks
      expect(actorGroup.networks[0].layers[1].weight).not.toEqual(actorW0);
      expect(agent.groups.flatMap((g) => g.networks.flatMap((n) => n.layers.map((l) => l.mask)))).toEqual(masksBefore);
      for (const g of agent.groups) for (const net of [...g.networks, ...g.targets]) expect(maskedNonZeros(net)).toBe(0);
      // Adam moments of masked weights stay zero too (gradients are masked before the step)
      for (const g of agent.groups) {
        g.optimizers.forEach((opt, i) => {
          for (const l of g.networks[i].layers) {
            if (!l.mask) continue;
            const { m } = opt.state.get(`${l.name}.weight`)!;
            for (let j = 0; j < m.length; j++) if (l.mask[j] === 0) expect(m[j]).toBe(0);
          }
        });
      }
      const metrics = new StaticSparsifier({ actorSparsity: 0.9, criticSparsity: 0.8, sparsityDistribution: 'erdos-renyi-kernel', maskInit: 'random' }).metrics(agent.groups);
      expect(metrics['sparsity/actor']).toBeCloseTo(0.9, 3);
      expect(metrics['sparsity/critic']).toBeCloseTo(0.8, 3);
    });
  });
}
