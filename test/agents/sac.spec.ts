import { describe, expect, it } from 'vitest';
import { SacAgent, adamScalar, type SacOptions } from '../../plugins/agent-sac/sac-agent.js';
import { boundLogStd, sampleTanhGaussian, tanhGaussianActorGrad, type LogStdBounds } from '../../plugins/agent-sac/tanh-gaussian.js';

const clamp: LogStdBounds = { min: -5, max: 2, mode: 'clamp' };
const smooth: LogStdBounds = { min: -5, max: 2, mode: 'tanh' };
import { UniformReplayBuffer } from '../../plugins/replay-buffer-uniform/uniform-replay-buffer.js';
import { StaticSparsifier } from '../../plugins/sparsifier-static/static-sparsifier.js';
import type { ReplayBuffer } from '../../src/core/replay-buffer.js';
import { createEngine } from '../../src/nn/engines.js';
import { Rng } from '../../src/util/rng.js';

describe('tanh-Gaussian policy', () => {
  it('log π matches the change-of-variables density on a hand case', () => {
    // one action dim: μ = 0.3, ℓ = log 0.5, ε = 0.4 → u = 0.5, a = tanh(0.5)
    const { action, logProb } = sampleTanhGaussian(Float64Array.from([0.3, Math.log(0.5)]), Float64Array.from([0.4]), 1, 1, clamp);
    const a = Math.tanh(0.5);
    expect(action[0]).toBeCloseTo(a, 6);
    const normal = -0.5 * 0.4 ** 2 - Math.log(0.5) - 0.5 * Math.log(2 * Math.PI);
    expect(logProb[0]).toBeCloseTo(normal - Math.log(1 - a * a), 10);
  });

  it('log-std bounding: tanh rescaling maps 0 to the midpoint and ±∞ to the bounds; clamp clips', () => {
    expect(boundLogStd(0, smooth).logStd).toBeCloseTo(-1.5, 12);
    expect(boundLogStd(50, smooth).logStd).toBeCloseTo(2, 12);
    expect(boundLogStd(-50, smooth).logStd).toBeCloseTo(-5, 12);
    expect(boundLogStd(3, clamp)).toEqual({ logStd: 2, slope: 0 });
    expect(boundLogStd(-1, clamp)).toEqual({ logStd: -1, slope: 1 });
  });

  it.each([['clamp', clamp], ['tanh', smooth]] as const)('the analytic actor-output gradient matches finite differences (%s bounds)', (_mode, bounds) => {
    const b = 3;
    const a = 2;
    const alpha = 0.7;
    const rng = new Rng(3);
    const out = Float64Array.from({ length: b * 2 * a }, () => rng.uniformRange(-1, 1));
    out[2 * a + a] = 2.5; // sample 1, log-std dim 0 above the clamp → zero gradient
    const eps = Float64Array.from({ length: b * a }, () => rng.normal());
    const c = [0.4, -0.2];
    // Q(a) = Σ_j c_j a_j − ½ Σ_j a_j²  ⇒ dQ/da = c − a; loss L = (1/B) Σ_i [α log π_i − Q(a_i)]
    const loss = (o: Float64Array) => {
      const { action, logProb } = sampleTanhGaussian(o, eps, b, a, bounds);
      let l = 0;
      for (let i = 0; i < b; i++) {
        let q = 0;
        for (let j = 0; j < a; j++) q += c[j] * action[i * a + j] - 0.5 * action[i * a + j] ** 2;
        l += (alpha * logProb[i] - q) / b;
      }
      return l;
    };
    const { action } = sampleTanhGaussian(out, eps, b, a, bounds);
    const gradAction = Float64Array.from({ length: b * a }, (_, k) => (-1 / b) * (c[k % a] - action[k]));
    const g = tanhGaussianActorGrad(out, eps, gradAction, alpha, b, a, bounds);
    for (let k = 0; k < out.length; k++) {
      const h = 1e-3;
      const p = Float64Array.from(out);
      const m = Float64Array.from(out);
      p[k] += h;
      m[k] -= h;
      // float32 actions inside the loss limit precision to ~1e-4
      expect(g[k]).toBeCloseTo((loss(p) - loss(m)) / (2 * h), 3);
    }
    if (bounds.mode === 'clamp') expect(g[2 * a + a]).toBe(0);
  });

  it('scalar Adam takes a first step of exactly lr against the gradient sign', () => {
    const s = { m: 0, v: 0, t: 0 };
    expect(adamScalar(s, 0, 2.5, 0.1)).toBeCloseTo(-0.1, 6);
  });
});

describe('agent.sac', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  const options: SacOptions = {
    hiddenSizes: [16, 16], actorLr: 1e-3, criticLr: 1e-3, alphaLr: 1e-2, weightDecay: 0, batchSize: 16, gamma: 0.99, tau: 0.01,
    learningStarts: 0, entropyCoefficient: 'auto', targetEntropy: null, actorUpdateInterval: 1, targetUpdateInterval: 1,
    logStdMin: -5, logStdMax: 2, logStdBounding: 'tanh', nStep: { n: 3, delayIterations: 5 },
  };
  const make = () => {
    const sparsifier = new StaticSparsifier({ actorSparsity: 0.5, criticSparsity: 0.5, sparsityDistribution: 'erdos-renyi-kernel', maskInit: 'random' });
    const agent = new SacAgent(options, {
      observationSize: 3, actionSpace: { type: 'box', shape: [2], dtype: 'float32', low: [-1, -1], high: [1, 1] }, engine, sparsifier, rng: new Rng(1),
    });
    const buffer = new UniformReplayBuffer(500, { observationSize: 3, actionSize: 2 });
    const rng = new Rng(2);
    for (let k = 0; k < 200; k++) {
      const o = Float32Array.from({ length: 3 }, () => rng.normal());
      buffer.add({ observation: o, action: Float32Array.from([rng.uniformRange(-1, 1), rng.uniformRange(-1, 1)]), reward: o[0], nextObservation: o.map((x) => x * 0.9), terminated: k % 50 === 49, truncated: k % 37 === 36 });
    }
    return { agent, buffer };
  };

  it('trains with n-step targets: finite losses, α moves, masks stay, no target actor, actions in [-1, 1]', () => {
    const { agent, buffer } = make();
    expect(agent.groups[0].targets).toEqual([]);
    expect(agent.groups[1].targets.length).toBe(2);
    agent.checkReplayBuffer(buffer);
    let stats: Record<string, number> = {};
    for (let k = 0; k < 20; k++) stats = agent.update(buffer);
    for (const v of Object.values(stats)) expect(Number.isFinite(v)).toBe(true);
    expect(agent.alpha).not.toBe(1);
    const l = agent.groups[0].networks[0].layers[1];
    for (let i = 0; i < l.weight.length; i++) if (l.mask![i] === 0) expect(l.weight[i]).toBe(0);
    const acts = agent.act(new Float32Array(6).fill(0.5), 2, false);
    for (const x of acts) expect(Math.abs(x)).toBeLessThanOrEqual(1);
    expect(agent.act(new Float32Array(3), 1, true)).toEqual(agent.act(new Float32Array(3), 1, true));
  });

  it('refuses a buffer without windows when nStep > 1', () => {
    const { agent, buffer } = make();
    const plain = { capacity: 1, size: 1, add: () => {}, sample: buffer.sample.bind(buffer) } as ReplayBuffer;
    expect(() => agent.checkReplayBuffer(plain)).toThrow(/nStep.n = 3 needs a replay buffer that samples contiguous windows/);
  });
});
