/**
 * The tanh-squashed diagonal Gaussian policy of SAC (Haarnoja et al. 2018, App. C), on the raw
 * actor outputs `[B, 2A]` = (mean μ, raw log-std ℓ̃) per row. The log-std ℓ is bounded to
 * [ℓmin, ℓmax] (RLx2: [−5, 2]) either by `tanh` rescaling, ℓ = ℓmin + ½(ℓmax − ℓmin)(tanh ℓ̃ + 1)
 * (RLx2 [R-code] `modules_SAC.DiagGaussianActor`, from pytorch_sac), or by a hard `clamp`;
 * σ = e^ℓ, u = μ + σ·ε with ε ~ N(0, I) (reparameterisation), a = tanh(u).
 *
 *   log π(a|s) = Σ_j [ −ε_j²/2 − ℓ_j − log(2π)/2 − log(1 − tanh²(u_j)) ]
 *
 * with log(1 − tanh² u) = 2·(log 2 − u − softplus(−2u)) for numerical stability.
 */
type Arr = Float32Array | Float64Array;

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

/** How the raw log-std output is bounded to [min, max]. */
export interface LogStdBounds {
  readonly min: number;
  readonly max: number;
  /** `tanh`: smooth rescaling (RLx2 code); `clamp`: hard clip (no gradient outside). */
  readonly mode: 'tanh' | 'clamp';
}

/**
 * Bounded log-std ℓ of a raw actor output ℓ̃ = `raw`, and the slope dℓ/dℓ̃ (`tanh`:
 * ½(max − min)(1 − tanh² ℓ̃); `clamp`: 1 inside the bounds, 0 at or outside them).
 */
export function boundLogStd(raw: number, b: LogStdBounds): { logStd: number; slope: number } {
  if (b.mode === 'tanh') {
    const t = Math.tanh(raw);
    return { logStd: b.min + 0.5 * (b.max - b.min) * (t + 1), slope: 0.5 * (b.max - b.min) * (1 - t * t) };
  }
  if (raw <= b.min) return { logStd: b.min, slope: 0 };
  if (raw >= b.max) return { logStd: b.max, slope: 0 };
  return { logStd: raw, slope: 1 };
}

/**
 * Samples actions and their log-probabilities.
 * @param out `[B, 2A]` actor outputs (μ then ℓ̃ per row)
 * @param eps `[B, A]` standard normal noise (zeros give the deterministic action tanh(μ))
 * @returns `action` `[B, A]` in (−1, 1) and `logProb` `[B]` (nats)
 */
export function sampleTanhGaussian(out: Arr, eps: Arr, b: number, a: number, bounds: LogStdBounds): { action: Float32Array; logProb: Float64Array } {
  const action = new Float32Array(b * a);
  const logProb = new Float64Array(b);
  for (let i = 0; i < b; i++) {
    let lp = 0;
    for (let j = 0; j < a; j++) {
      const mu = out[i * 2 * a + j];
      const l = boundLogStd(out[i * 2 * a + a + j], bounds).logStd;
      const e = eps[i * a + j];
      const u = mu + Math.exp(l) * e;
      action[i * a + j] = Math.tanh(u);
      lp += -0.5 * e * e - l - HALF_LOG_2PI - 2 * (Math.LN2 - u - softplus(-2 * u));
    }
    logProb[i] = lp;
  }
  return { action, logProb };
}

/**
 * Gradient of the SAC actor loss `L = (1/B)·Σ_i [α·log π(a_i|s_i) − min_k Q_k(s_i, a_i)]` with
 * respect to the actor outputs, with ε held fixed (reparameterisation trick). With
 * `G = dL/da` from the critic (back-propagated with output gradient −1/B on the minimising head,
 * so it already carries the sign and the 1/B) and `u = μ + σε`:
 *
 *   dL/du_j = (α/B)·2·tanh(u_j) + G_j·(1 − tanh²(u_j))      (d/du of −log(1 − tanh² u) = 2 tanh u)
 *   dL/dμ_j = dL/du_j
 *   dL/dℓ̃_j = (dL/du_j·σ_j·ε_j − α/B)·dℓ_j/dℓ̃_j    (d log π/dℓ = −1 + 2a·σε; dℓ/dℓ̃ from
 *                                                  `boundLogStd`: ½(ℓmax−ℓmin)(1 − tanh² ℓ̃), or
 *                                                  1 inside / 0 outside the clamp)
 * @param out `[B, 2A]`, eps `[B, A]`, gradAction `[B, A]` (G)
 * @returns `[B, 2A]` dL/d(outputs)
 */
export function tanhGaussianActorGrad(
  out: Arr, eps: Arr, gradAction: Arr, alpha: number, b: number, a: number, bounds: LogStdBounds,
): Float32Array {
  const grad = new Float32Array(b * 2 * a);
  const ab = alpha / b;
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < a; j++) {
      const mu = out[i * 2 * a + j];
      const raw = out[i * 2 * a + a + j];
      const { logStd: l, slope } = boundLogStd(raw, bounds);
      const sigma = Math.exp(l);
      const e = eps[i * a + j];
      const t = Math.tanh(mu + sigma * e);
      const du = ab * 2 * t + gradAction[i * a + j] * (1 - t * t);
      grad[i * 2 * a + j] = du;
      grad[i * 2 * a + a + j] = slope === 0 ? 0 : (du * sigma * e - ab) * slope;
    }
  }
  return grad;
}
