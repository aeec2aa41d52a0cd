import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Td3Agent } from '../../../plugins/agent-td3/td3-agent.js';
import { UniformReplayBuffer } from '../../../plugins/replay-buffer-uniform/uniform-replay-buffer.js';
import type { SetOptions } from '../../../plugins/sparsifier-set/set-options.js';
import { SetSparsifier, erMask, keepTopMagnitude, setPruneAndRegrow } from '../../../plugins/sparsifier-set/set-sparsifier.js';
import type { NetworkGroup } from '../../../src/core/network-group.js';
import type { Mlp } from '../../../src/nn/engine.js';
import { createEngine } from '../../../src/nn/engines.js';
import { countActive } from '../../../src/sparse/mask.js';
import { packageRoot } from '../../../src/util/paths.js';
import { Rng } from '../../../src/util/rng.js';

const nativeBuilt = existsSync(join(packageRoot(), 'native', 'build', 'Release', 'sparse_rl_native.node'));
/** A one-network group without target or optimizer. */
const groupOf = (net: Mlp): NetworkGroup => ({ name: 'g', networks: [net], targets: [], optimizers: [] });

describe('SET rule (DS-TD3, docs/methods.md §2.b.5)', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  const layer = () => {
    const net = engine.createMlp({ name: 'n', layerSizes: [5, 2], hiddenActivation: 'relu', outputActivation: 'linear' });
    // active: positives 0.9, 0.1, 0.5, 0.3 ; negatives −0.2, −0.8 ; one active exact zero; 3 inactive
    net.layers[0].weight.set([0.9, 0.1, 0.5, 0.3, -0.2, /**/ -0.8, 0, 0.7, 0.6, 0.4]);
    net.setMask(0, Float32Array.from([1, 1, 1, 1, 1, /**/ 1, 1, 0, 0, 0]));
    return net;
  };

  it('drops ⌊η·#pos⌋ smallest positives, ⌊η·#neg⌋ negatives nearest zero and active zeros; regrows to the count at random, zero-init', () => {
    const net = layer();
    // η = 0.5: #pos 4 → drop 0.1, 0.3; #neg 2 → drop −0.2; active zero dropped → kept 3 (0.9, 0.5, −0.8)
    const r = setPruneAndRegrow(groupOf(net), net, 0, 0.5, 7, new Rng(1));
    expect(r).toEqual({ dropped: 4, grown: 4 });
    const m = net.layers[0].mask!;
    const w = net.layers[0].weight;
    expect(countActive(m)).toBe(7);
    for (const i of [0, 2, 5]) expect(m[i]).toBe(1);
    expect([w[0], w[2], w[5]].map((x) => Math.round(x * 10) / 10)).toEqual([0.9, 0.5, -0.8]);
    for (let i = 0; i < 10; i++) if (m[i] && ![0, 2, 5].includes(i)) expect(w[i]).toBe(0); // regrown at 0
    for (let i = 0; i < 10; i++) if (!m[i]) expect(w[i]).toBe(0);
  });

  it('prune-only drops without regrowth', () => {
    const net = layer();
    expect(setPruneAndRegrow(groupOf(net), net, 0, 0.5, 7, new Rng(1), { pruneOnly: true })).toEqual({ dropped: 4, grown: 0 });
    expect(countActive(net.layers[0].mask!)).toBe(3);
  });

  it('MaintainSparsity keeps the target\'s largest |w|', () => {
    const t = layer();
    t.setMask(0, null);
    t.layers[0].weight.set([0.9, 0.1, 0.5, 0.3, -0.2, /**/ -0.8, 0, 0.7, 0.6, 0.4]); // after a plain Polyak average
    keepTopMagnitude(t, 0, 3);
    expect([...t.layers[0].mask!]).toEqual([1, 0, 0, 0, 0, /**/ 1, 0, 1, 0, 0]);
  });

  it('ER mask density ≈ λ(in+out)/(in·out)', () => {
    const m = erMask(256, 17, 7, new Rng(5));
    const p = (7 * (256 + 17)) / (256 * 17);
    expect(Math.abs(countActive(m) / m.length - p)).toBeLessThan(0.02);
  });
});

