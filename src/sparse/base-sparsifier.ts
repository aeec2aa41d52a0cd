import type { NetworkGroup } from '../core/network-group.js';
import type { Sparsifier } from '../core/sparsifier.js';
import type { Rng } from '../util/rng.js';
import { sparsityMetrics } from './sparsity-metrics.js';

/**
 * The base most sparsifiers extend: every optional hook of `Sparsifier` with its default
 * behaviour (no dense gradients, never skip the optimizer step, nothing after steps or
 * evaluations, `sparsity/*` metrics, empty state). A method overrides what it changes;
 * `initialize` (choose the initial masks) is the one method it must write.
 */
export abstract class BaseSparsifier implements Sparsifier {
  /** Chooses the initial masks (see `Sparsifier.initialize`). */
  abstract initialize(groups: readonly NetworkGroup[], rng: Rng): void;
  needsDenseGradient(_group: NetworkGroup): boolean {
    return false;
  }
  beforeOptimizerStep(_group: NetworkGroup): boolean {
    return true;
  }
  afterOptimizerStep(_group: NetworkGroup): void {}
  afterTargetUpdate(_group: NetworkGroup): void {}
  onEvaluation(_meanReturn: number, _step: number): void {}
  metrics(groups: readonly NetworkGroup[]): Record<string, number> {
    return sparsityMetrics(groups);
  }
  state(): unknown {
    return {};
  }
  loadState(_state: unknown): void {}
}
