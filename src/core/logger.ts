/**
 * The `Logger` extension point (multi-slot: every bound logger receives every record). The core
 * always writes `metrics.jsonl` and `metrics.csv`; logger plugins add other sinks.
 * Keys follow CleanRL/SB3 namespaces: `charts/episodic_return`, `eval/mean_return`,
 * `losses/critic_loss`, `sparsity/actor`, `flops/*`, `time/steps_per_second`.
 */
export interface Logger {
  /** One record of scalar metrics at env step `step`. */
  log(step: number, metrics: Readonly<Record<string, number>>): void;
  /** Optional: where the sink writes and how to view it, printed when the run starts (e.g. `TensorBoard: tensorboard --logdir runs/x/tensorboard`). */
  readonly location?: string;
  /** Flushes and closes the sink. */
  close?(): Promise<void> | void;
}

/** DI token under which logger plugins contribute (`bind(Logger).to...` many times). */
export const Logger = Symbol.for('sparse-rl.Logger');
