import type { NetworkGroup } from './network-group.js';

/**
 * A training contribution (multi-slot, like loggers): any plugin may bind one or more in its
 * `register` to take part in the loop without being the agent or the sparsifier — a schedule, a
 * probe, an extra metric. Every hook is optional. Hooks run in binding order.
 */
export interface TrainingContribution {
  /** Before the first env step, once the networks exist (masks initialised). */
  onStart?(run: { readonly groups: readonly NetworkGroup[]; readonly totalSteps: number }): void;
  /**
   * After the gradient updates of each env step of the vector env.
   * @param step env steps done so far
   * @returns metrics to log at `step`, or nothing
   */
  onStep?(step: number): Record<string, number> | void;
  /** After each evaluation (mean return over its episodes, at env step `step`). */
  onEvaluation?(meanReturn: number, step: number): void;
  /** After the last step of a completed run. */
  onEnd?(): void | Promise<void>;
  /** JSON-serialisable state for checkpoints (a resumed run calls `onStart`, then `loadState`). */
  state?(): unknown;
  /** Restores `state()`. */
  loadState?(state: unknown): void;
}

/** DI token of the run's `TrainingContribution`s (bound by any plugin; collected with `getAll`). */
export const TrainingContribution = Symbol.for('sparse-rl.TrainingContribution');
