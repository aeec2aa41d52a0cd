import { describe, expect, it } from 'vitest';
import { SacAgent } from '../../plugins/agent-sac/sac-agent.js';
import { Td3Agent } from '../../plugins/agent-td3/td3-agent.js';
import { RigLSparsifier } from '../../plugins/sparsifier-rigl/rigl-sparsifier.js';
import { withSparsifierDefaults } from '../../src/core/sparsifier.js';
import { createEngine } from '../../src/nn/engines.js';
import { flopsMetrics } from '../../src/sparse/flops.js';
import { Rng } from '../../src/util/rng.js';

/**
 * RLx2 (Tan et al., ICLR 2023) submission Table 2, "Size", "FLOPs (Train)" and "FLOPs (Test)"
 * columns, against `flopsMetrics` of real agents at RLx2's settings (256-256, batch 256, ERK over
 * all layers, RigL ΔT = 10000) on the v3 dimensions the paper used (obs, act): HalfCheetah 17/6,
 * Hopper 11/3, Walker2d 17/6, Ant 111/8 (gym Ant-v3 includes the contact forces; 27 without them
 * gives the same ratios to 3 digits: Size 0.0934, train 0.1027 for TD3). docs/methods.md §1.e.
 *
 * `ours` pins our accounting to 4 digits (a change of the count must be deliberate); `table` is
 * RLx2's printed value (3 digits). Tolerances against the table:
 * - Size and FLOPs (Test): ±0.0005 absolute, i.e. the table's rounding — they reproduce exactly
 *   (Size counts weights of all networks including targets; Test = actor density).
 * - FLOPs (Train), TD3: 3 % relative. Our per-sample count 2.5·F(actor) + 9·F(critic) is 0.9–2.7 %
 *   above the table (Ant the most); the table is fitted by an actor:critic weight of 1:3 (ours
 *   1:3.6), a formula App. C.3 would fix, which is not accessible.
 * - FLOPs (Train), SAC with the n = 3 target: 6.5 % relative. Counting the n next-action passes of
 *   the online actor against the dense 1-step reference reproduces Walker2d (uniform 10 % density:
 *   0.1127 vs 0.113, which no same-structure count can reach); HalfCheetah, Hopper, Ant stay
 *   5–6.3 % below the table (without the n-step passes the gap was 11.5 % in every env).
 */
const table = {
  td3: {
    HalfCheetah: { obs: 17, act: 6, sparsity: [0.9, 0.85], size: 0.133, train: 0.138, test: 0.1, ours: { size: 0.1334, train: 0.1392 } },
    Hopper: { obs: 11, act: 3, sparsity: [0.98, 0.95], size: 0.04, train: 0.043, test: 0.02, ours: { size: 0.04, train: 0.0435 } },
    Walker2d: { obs: 17, act: 6, sparsity: [0.97, 0.95], size: 0.043, train: 0.045, test: 0.03, ours: { size: 0.0434, train: 0.0457 } },
    Ant: { obs: 111, act: 8, sparsity: [0.96, 0.88], size: 0.093, train: 0.1, test: 0.04, ours: { size: 0.0934, train: 0.1027 } },
  },
  sac: {
    HalfCheetah: { obs: 17, act: 6, sparsity: [0.9, 0.8], size: 0.18, train: 0.197, test: 0.1, ours: { size: 0.1797, train: 0.1874 } },
    Hopper: { obs: 11, act: 3, sparsity: [0.98, 0.95], size: 0.044, train: 0.048, test: 0.02, ours: { size: 0.044, train: 0.045 } },
    Walker2d: { obs: 17, act: 6, sparsity: [0.9, 0.9], size: 0.1, train: 0.113, test: 0.1, ours: { size: 0.1, train: 0.1127 } },
    Ant: { obs: 111, act: 8, sparsity: [0.9, 0.75], size: 0.22, train: 0.239, test: 0.1, ours: { size: 0.2196, train: 0.2247 } },
  },
} as const;
const trainTolerance = { td3: 0.03, sac: 0.065 };

