import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Agent } from '../core/agent.js';
import { EvalEnvironment, type BoxSpace, type Environment } from '../core/environment.js';
import type { ExperimentConfig } from '../config/experiment-config.js';
import { RunContainer } from '../plugin/run-container.js';
import type { PluginRegistry } from '../plugin/plugin-registry.js';
import { latestCheckpoint, loadCheckpoint } from './checkpoint.js';
import { agentPolicy, Evaluator, type EnvPolicy, type EvaluationResult } from './evaluator.js';
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
  /** The exported policy file evaluated instead of the checkpoint's networks. */
  readonly policy?: string;
}

/**
 * Deterministic evaluation of a saved policy (the actor of `saved.checkpoint`, no exploration
 * noise; or `options.policy`, an exported ONNX / C policy in env units, instead of the
 * checkpoint) on one evaluation environment of `config` (the run's config, possibly with
 * `environment.id` or the environment's video option overridden): `episodes` complete episodes,
 * the env reset once with `seed`. The agent is rebuilt from the config and the checkpoint's
 * networks and masks are loaded into it, so any agent/sparsifier plugin the run used works.
 * @throws Error when the checkpoint does not fit the networks (naming the tensor), EnvironmentError when the env fails
 */
export async function evaluatePolicy(
  config: ExperimentConfig, registry: PluginRegistry, saved: SavedPolicy,
  options: { episodes: number; seed: number; videoDir?: string; policy?: { act: EnvPolicy; file: string } },
): Promise<PolicyEvaluation> {
  const run = new RunContainer(config, registry, { evaluationOnly: true });
  try {
    const env = await run.get<Environment>(EvalEnvironment);
    let policy: EnvPolicy;
    let step: number;
    if (options.policy) {
      policy = options.policy.act;
      step = (JSON.parse(readFileSync(join(saved.checkpoint, 'state.json'), 'utf8')) as { step: number }).step;
    } else {
      const agent = await run.get<Agent>(Agent);
      step = loadCheckpoint(saved.checkpoint, agent.groups).state.step;
      policy = agentPolicy(agent, new ActionScaler(env.actionSpace as BoxSpace));
    }
    const result = await new Evaluator(env, policy, options.episodes, options.seed).evaluate();
    return {
      ...result, checkpoint: saved.checkpoint, step, envId: env.info.envId, seed: options.seed, deterministic: true,
      ...(options.policy ? { policy: options.policy.file } : {}), ...(options.videoDir ? { videoDir: options.videoDir } : {}),
    };
  } finally {
    await run.close();
  }
}
