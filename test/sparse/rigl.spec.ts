import { describe, expect, it } from 'vitest';
import { RigLSparsifier } from '../../plugins/sparsifier-rigl/rigl-sparsifier.js';
import type { NetworkGroup } from '../../src/core/network-group.js';
import { createEngine } from '../../src/nn/engines.js';
import { dropFraction, pruneAndGrow } from '../../src/sparse/topology.js';
import { Rng } from '../../src/util/rng.js';

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
  const make = () => {
    const net = engine.createMlp({ name: 'n', layerSizes: [4, 2], hiddenActivation: 'relu', outputActivation: 'linear' });
    const target = engine.createMlp({ name: 'nT', layerSizes: [4, 2], hiddenActivation: 'relu', outputActivation: 'linear' });
    net.layers[0].weight.set([0.9, -0.1, 0.5, 0, /**/ 0, -0.7, 0.05, 0.3]);
    net.setMask(0, Float32Array.from([1, 1, 1, 0, /**/ 0, 1, 1, 1])); // 6 active
    target.copyFrom(net);
    const opt = engine.createAdam(net, { lr: 1e-3 });
    opt.state.get('n.l1.weight')!.m.fill(0.5);
    opt.state.get('n.l1.weight')!.v.fill(0.5);
    return { net, target, opt };
  };

  it('drops ⌊ζ·n⌋ smallest |W|, grows the same number by score, zero-inits grown weights and their Adam state', () => {
    const { net, target, opt } = make();
    // ζ = 0.5 → n_prune = 3: drop |w| = 0.05, 0.1, 0.3 (indices 6, 1, 7); keep 0, 2, 5
    const score = Float32Array.from([0, 0.2, 0, 0.9, /**/ 0.8, 0, 0, 0.1]);
    const r = pruneAndGrow(net, 0, 0.5, score, { optimizer: opt, resetOptimizerState: true, target });
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
    const { net, opt } = make();
    pruneAndGrow(net, 0, 0.5, Float32Array.from([0, 0.2, 0, 0.9, 0.8, 0, 0, 0.1]), { optimizer: opt, resetOptimizerState: false });
    expect(opt.state.get('n.l1.weight')!.m[3]).toBe(0.5);
  });
});

describe('RigL sparsifier schedule (separate counters, ΔT, T_end, skipped steps)', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  it('updates on calls ΔT, 2ΔT, … < T_end, asks for dense gradients just before, keeps density', () => {
    const net = engine.createMlp({ name: 'critic1', layerSizes: [8, 16, 1], hiddenActivation: 'relu', outputActivation: 'linear' });
    const rng = new Rng(1);
    for (const l of net.layers) l.weight.forEach((_, i) => (l.weight[i] = rng.normal()));
    const group: NetworkGroup = { name: 'critic', networks: [net], targets: [], optimizers: [engine.createAdam(net, { lr: 1e-3 })] };
    const s = new RigLSparsifier({
      actorSparsity: 0.5, criticSparsity: 0.5, sparsityDistribution: 'uniform', maskInit: 'magnitude',
      topologyUpdate: { interval: 3, endStep: { actor: 0, critic: 10 }, dropFraction: 0.5, dropFractionSchedule: 'cosine', growCriterion: 'random', skipOptimizerStep: true, resetOptimizerStateOnGrow: true },
    });
    s.initialize([group], new Rng(2));
    const active0 = net.layers[0].mask!.reduce((a, b) => a + b, 0);
    const steps: boolean[] = [];
    for (let call = 1; call <= 12; call++) steps.push(s.beforeOptimizerStep(group));
    // calls 3, 6, 9 update and skip the step; 12 ≥ T_end = 10 does not
    expect(steps.map((x, i) => (x ? 0 : i + 1)).filter(Boolean)).toEqual([3, 6, 9]);
    expect(net.layers[0].mask!.reduce((a, b) => a + b, 0)).toBe(active0);
    expect(s.metrics([group])['topology/critic_mask_change']).toBeGreaterThan(0);
  });
});
