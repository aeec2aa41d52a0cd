import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Agent } from '../core/agent.js';
import { EvalEnvironment, type BoxSpace, type Environment } from '../core/environment.js';
import type { ExperimentConfig } from '../config/experiment-config.js';
import { RunContainer } from '../plugin/run-container.js';
import type { PluginRegistry } from '../plugin/plugin-registry.js';
import { latestCheckpoint, loadCheckpoint } from './checkpoint.js';
import { Evaluator, type EvaluationResult } from './evaluator.js';
import { ActionScaler } from './rollout.js';

/** Where a saved policy lives: the run directory and the checkpoint folder chosen. */
export interface SavedPolicy {
  readonly runDir: string;
  readonly checkpoint: string;
}

/**
 * Finds the checkpoint of `path`: a checkpoint folder (`<run>/checkpoints/step-…`, holding
 * `state.json`) or a run directory (its latest complete checkpoint).
 * @throws Error naming `path` when it is neither, or the run has no checkpoint yet
 */
export function findSavedPolicy(path: string): SavedPolicy {
  const p = resolve(path);
  if (existsSync(join(p, 'state.json')) && existsSync(join(p, 'model.safetensors'))) return { runDir: dirname(dirname(p)), checkpoint: p };
  if (!existsSync(join(p, 'config.json'))) throw new Error(`${p} is neither a run directory (config.json) nor a checkpoint folder (state.json + model.safetensors)`);
  const checkpoint = latestCheckpoint(join(p, 'checkpoints'));
  if (!checkpoint) throw new Error(`run ${p} has no complete checkpoint yet (checkpoints/ is empty)`);
  return { runDir: p, checkpoint };
}

/** What `evaluatePolicy` measured (also written as `eval.json`). */
export interface PolicyEvaluation extends EvaluationResult {
  readonly checkpoint: string;
  readonly step: number;
  readonly envId: string;
  readonly seed: number;
  readonly deterministic: true;
  readonly videoDir?: string;
}

/**
 * Deterministic evaluation of a saved policy (the actor of `saved.checkpoint`, no exploration
 * noise) on one evaluation environment of `config` (the run's config, possibly with
 * `environment.id` or the environment's video option overridden): `episodes` complete episodes,
 * the env reset once with `seed`. The agent is rebuilt from the config and the checkpoint's
 * networks and masks are loaded into it, so any agent/sparsifier plugin the run used works.
 * @throws Error when the checkpoint does not fit the networks (naming the tensor), EnvironmentError when the env fails
 */
export async function evaluatePolicy(
  config: ExperimentConfig, registry: PluginRegistry, saved: SavedPolicy, options: { episodes: number; seed: number; videoDir?: string },
): Promise<PolicyEvaluation> {
  const run = new RunContainer(config, registry, { evaluationOnly: true });
  try {
    const env = await run.get<Environment>(EvalEnvironment);
    const agent = await run.get<Agent>(Agent);
    const { state } = loadCheckpoint(saved.checkpoint, agent.groups);
    const evaluator = new Evaluator(env, agent, new ActionScaler(env.actionSpace as BoxSpace), options.episodes, options.seed);
    const result = await evaluator.evaluate();
    return { ...result, checkpoint: saved.checkpoint, step: state.step, envId: env.info.envId, seed: options.seed, deterministic: true, ...(options.videoDir ? { videoDir: options.videoDir } : {}) };
  } finally {
    await run.close();
  }
}
