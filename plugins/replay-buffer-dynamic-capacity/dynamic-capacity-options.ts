import type { JsonSchema } from '../../src/index.js';

/**
 * Options of `replay-buffer.dynamic-capacity`. The defaults live in
 * `dynamicCapacityOptionsSchema` only; they are RLx2 [R-code]'s TD3 values (docs/methods.md §1.c).
 */
export interface DynamicCapacityOptions {
  /** Maximum live transitions (RLx2 TD3 1e6, SAC 3e6). */
  readonly capacity: number;
  /** No shrinking at or below this size (RLx2 TD3 1e5, SAC 2e5). */
  readonly minSize: number;
  /** Env steps between checks. */
  readonly checkInterval: number;
  /** K: the oldest transitions the policy distance is measured on (8·B). */
  readonly oldestK: number;
  /** Threshold on the policy distance D (calibrated to the `code` distance). */
  readonly threshold: number;
  /**
   * `code` ([R-code]): D = mean over K×actDim of (π(s) − actionMean)² / 2, then drop
   * ⌊shrinkFraction·size⌋ oldest once per check. `paper` ([R-sub] Eq. 6): D = mean over the
   * oldest K of ‖π(s) − a‖₂ (a the stored executed action), pop the oldest one at a time until
   * D ≤ threshold.
   */
  readonly distance: 'code' | 'paper';
  /** Fraction of the size dropped per check in `code` mode. */
  readonly shrinkFraction: number;
}

/** JSON Schema of `replay-buffer.dynamic-capacity`'s options (without `type`), with every default. */
export const dynamicCapacityOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    capacity: { type: 'integer', minimum: 1, default: 1000000, description: 'Maximum live transitions (RLx2: TD3 1e6, SAC 3e6).' },
    minSize: { type: 'integer', minimum: 0, default: 100000, description: 'Never shrink at or below this size (RLx2: TD3 1e5, SAC 2e5).' },
    checkInterval: { type: 'integer', minimum: 1, default: 10000, description: 'Env steps between policy-distance checks.' },
    oldestK: { type: 'integer', minimum: 1, default: 2048, description: 'K oldest transitions the distance is measured on (8·batch).' },
    threshold: { type: 'number', minimum: 0, default: 0.2, description: 'Policy-distance threshold.' },
    distance: { enum: ['code', 'paper'], default: 'code', description: 'code: MSE(π(s), actionMean)/2 and drop 10% once; paper: mean L2 ‖π(s) − a‖ and pop until below.' },
    shrinkFraction: { type: 'number', minimum: 0, maximum: 1, default: 0.1, description: 'Fraction of the size dropped per check (code mode).' },
  },
};
