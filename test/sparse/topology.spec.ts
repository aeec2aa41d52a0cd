import { describe, expect, it } from 'vitest';
import type { NetworkGroup } from '../../src/core/network-group.js';
import { createEngine } from '../../src/nn/engines.js';
import { dropFraction, pruneAndGrow } from '../../src/sparse/topology.js';

describe('drop-fraction schedule', () => {
  it('cosine: ζ₀ at 0, ζ₀/2 at T/2, 0 at and after T; constant stays ζ₀ until T', () => {
    expect(dropFraction('cosine', 0.5, 0, 100)).toBe(0.5);
    expect(dropFraction('cosine', 0.5, 50, 100)).toBeCloseTo(0.25, 12);
    expect(dropFraction('cosine', 0.5, 25, 100)).toBeCloseTo(0.25 * (1 + Math.SQRT1_2), 12);
    expect(dropFraction('cosine', 0.5, 100, 100)).toBe(0);
    expect(dropFraction('constant', 0.3, 99, 100)).toBe(0.3);
    expect(dropFraction('constant', 0.3, 100, 100)).toBe(0);
  });
});

describe('prune and grow on a hand-checked layer', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  const make = (withTarget = true) => {
    // layer 0 `[2, 4]` masked, layer 1 `[1, 2]` dense
    const net = engine.createMlp({ name: 'n', layerSizes: [4, 2, 1], hiddenActivation: 'relu', outputActivation: 'linear' });
    const target = engine.createMlp({ name: 'nT', layerSizes: [4, 2, 1], hiddenActivation: 'relu', outputActivation: 'linear' });
    net.layers[0].weight.set([0.9, -0.1, 0.5, 0, /**/ 0, -0.7, 0.05, 0.3]);
    net.setMask(0, Float32Array.from([1, 1, 1, 0, /**/ 0, 1, 1, 1])); // 6 active
    target.copyFrom(net);
    const opt = engine.createAdam(net, { lr: 1e-3 });
    opt.state.get('n.l1.weight')!.m.fill(0.5);
    opt.state.get('n.l1.weight')!.v.fill(0.5);
    const group: NetworkGroup = { name: 'g', networks: [net], targets: withTarget ? [target] : [], optimizers: [opt] };
    return { net, target, opt, group };
  };

  it('drops ⌊ζ·n⌋ smallest |W|, grows the same number by score, zero-inits grown weights and their Adam state', () => {
    const { net, target, opt, group } = make();
    // ζ = 0.5 → n_prune = 3: drop |w| = 0.05, 0.1, 0.3 (indices 6, 1, 7); keep 0, 2, 5
    const score = Float32Array.from([0, 0.2, 0, 0.9, /**/ 0.8, 0, 0, 0.1]);
    const r = pruneAndGrow(group, net, 0, 0.5, score, { resetOptimizerState: true });
    // grow top-3 scores outside keep: index 3 (0.9), 4 (0.8), 1 (0.2, just dropped → regrown keeps value)
    expect([...net.layers[0].mask!]).toEqual([1, 1, 1, 1, /**/ 1, 1, 0, 0]);
    expect([...net.layers[0].weight].map((x) => Math.round(x * 100) / 100)).toEqual([0.9, -0.1, 0.5, 0, /**/ 0, -0.7, 0, 0]);
    expect(r).toEqual({ dropped: 2, grown: 2 });
    const { m, v } = opt.state.get('n.l1.weight')!;
    expect([...m]).toEqual([0.5, 0.5, 0.5, 0, 0, 0.5, 0.5, 0.5]);
    expect([...v]).toEqual([0.5, 0.5, 0.5, 0, 0, 0.5, 0.5, 0.5]);
    expect(target.layers[0].mask).toEqual(net.layers[0].mask); // targets share the mask
    expect(target.layers[0].weight[6]).toBe(0);
  });

  it('keeps Adam state of grown weights when resetOptimizerState is false (RLx2 code)', () => {
    const { net, opt, group } = make(false);
    pruneAndGrow(group, net, 0, 0.5, Float32Array.from([0, 0.2, 0, 0.9, 0.8, 0, 0, 0.1]), { resetOptimizerState: false });
    expect(opt.state.get('n.l1.weight')!.m[3]).toBe(0.5);
  });

  it('ties: equal |W| drop the higher index, equal grow scores grow the lower index', () => {
    const { net, group } = make();
    net.layers[0].weight.set([0.5, 0.5, 0.5, 0, /**/ 0, 0.5, 0.5, 0.5]);
    // ζ = 0.5 → drop 3 of six equal |w| = 0.5: the higher indices 5, 6, 7; grow 3 among 3, 4, 5, 6, 7 by equal score → 3, 4, 5
    const r = pruneAndGrow(group, net, 0, 0.5, new Float32Array(8).fill(1), { resetOptimizerState: false });
    expect([...net.layers[0].mask!]).toEqual([1, 1, 1, 1, /**/ 1, 1, 0, 0]);
    expect(r).toEqual({ dropped: 2, grown: 2 });
  });

  it('leaves an unmasked layer and a zero drop count alone; rejects a network outside the group', () => {
    const { net, group } = make();
    const before = Float32Array.from(net.layers[0].mask!);
    expect(pruneAndGrow(group, net, 0, 0.1, new Float32Array(8), { resetOptimizerState: true })).toEqual({ dropped: 0, grown: 0 }); // ⌊0.1·6⌋ = 0
    expect(net.layers[0].mask).toEqual(before);
    expect(pruneAndGrow(group, net, 1, 0.5, new Float32Array(2), { resetOptimizerState: true })).toEqual({ dropped: 0, grown: 0 }); // layer 1 unmasked
    const stranger = engine.createMlp({ name: 's', layerSizes: [4, 2], hiddenActivation: 'relu', outputActivation: 'linear' });
    expect(() => pruneAndGrow(group, stranger, 0, 0.5, new Float32Array(8), { resetOptimizerState: true })).toThrow(/not one of group g/);
  });
});
