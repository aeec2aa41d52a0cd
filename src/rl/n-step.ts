import type { TransitionWindows } from '../core/replay-buffer.js';
import { copyRow } from '../util/arrays.js';

/** The multi-step TD target of one minibatch of windows, less the bootstrap value. */
export interface NStepTarget {
  /** `[B]` Σ_k open·alive·γ^k·r_k (+ the entropy terms when given) */
  readonly partialReturn: Float64Array;
  /** `[B]` index m of the slot whose s'_m is the bootstrap state s* */
  readonly bootstrapSlot: Int32Array;
  /** `[B]` alive·γ^{m+1}: the factor of the bootstrap value min Q'(s*, a*) */
  readonly bootstrapFactor: Float64Array;
}

/**
 * RLx2's multi-step TD target (Tan et al. 2023, [R-code] `TD3.train` / `SAC.update_critic`;
 * docs/methods.md §1.b.3, code-exact). Per window, with `nd_k = 1 − terminated_k` and
 * `rf_k = truncated_k` (the episode ended at slot k by a time limit), start from
 * `acc = 0, alive = 1, open = 1, m = 0` and for k = 0..n−1:
 *
 * ```
 * acc   += open·alive·γ^k·r_k
 * alive *= max(nd_k, 1 − open)
 * acc   += open·alive·γ^{k+1}·entropy[k]          (SAC only: entropy[k] = −α·log π(a'_k|s'_k))
 * stop if k = n−1
 * open  *= 1 − rf_k
 * m     += open
 * ```
 *
 * Target `y = acc + alive·γ^{m+1}·min Q'(s'_m, a*)`. A time-limit end inside the window closes it
 * (the rest belongs to the next episode, which is ignored, and the value of the final
 * observation is bootstrapped); a true termination zeroes the remaining rewards and the
 * bootstrap. For n = 1 this is TD3's `r + γ(1 − terminated)·min Q'` (SAC's with the entropy
 * bonus). No off-policy correction, as in RLx2.
 *
 * @param windows `[B, n]` rewards / terminated / truncated (e.g. `ReplayBuffer.sampleWindows`)
 * @param gamma discount γ in [0, 1]
 * @param entropy optional `[B, n]` soft-value bonus −α·log π(a'_k|s'_k) at every s'_k (nats
 *   times α, in reward units)
 * @returns fresh `[B]` arrays: partial return, bootstrap slot m, bootstrap factor alive·γ^{m+1}
 *   (does not validate its input: arrays shorter than `[B, n]` read as NaN)
 */
export function nStepTarget(windows: TransitionWindows, gamma: number, entropy?: Float32Array | Float64Array): NStepTarget {
  const { size: b, n } = windows;
  const partialReturn = new Float64Array(b);
  const bootstrapSlot = new Int32Array(b);
  const bootstrapFactor = new Float64Array(b);
  for (let i = 0; i < b; i++) {
    let acc = 0;
    let alive = 1;
    let open = 1;
    let m = 0;
    let g = 1; // γ^k
    for (let k = 0; k < n; k++) {
      const j = i * n + k;
      acc += open * alive * g * windows.rewards[j];
      alive *= Math.max(1 - windows.terminated[j], 1 - open);
      if (entropy) acc += open * alive * g * gamma * entropy[j];
      g *= gamma;
      if (k === n - 1) break;
      open *= 1 - windows.truncated[j];
      m += open;
    }
    partialReturn[i] = acc;
    bootstrapSlot[i] = m;
    bootstrapFactor[i] = alive * gamma ** (m + 1);
  }
  return { partialReturn, bootstrapSlot, bootstrapFactor };
}

/**
 * Copies s'_{m_i} of every window into `out` (the bootstrap states s* of `nStepTarget`).
 * @param windows with `nextObservations` `[B, n, obsDim]`
 * @param slots `[B]` the bootstrap slots m_i in [0, n) (`NStepTarget.bootstrapSlot`)
 * @param out `[B, obsDim]`, overwritten
 * @returns `out`
 * @throws RangeError when `out` is shorter than `B·obsDim`
 */
export function gatherBootstrapStates(windows: TransitionWindows, slots: Int32Array, obsDim: number, out: Float32Array): Float32Array {
  if (out.length < windows.size * obsDim) throw new RangeError(`gatherBootstrapStates: out holds ${out.length} floats, ${windows.size} states of ${obsDim} need ${windows.size * obsDim}`);
  for (let i = 0; i < windows.size; i++) copyRow(windows.nextObservations, (i * windows.n + slots[i]) * obsDim, out, i * obsDim, obsDim);
  return out;
}

/** Options of the delayed multi-step TD target shared by `agent.td3` and `agent.sac`. */
export interface NStepOptions {
  /** n; 1 = the ordinary one-step target. */
  readonly n: number;
  /** The n-step target is used from 1-based gradient iteration `delayIterations` on (RLx2: 300 000). */
  readonly delayIterations: number;
}

/** JSON Schema of `nStep` (shared by the agents' option schemas). */
export const nStepSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'RLx2 delayed multi-step TD target (docs/methods.md §1.b.3): n-step after delayIterations gradient iterations; n = 1 is off.',
  properties: {
    n: { type: 'integer', minimum: 1, default: 1, description: 'Steps of the TD target (RLx2: 3).' },
    delayIterations: { type: 'integer', minimum: 0, default: 300000, description: 'n-step targets from gradient iteration it >= delayIterations on (1-based; RLx2 README: 300000).' },
  },
} as const;

/**
 * The agents' start-up check of the replay buffer for their `nStep` option (RLx2 needs
 * contiguous windows, docs/methods.md §1.b.2).
 * @param agent the agent's plugin name (`td3`, `sac`), named in the error
 * @throws Error when n > 1 and the buffer has no `sampleWindows`
 */
export function checkWindowsSupport(agent: string, nStep: NStepOptions, buffer: { sampleWindows?: unknown }): void {
  if (nStep.n > 1 && typeof buffer.sampleWindows !== 'function') {
    throw new Error(
      `agent.${agent}: nStep.n = ${nStep.n} needs a replay buffer that samples contiguous windows (sampleWindows), e.g. replayBuffer.type "uniform" or "dynamic-capacity"; the configured buffer cannot`,
    );
  }
}
