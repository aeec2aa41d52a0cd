import { describe, expect, it } from 'vitest';
import { createEngine, type BackwardOptions, type Mlp, type NetworkGroup, type Optimizer } from '../../src/index.js';
import { concatRows, createTwinCritics, updateTwinCritics } from '../../src/rl/twin-critics.js';
import { recordingSparsifier } from './fakes.js';

describe('twin critics (Fujimoto et al. 2018; Haarnoja et al. 2018)', () => {
  it('concatRows interleaves rows: [[1,2],[3,4]] ⊕ [[9],[8]] = [[1,2,9],[3,4,8]]', () => {
    const out = new Float32Array(6);
    concatRows(Float32Array.from([1, 2, 3, 4]), 2, Float32Array.from([9, 8]), 1, 2, out);
    expect([...out]).toEqual([1, 2, 9, 3, 4, 8]);
    expect(() => concatRows(Float32Array.from([1, 2, 3, 4]), 2, Float32Array.from([9, 8]), 1, 2, new Float32Array(5))).toThrow(RangeError);
  });

  it('updateTwinCritics: loss Σ_heads mean (Q − y)², dL/dQ = 2(Q − y)/B, hooks around both backwards', () => {
    const s = recordingSparsifier({ dense: true });
    // head 1 predicts [1, 2], head 2 [0, 4]; y = [1, 0]; B = 2
    const head = (name: string, q: number[]) =>
      ({
        forward: () => (s.calls.push(`${name}.forward`), Float32Array.from(q)),
        backward: (g: Float32Array, o: BackwardOptions) => (s.calls.push(`${name}.backward([${[...g]}], dense=${o.denseGrad})`), null),
      }) as unknown as Mlp;
    const optimizer = { step: () => void s.calls.push('step') } as unknown as Optimizer;
    const group: NetworkGroup = { name: 'critic', networks: [head('q1', [1, 2]), head('q2', [0, 4])], targets: [], optimizers: [optimizer, optimizer] };
    const loss = updateTwinCritics(group, s, new Float32Array(2), Float32Array.from([1, 0]), 2, new Float32Array(2));
    // head 1: ((0)² + (2)²)/2 = 2; head 2: ((−1)² + 4²)/2 = 8.5
    expect(loss).toBe(10.5);
    expect(s.calls).toEqual([
      'needsDenseGradient(critic)',
      'q1.forward', 'q1.backward([0,2], dense=true)',
      'q2.forward', 'q2.backward([-1,4], dense=true)',
      'beforeOptimizerStep(critic)', 'step', 'step', 'afterOptimizerStep(critic)',
    ]);
  });

  it('createTwinCritics: two (obs+act) → h → 1 heads, their targets and one Adam each, as the critic group', async () => {
    const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
    const twin = createTwinCritics(engine, 5, [4], { lr: 1e-3 });
    expect(twin.group.name).toBe('critic');
    expect(twin.group.networks.map((n) => n.spec.name)).toEqual(['critic1', 'critic2']);
    expect(twin.group.targets.map((n) => n.spec.name)).toEqual(['critic1Target', 'critic2Target']);
    expect(twin.critics[0].spec.layerSizes).toEqual([5, 4, 1]);
    expect(twin.group.optimizers).toHaveLength(2);
  });
});
