import type { Mlp } from '../nn/engine.js';
import { sparsityMetrics } from '../sparse/sparsity-metrics.js';
import type { Rng } from '../util/rng.js';
import type { NetworkGroup } from './network-group.js';

/**
 * The `Sparsifier` extension point: decides and maintains the masks of the actor and critic.
 *
 * Hook order for one gradient update of a group (docs/architecture.md §4): `needsDenseGradient` (before
 * backward) → gradients computed → `beforeOptimizerStep` (topology update if due; returns
 * false to skip this optimizer step, as RLx2 [R-code] does) → optimizer step (the engine masks
 * gradients and re-applies masks) → `afterOptimizerStep` → target update (Polyak; targets
 * re-masked with the online masks by the engine) → `afterTargetUpdate`.
 *
 * Only `initialize` is required; every other hook is optional and defaults to doing nothing
 * (`needsDenseGradient` false, `beforeOptimizerStep` true, `metrics` the per-layer
 * `sparsity/*` of `sparsityMetrics`, `state` `{}`). The host fills the defaults in
 * (`withSparsifierDefaults`), so agents call every hook unconditionally.
 */
export interface Sparsifier {
  /**
   * Chooses the initial masks of every group's networks and copies them to the targets.
   * Called once, after the agent initialised its weights and before training.
   * @param rng a stream derived from the run seed
   */
  initialize(groups: readonly NetworkGroup[], rng: Rng): void;
  /** True when the next backward of `group` must produce dense weight gradients (RigL grow). */
  needsDenseGradient?(group: NetworkGroup): boolean;
  /** Called after backward; may update the topology. @returns false to skip this optimizer step. */
  beforeOptimizerStep?(group: NetworkGroup): boolean;
  /** Called after the optimizer step of `group`. */
  afterOptimizerStep?(group: NetworkGroup): void;
  /** Called after the Polyak update of `group`'s targets. */
  afterTargetUpdate?(group: NetworkGroup): void;
  /**
   * Optional, how target networks get their masks. `online` (default): targets share the
   * online masks (the engine re-masks them in `polyakFrom`, RLx2). `own`: agents call
   * `polyakFrom(online, tau, { masks: 'none' })` (plain Polyak average, target masks removed)
   * and the sparsifier sets the targets' own masks in `afterTargetUpdate` (DS-TD3).
   */
  readonly targetMasks?: 'online' | 'own';
  /**
   * Optional, for FLOPs accounting: a group's backward is dense once every this many of its
   * updates (RigL's grow criterion); absent when gradients are never dense.
   */
  readonly denseGradientInterval?: number;
  /**
   * Optional, for size accounting (`flops/params*`, `compression/*`): the number of values layer
   * `index` of `net` stores when its parameterisation stores fewer than its active mask entries
   * (GST's block-circulant layers: b per active b×b block); undefined for a plain masked layer.
   */
  storedWeights?(net: Mlp, index: number): number | undefined;
  /**
   * Optional: metrics produced by the hooks since the last call (e.g. RNM-TD3's SAD at each mask
   * update), drained by the trainer after each env step's gradient updates and logged at that
   * step. @returns the metrics, or null when nothing happened
   */
  takeUpdateMetrics?(): Record<string, number> | null;
  /** Hears every evaluation's mean return (GST's reward-aware pruning needs it). */
  onEvaluation?(meanReturn: number, step: number): void;
  /** Per-layer and per-network `sparsity/*` metrics (fraction of zeros in weights). */
  metrics?(groups: readonly NetworkGroup[]): Record<string, number>;
  /** JSON-serialisable state for checkpoints (counters, schedules). */
  state?(): unknown;
  /** Restores `state()`. */
  loadState?(state: unknown): void;
}

/** DI token of the run's `Sparsifier`. */
export const Sparsifier = Symbol.for('sparse-rl.Sparsifier');

/** The hooks agents call on every update; `withSparsifierDefaults` makes one from any `Sparsifier`. */
export const SPARSIFIER_HOOKS = ['needsDenseGradient', 'beforeOptimizerStep', 'afterOptimizerStep', 'afterTargetUpdate', 'onEvaluation', 'metrics', 'state', 'loadState'] as const;

/** A `Sparsifier` whose optional hooks are all present (what agents and the trainer see). */
export type SparsifierHooks = Sparsifier & Required<Pick<Sparsifier, (typeof SPARSIFIER_HOOKS)[number]>>;

/** The defaults of the optional hooks (see `Sparsifier`). */
const defaultHooks: Required<Pick<Sparsifier, (typeof SPARSIFIER_HOOKS)[number]>> = {
  needsDenseGradient: () => false,
  beforeOptimizerStep: () => true,
  afterOptimizerStep: () => {},
  afterTargetUpdate: () => {},
  onEvaluation: () => {},
  metrics: (groups) => sparsityMetrics(groups),
  state: () => ({}),
  loadState: () => {},
};

/**
 * `sparsifier` with every missing optional hook replaced by its default. Returns `sparsifier`
 * itself when it already has them all (e.g. a `BaseSparsifier`), else a view that forwards the
 * present members (bound to `sparsifier`).
 */
export function withSparsifierDefaults(sparsifier: Sparsifier): SparsifierHooks {
  if (SPARSIFIER_HOOKS.every((h) => typeof sparsifier[h] === 'function')) return sparsifier as SparsifierHooks;
  return new Proxy(sparsifier, {
    get(target, prop, receiver) {
      const own = Reflect.get(target, prop, receiver) as unknown;
      if (own === undefined && prop in defaultHooks) return defaultHooks[prop as keyof typeof defaultHooks];
      return typeof own === 'function' ? (own as (...a: unknown[]) => unknown).bind(target) : own;
    },
  }) as SparsifierHooks;
}
