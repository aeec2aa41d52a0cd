import { describe, expect, it } from 'vitest';
import { boundLogStd, sampleTanhGaussian, tanhGaussianActorGrad, type LogStdBounds } from '../../../plugins/agent-sac/tanh-gaussian.js';
import { Rng } from '../../../src/index.js';

const clamp: LogStdBounds = { min: -5, max: 2, mode: 'clamp' };
const smooth: LogStdBounds = { min: -5, max: 2, mode: 'tanh' };

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
});

