import { describe, expect, it } from 'vitest';
import type { NetworkGroup } from '../../src/core/network-group.js';
import { createEngine } from '../../src/nn/engines.js';
import { groupLayerSparsities, groupSparsity, maskInitSchema, setStaticMasks, sparsityDistributionSchema, sparsitySchema } from '../../src/sparse/group-sparsity.js';
import { countActive } from '../../src/sparse/mask.js';
import { Rng } from '../../src/util/rng.js';

describe('groupSparsity', () => {
  const group = (name: string) => ({ name, networks: [], targets: [], optimizers: [] }) as NetworkGroup;
  it('actor → actorSparsity, critic → criticSparsity; any other group throws naming the owner', () => {
    const o = { actorSparsity: 0.9, criticSparsity: 0.8 };
    expect(groupSparsity(group('actor'), o, 'x')).toBe(0.9);
    expect(groupSparsity(group('critic'), o, 'x')).toBe(0.8);
    expect(() => groupSparsity(group('value'), o, 'sparsifier.me')).toThrow('sparsifier.me: no sparsity configured for network group "value"');
  });
});

describe('group allocation and static masks (hand-checked)', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  // two "heads" [4 → 2 → 1]: layers [2, 4] (8 weights) and [1, 2] (2 weights), pooled: 20 weights
  const make = () => {
    const spec = { layerSizes: [4, 2, 1], hiddenActivation: 'relu', outputActivation: 'linear' } as const;
    const q1 = engine.createMlp({ name: 'q1', ...spec });
    const q2 = engine.createMlp({ name: 'q2', ...spec });
    const t1 = engine.createMlp({ name: 'q1T', ...spec });
    const t2 = engine.createMlp({ name: 'q2T', ...spec });
    q1.layers[0].weight.set([0.1, -0.8, 0.3, 0.5, /**/ -0.2, 0.6, 0.05, -0.4]);
    const group: NetworkGroup = { name: 'critic', networks: [q1, q2], targets: [t1, t2], optimizers: [] };
    return { group, q1, q2, t1 };
  };

  it('groupLayerSparsities: one entry per layer in groupLayers order; uniform puts S everywhere', () => {
    const { group } = make();
    const a = groupLayerSparsities(group, 0.5, 'uniform');
    expect(a.map((l) => [l.name, l.index, l.sparsity])).toEqual([['q1.l1.weight', 0, 0.5], ['q1.l2.weight', 1, 0.5], ['q2.l1.weight', 0, 0.5], ['q2.l2.weight', 1, 0.5]]);
    expect(a[2].network).toBe(group.networks[1]);
  });

  it('groupLayerSparsities: ERK pools both heads in one solve (raw densities 6/8 and 3/2)', () => {
    // raw: l1 (4+2)/(4·2) = 0.75, l2 (2+1)/(2·1) = 1.5, 20 weights pooled.
    // S = 0.5: ε = 0.5·20 / (0.75·16 + 1.5·4) = 10/18, ε·1.5 < 1 → S_l1 = 1 − 0.75ε = 7/12, S_l2 = 1 − 1.5ε = 1/6
    const half = groupLayerSparsities(make().group, 0.5, 'erdos-renyi-kernel').map((l) => l.sparsity);
    [7 / 12, 1 / 6, 7 / 12, 1 / 6].forEach((x, k) => expect(half[k]).toBeCloseTo(x, 12));
    // S = 0.25: ε = 0.75·20/18, ε·1.5 > 1 → l2 dense; again: ε = (0.75·16 − 0.25·4) / (0.75·16) = 11/12 → S_l1 = 1 − 0.75ε = 0.3125
    const low = groupLayerSparsities(make().group, 0.25, 'erdos-renyi-kernel').map((l) => l.sparsity);
    [0.3125, 0, 0.3125, 0].forEach((x, k) => expect(low[k]).toBeCloseTo(x, 12));
  });

  it('setStaticMasks: exact active counts, magnitude keeps the largest |w|, targets share the mask, dense layers stay unmasked', () => {
    const { group, q1, t1 } = make();
    setStaticMasks(group, 0.5, 'uniform', 'magnitude', new Rng(1));
    // 8 weights at 0.5 → keep 4 largest |w|: 0.8 (1), 0.6 (5), 0.5 (3), 0.4 (7)
    expect([...q1.layers[0].mask!]).toEqual([0, 1, 0, 1, /**/ 0, 1, 0, 1]);
    expect(t1.layers[0].mask).toEqual(q1.layers[0].mask);
    expect(countActive(q1.layers[1].mask!)).toBe(1); // 2 weights at 0.5
    const erk = make();
    setStaticMasks(erk.group, 0.25, 'erdos-renyi-kernel', 'random', new Rng(1));
    expect(countActive(erk.q1.layers[0].mask!)).toBe(6); // 8 − ⌊0.3125·8⌋
    expect(erk.q1.layers[1].mask).toBeNull();
  });

  it('setStaticMasks draws the random masks layer by layer from rng (same seed, same masks)', () => {
    const a = make();
    const b = make();
    setStaticMasks(a.group, 0.5, 'uniform', 'random', new Rng(4));
    setStaticMasks(b.group, 0.5, 'uniform', 'random', new Rng(4));
    expect(a.q2.layers[0].mask).toEqual(b.q2.layers[0].mask);
    expect(() => setStaticMasks(a.group, 1, 'uniform', 'random', new Rng(4))).toThrow(RangeError);
  });
});

describe('option schemas', () => {
  it('sparsity: a fraction in [0, 1), default only when given; distribution and maskInit enums', () => {
    expect(sparsitySchema('s')).toEqual({ type: 'number', minimum: 0, exclusiveMaximum: 1, description: 's' });
    expect(sparsitySchema('s', 0)).toEqual({ type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0, description: 's' });
    expect(sparsityDistributionSchema('d')).toEqual({ enum: ['uniform', 'erdos-renyi', 'erdos-renyi-kernel'], default: 'erdos-renyi-kernel', description: 'd' });
    expect(maskInitSchema('magnitude', 'm')).toEqual({ enum: ['random', 'magnitude'], default: 'magnitude', description: 'm' });
  });
});
