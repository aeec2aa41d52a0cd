import { describe, expect, it } from 'vitest';
import type { NetworkGroup } from '../../src/core/network-group.js';
import { createEngine } from '../../src/nn/engines.js';
import { flopsMetrics, forwardFlops } from '../../src/sparse/flops.js';

describe('FLOPs and size accounting (docs/methods.md §1.e, §2.e)', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  // TD3-shaped toy: obs 2, act 1, one hidden layer of 2. Actor 2→2→1 (6 weights), critics 3→2→1 (8 each)
  const mlp = (name: string, sizes: number[]) => engine.createMlp({ name, layerSizes: sizes, hiddenActivation: 'relu', outputActivation: 'linear' });
  const actor = mlp('actor', [2, 2, 1]);
  const actorT = mlp('actorTarget', [2, 2, 1]);
  const critics = [mlp('critic1', [3, 2, 1]), mlp('critic2', [3, 2, 1])];
  const criticTs = [mlp('critic1Target', [3, 2, 1]), mlp('critic2Target', [3, 2, 1])];
  for (const n of [actor, actorT]) n.setMask(0, Float32Array.from([1, 0, 0, 1])); // 2 of 4
  for (const n of [...critics, ...criticTs]) n.setMask(0, Float32Array.from([1, 1, 0, 0, 0, 1])); // 3 of 6
  const groups: NetworkGroup[] = [
    { name: 'actor', networks: [actor], targets: [actorT], optimizers: [] },
    { name: 'critic', networks: critics, targets: criticTs, optimizers: [] },
  ];

  it('forward FLOPs = 2 per active weight', () => {
    expect(forwardFlops(actor)).toBe(8); // 2·(2 + 2)
    expect(forwardFlops(actor, true)).toBe(12);
    expect(forwardFlops(critics[0])).toBe(10); // 2·(3 + 2)
  });

  it('hand-computed sizes, inference and training FLOPs (TD3, B = 4, d = 2, RigL ΔT = 10)', () => {
    const m = flopsMetrics(groups, { batchSize: 4, actorUpdateInterval: 2, criticsInActorLoss: 1, targetActor: true }, { denseGradientInterval: 10 });
    expect(m['flops/params']).toBe(14); // 4 + 5 + 5
    expect(m['flops/params_ratio']).toBeCloseTo(14 / 22, 12);
    expect(m['flops/params_with_targets']).toBe(28);
    expect(m['flops/params_with_targets_ratio']).toBeCloseTo(28 / 44, 12);
    expect(m['flops/inference']).toBe(8);
    expect(m['flops/inference_ratio']).toBeCloseTo(8 / 12, 12);
    expect(m['flops/density/actor.l1.weight']).toBe(0.5);
    expect(m['flops/density/critic2.l2.weight']).toBe(1);
    // per sample: target actor 8 + target critics 2·10 + critics 2·3·10 + (3·8 + 2·10)/2 = 110,
    // dense-gradient extra (16−10)/10·2 + (12−8)/(2·10) = 1.4 → ×B = 445.6; dense: 4·174 = 696
    expect(m['flops/train_per_iteration']).toBeCloseTo(445.6, 9);
    expect(m['flops/train_ratio']).toBeCloseTo(445.6 / 696, 12);
  });

  it('SAC: online actor for the next action, both critics in the actor loss, no dense-gradient term', () => {
    const sacGroups: NetworkGroup[] = [{ ...groups[0], targets: [] }, groups[1]];
    const m = flopsMetrics(sacGroups, { batchSize: 1, actorUpdateInterval: 1, criticsInActorLoss: 2, targetActor: false });
    // 8 + 20 + 60 + (24 + 2·2·10) = 152
    expect(m['flops/train_per_iteration']).toBe(152);
    expect(m['flops/params_with_targets']).toBe(24);
  });
});
