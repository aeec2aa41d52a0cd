import { describe, expect, it } from 'vitest';
import type { RigLOptions } from '../../../plugins/sparsifier-rigl/rigl-options.js';
import { RigLSparsifier } from '../../../plugins/sparsifier-rigl/rigl-sparsifier.js';
import type { NetworkGroup } from '../../../src/core/network-group.js';
import { createEngine } from '../../../src/nn/engines.js';
import { countActive } from '../../../src/sparse/mask.js';
import { Rng } from '../../../src/util/rng.js';

const options = (topologyUpdate: Partial<RigLOptions['topologyUpdate']> = {}): RigLOptions => ({
  actorSparsity: 0.5, criticSparsity: 0.5, sparsityDistribution: 'uniform', maskInit: 'magnitude',
  topologyUpdate: {
    interval: 3, endStep: { actor: 0, critic: 10 }, dropFraction: 0.5, dropFractionSchedule: 'cosine', growCriterion: 'random', skipOptimizerStep: true, resetOptimizerStateOnGrow: true,
    ...topologyUpdate,
  },
});

describe('RigL sparsifier schedule (separate counters, ΔT, T_end, skipped steps)', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  const critic = () => {
    const net = engine.createMlp({ name: 'critic1', layerSizes: [8, 16, 1], hiddenActivation: 'relu', outputActivation: 'linear' });
    const rng = new Rng(1);
    for (const l of net.layers) l.weight.forEach((_, i) => (l.weight[i] = rng.normal()));
    const group: NetworkGroup = { name: 'critic', networks: [net], targets: [], optimizers: [engine.createAdam(net, { lr: 1e-3 })] };
    return { net, group };
  };

  it('updates on calls ΔT, 2ΔT, … < T_end, asks for dense gradients just before, keeps density', () => {
    const { net, group } = critic();
    const s = new RigLSparsifier(options());
    s.initialize([group], new Rng(2));
    const active0 = net.layers[0].mask!.reduce((a, b) => a + b, 0);
    const steps: boolean[] = [];
    for (let call = 1; call <= 12; call++) steps.push(s.beforeOptimizerStep(group));
    // calls 3, 6, 9 update and skip the step; 12 ≥ T_end = 10 does not
    expect(steps.map((x, i) => (x ? 0 : i + 1)).filter(Boolean)).toEqual([3, 6, 9]);
    expect(net.layers[0].mask!.reduce((a, b) => a + b, 0)).toBe(active0);
    expect(s.metrics([group])['topology/critic_mask_change']).toBeGreaterThan(0);
  });

  it('needsDenseGradient only before update calls with gradient grow; denseGradientInterval is ΔT', () => {
    const { group } = critic();
    const s = new RigLSparsifier(options({ growCriterion: 'gradient' }));
    s.initialize([group], new Rng(2));
    const dense: number[] = [];
    for (let call = 1; call <= 12; call++) {
      if (s.needsDenseGradient(group)) dense.push(call);
      s.beforeOptimizerStep(group);
    }
    expect(dense).toEqual([3, 6, 9]);
    expect(s.denseGradientInterval).toBe(3);
    expect(new RigLSparsifier(options()).denseGradientInterval).toBeUndefined(); // random grow
  });

  it('initial masks are the static ones: uniform 50 %, largest initial |w| (maskInit: magnitude)', () => {
    const { net, group } = critic();
    const w0 = Float32Array.from(net.layers[0].weight);
    new RigLSparsifier(options()).initialize([group], new Rng(2));
    const m = net.layers[0].mask!;
    expect(countActive(m)).toBe(64); // 128 weights at 0.5
    const kept = [...w0].map(Math.abs).filter((_, i) => m[i]);
    const dropped = [...w0].map(Math.abs).filter((_, i) => !m[i]);
    expect(Math.min(...kept)).toBeGreaterThanOrEqual(Math.max(...dropped));
  });

  it('state() round-trips the counters and the grow stream', () => {
    const a = critic();
    const s = new RigLSparsifier(options());
    s.initialize([a.group], new Rng(2));
    for (let call = 1; call <= 4; call++) s.beforeOptimizerStep(a.group);
    const state = JSON.parse(JSON.stringify(s.state()));
    const b = critic();
    const copy = new RigLSparsifier(options());
    copy.initialize([b.group], new Rng(2));
    copy.loadState(state);
    expect(copy.state()).toEqual(state);
    expect((state as { counters: Record<string, number> }).counters).toEqual({ critic: 4 });
  });

  it('throws for a group that has no sparsity option', () => {
    const { net } = critic();
    const other: NetworkGroup = { name: 'value', networks: [net], targets: [], optimizers: [] };
    expect(() => new RigLSparsifier(options()).initialize([other], new Rng(2))).toThrow(/no sparsity configured for network group "value"/);
  });
});