describe('FLOPs and size against RLx2 Table 2 (v3 dimensions, docs/methods.md §1.e)', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  const common = { hiddenSizes: [256, 256], actorLr: 3e-4, criticLr: 3e-4, weightDecay: 0, batchSize: 256, gamma: 0.99, tau: 0.005, learningStarts: 25000 };
  const nStep = { n: 3, delayIterations: 1 }; // the n-step target is on from the first iteration

  const build = (alg: 'td3' | 'sac', obs: number, act: number, sparsity: readonly number[]) => {
    const sparsifier = new RigLSparsifier({
      actorSparsity: sparsity[0], criticSparsity: sparsity[1], sparsityDistribution: 'erdos-renyi-kernel', maskInit: 'random',
      topologyUpdate: { interval: 10000, endStep: { actor: 1487500, critic: 2975000 }, dropFraction: 0.5, dropFractionSchedule: 'cosine', growCriterion: 'gradient', skipOptimizerStep: true, resetOptimizerStateOnGrow: false },
    });
    const context = { observationSize: obs, actionSpace: { type: 'box' as const, shape: [act], dtype: 'float32' as const, low: Array(act).fill(-1), high: Array(act).fill(1) }, engine, sparsifier: withSparsifierDefaults(sparsifier), rng: new Rng(3) };
    const agent = alg === 'td3'
      ? new Td3Agent({ ...common, policyNoise: 0.2, noiseClip: 0.5, policyDelay: 2, explorationNoise: 0.1, nStep }, context)
      : new SacAgent({ ...common, alphaLr: 3e-4, entropyCoefficient: 'auto', targetEntropy: null, actorUpdateInterval: 1, targetUpdateInterval: 1, logStdMin: -5, logStdMax: 2, logStdBounding: 'tanh', nStep }, context);
    return flopsMetrics(agent.groups, agent.costModel!, sparsifier);
  };

  for (const alg of ['td3', 'sac'] as const) {
    for (const [env, row] of Object.entries(table[alg])) {
      it(`${alg.toUpperCase()} ${env}: size and test FLOPs to the table's rounding, train FLOPs within ${trainTolerance[alg] * 100} %`, () => {
        const m = build(alg, row.obs, row.act, row.sparsity);
        expect(m['flops/params_with_targets_ratio']).toBeCloseTo(row.ours.size, 4);
        expect(m['flops/train_ratio']).toBeCloseTo(row.ours.train, 4);
        expect(Math.abs(m['flops/params_with_targets_ratio'] - row.size)).toBeLessThanOrEqual(0.0005);
        expect(Math.abs(m['flops/inference_ratio'] - row.test)).toBeLessThanOrEqual(0.0005);
        expect(Math.abs(m['flops/train_ratio'] / row.train - 1)).toBeLessThanOrEqual(trainTolerance[alg]);
      });
    }
  }

  it('SAC n-step: n next-action passes per sample in the count, one in the dense reference; 1-step before the delay', () => {
    const row = table.sac.Walker2d;
    const sparsifier = new RigLSparsifier({
      actorSparsity: 0.9, criticSparsity: 0.9, sparsityDistribution: 'erdos-renyi-kernel', maskInit: 'random',
      topologyUpdate: { interval: 10000, endStep: { actor: 2975000, critic: 2975000 }, dropFraction: 0.5, dropFractionSchedule: 'cosine', growCriterion: 'random', skipOptimizerStep: true, resetOptimizerStateOnGrow: false },
    });
    const agent = new SacAgent({ ...common, alphaLr: 3e-4, entropyCoefficient: 'auto', targetEntropy: null, actorUpdateInterval: 1, targetUpdateInterval: 1, logStdMin: -5, logStdMax: 2, logStdBounding: 'tanh', nStep: { n: 3, delayIterations: 300000 } }, {
      observationSize: row.obs, actionSpace: { type: 'box', shape: [row.act], dtype: 'float32', low: Array(row.act).fill(-1), high: Array(row.act).fill(1) }, engine, sparsifier: withSparsifierDefaults(sparsifier), rng: new Rng(3),
    });
    expect(agent.costModel.nextActionPasses).toBe(1); // before delayIterations
    const oneStep = flopsMetrics(agent.groups, agent.costModel, sparsifier);
    const threeStep = flopsMetrics(agent.groups, { ...agent.costModel, nextActionPasses: 3 }, sparsifier);
    const actorForward = oneStep['flops/inference'];
    expect(threeStep['flops/train_per_iteration'] - oneStep['flops/train_per_iteration']).toBeCloseTo(256 * 2 * actorForward, 6);
    // random grow: no dense-gradient term, uniform 10 % density → the 1-step ratio is the density
    expect(oneStep['flops/train_ratio']).toBeCloseTo(0.1, 3);
    expect(threeStep['flops/train_ratio']).toBeGreaterThan(0.112);
  });
});