const engines: ['tfjs' | 'native'][] = nativeBuilt ? [['tfjs'], ['native']] : [['tfjs']];
describe.each(engines)('sparsifier.set in TD3 (%s engine)', (engineName) => {
  it('keeps per-layer counts, adapts at it % e == offset, targets keep own masks at the online count, output dense', async () => {
    const engine = await createEngine({ engine: engineName, backend: 'cpu', threads: 1 });
    const options: SetOptions = { lambdas: [3, 4], interval: 10, offset: 2, dropFraction: 0.2, stopAt: 25, targetMode: 'magnitude-top-k', resetOptimizerStateOnGrow: false };
    const sparsifier = new SetSparsifier(options);
    const agent = new Td3Agent(
      { hiddenSizes: [16, 16], actorLr: 1e-3, criticLr: 1e-3, weightDecay: 2e-4, batchSize: 8, gamma: 0.99, tau: 0.1, policyNoise: 0.2, noiseClip: 0.5, policyDelay: 2, explorationNoise: 0.1, learningStarts: 0 },
      { observationSize: 4, actionSpace: { type: 'box', shape: [2], dtype: 'float32', low: [-1, -1], high: [1, 1] }, engine, sparsifier, rng: new Rng(4) },
    );
    const buffer = new UniformReplayBuffer(100, { observationSize: 4, actionSize: 2 });
    const rng = new Rng(9);
    for (let k = 0; k < 100; k++) {
      const o = Float32Array.from({ length: 4 }, () => rng.normal());
      buffer.add({ observation: o, action: Float32Array.from([0.1, -0.1]), reward: o[1], nextObservation: o, terminated: false, truncated: false });
    }
    const [actorGroup, criticGroup] = agent.groups;
    expect(actorGroup.networks[0].layers[2].mask).toBeNull();
    const counts = [...actorGroup.networks, ...criticGroup.networks].flatMap((n) => n.layers.slice(0, 2).map((l) => countActive(l.mask!)));
    const masksAt = () => criticGroup.networks[0].layers[1].mask!.slice();
    let before = masksAt();
    const changedAt: number[] = [];
    for (let it = 1; it <= 40; it++) {
      agent.update(buffer);
      const now = masksAt();
      if (now.some((v, i) => v !== before[i])) changedAt.push(it);
      before = now;
    }
    expect(changedAt).toEqual([2, 12, 22, 32]); // 32 > stopAt: the prune-only last one
    const after = [...actorGroup.networks, ...criticGroup.networks].flatMap((n) => n.layers.slice(0, 2).map((l) => countActive(l.mask!)));
    after.forEach((c, k) => expect(c).toBeLessThan(counts[k])); // pruned at 32, never regrown
    for (const g of [actorGroup, criticGroup]) {
      g.targets.forEach((t, k) => {
        for (let l = 0; l < 2; l++) {
          const mask = t.layers[l].mask!;
          expect(countActive(mask)).toBeLessThanOrEqual(countActive(g.networks[k].layers[l].mask!));
          for (let i = 0; i < mask.length; i++) if (!mask[i]) expect(t.layers[l].weight[i]).toBe(0);
        }
        expect(t.layers[2].mask).toBeNull();
      });
    }
  });
});

describe.runIf(nativeBuilt)('polyakFrom(…, { masks: "none" }) agrees between engines', () => {
  it('plain average over every entry, target masks removed', async () => {
    const outs = [];
    for (const name of ['tfjs', 'native'] as const) {
      const engine = await createEngine({ engine: name, backend: 'cpu', threads: 1 });
      const spec = { layerSizes: [3, 2], hiddenActivation: 'relu', outputActivation: 'linear' } as const;
      const online = engine.createMlp({ name: 'o', ...spec });
      const target = engine.createMlp({ name: 't', ...spec });
      online.layers[0].weight.set([1, 2, 3, 4, 5, 6]);
      online.setMask(0, Float32Array.from([1, 0, 1, 0, 1, 0]));
      target.layers[0].weight.set([6, 5, 4, 3, 2, 1]);
      target.setMask(0, Float32Array.from([0, 1, 1, 1, 1, 1]));
      target.polyakFrom(online, 0.5, { masks: 'none' });
      expect(target.layers[0].mask).toBeNull();
      outs.push([...target.layers[0].weight]);
    }
    // online masked: [1,0,3,0,5,0]; target masked: [0,5,4,3,2,1] → average
    expect(outs[0]).toEqual([0.5, 2.5, 3.5, 1.5, 3.5, 0.5]);
    expect(outs[1]).toEqual(outs[0]);
  });
});

describe('MaintainSparsity ties and fast path', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  it('drops the smallest, ties at the threshold from the highest index; fewer non-zeros keep their pattern', () => {
    const t = engine.createMlp({ name: 't', layerSizes: [6, 1], hiddenActivation: 'relu', outputActivation: 'linear' });
    t.layers[0].weight.set([0.5, -0.25, 0.25, 0, 0.25, 0.75]);
    keepTopMagnitude(t, 0, 3); // drop 2 of the three 0.25s: indices 4 and 2
    expect([...t.layers[0].mask!]).toEqual([1, 1, 0, 0, 0, 1]);
    keepTopMagnitude(t, 0, 5); // 3 non-zeros ≤ 5: mask = pattern
    expect([...t.layers[0].mask!]).toEqual([1, 1, 0, 0, 0, 1]);
  });
});
