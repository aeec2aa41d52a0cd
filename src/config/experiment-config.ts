import type { EvaluationReseed } from '../train/evaluator.js';

/**
 * The validated experiment config (defaults applied, frozen). Mirrors
 * `schemas/experiment.schema.json`; plugin sections carry their plugin's own options.
 */
export interface PluginSection {
  readonly type: string;
  readonly [option: string]: unknown;
}

export interface ExperimentConfig {
  readonly $schema?: string;
  readonly name: string;
  readonly description?: string;
  readonly seed: number;
  readonly totalSteps: number;
  readonly environment: PluginSection;
  readonly agent: PluginSection;
  readonly sparsifier: PluginSection;
  readonly replayBuffer: PluginSection;
  readonly loggers: readonly PluginSection[];
  readonly evaluation: { readonly interval: number; readonly episodes: number; readonly seedOffset: number; readonly reseed: EvaluationReseed; readonly atStart: boolean };
  readonly checkpoint: { readonly interval: number; readonly keep: number; readonly replayBuffer: boolean };
  readonly runtime: {
    readonly engine: 'auto' | 'native' | 'tfjs';
    readonly backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
    readonly threads: number;
    readonly overlapEnvStep: boolean;
  };
  readonly output: { readonly dir: string; readonly progress: 'auto' | 'bar' | 'lines' | 'none' };
  readonly plugins: readonly string[];
}
