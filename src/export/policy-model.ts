import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from '../core/agent.js';
import { environmentSpecOf, type BoxSpace, type Space } from '../core/environment.js';
import type { ExperimentConfig } from '../config/experiment-config.js';
import { loadConfig } from '../config/validate.js';
import type { Activation } from '../nn/engine.js';
import { RunContainer } from '../plugin/run-container.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { findSavedPolicy, type SavedPolicy } from '../train/evaluate-policy.js';
import { ActionScaler } from '../train/rollout.js';

/**
 * The structure the run's sparsifier gives a layer's weight, as a hint for exporters that store
 * structure (they verify it on the weights and fall back to `unstructured`):
 * - `dense`: no mask;
 * - `unstructured`: a 0/1 mask of any pattern (static ER/ERK, SET, RigL, RLx2, gradual pruning);
 * - `nm`: at most `n` non-zeros in every group of `m` consecutive inputs of a row (RNM-TD3);
 * - `circulant`: block-circulant with block size `blockSize` (GST; CirCNN layout,
 *   `src/sparse/block-circulant.ts`).
 */
export type LayerStructureHint =
  | { readonly kind: 'dense' }
  | { readonly kind: 'unstructured' }
  | { readonly kind: 'nm'; readonly n: number; readonly m: number }
  | { readonly kind: 'circulant'; readonly blockSize: number };

/** One linear layer of an exported policy: `y = act(x Wᵀ + b)`. */
export interface PolicyLayer {
  /** `actor.l<k>`. */
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** `[out, in]` float32, masked entries exactly 0 (a copy). */
  readonly weight: Float32Array;
  /** `[out]` float32 (a copy). */
  readonly bias: Float32Array;
  /** `[out, in]` 0/1, or null for a dense layer. */
  readonly mask: Uint8Array | null;
  readonly activation: Activation;
  readonly structure: LayerStructureHint;
  /** Non-zero weights allowed by the mask (all for a dense layer). */
  readonly activeWeights: number;
}

/**
 * A trained deterministic policy, engine-free: observation `[obsDim]` in env units → action
 * `[actDim]` in env units. The forward pass is the layers in order, then the output slice
 * `[outputOffset, outputOffset + actDim)`, then `squash` (tanh or none), then the affine map of
 * [−1, 1] to the Box bounds: `action = low + (a + 1) · (high − low) / 2`.
 */
export interface PolicyModel {
  readonly envId: string;
  readonly observationSize: number;
  readonly actionSize: number;
  readonly observationSpace: Space;
  readonly actionSpace: BoxSpace;
  readonly layers: readonly PolicyLayer[];
  readonly outputOffset: number;
  readonly squash: 'none' | 'tanh';
  /** `[actDim]` Box bounds. */
  readonly actionLow: Float32Array;
  readonly actionHigh: Float32Array;
  /** Where it comes from (recorded in every export's metadata). */
  readonly source: { readonly runDir: string; readonly checkpoint: string; readonly step: number; readonly agent: string; readonly sparsifier: string; readonly name: string };
}

/** The structure hint the run's sparsifier gives every masked layer of its actor. */
function structureHint(config: ExperimentConfig, masked: boolean, index: number): LayerStructureHint {
  const s = config.sparsifier as { type: string; n?: number; m?: number; blockSize?: number; firstLayer?: boolean };
  if (s.type === 'nm' && masked) return { kind: 'nm', n: s.n!, m: s.m! };
  if (s.type === 'gst' && (index > 0 || s.firstLayer)) return { kind: 'circulant', blockSize: s.blockSize! };
  return masked ? { kind: 'unstructured' } : { kind: 'dense' };
}

/**
 * The `PolicyModel` of an agent's current networks (copies of weights and masks).
 * @throws Error naming the agent when it cannot describe its policy (`Agent.deterministicPolicy`),
 *   naming the layer when the network has a layer type other than linear
 */
export function policyModelOf(agent: Agent, config: ExperimentConfig, envId: string, observationSpace: Space, actionSpace: BoxSpace, source: PolicyModel['source']): PolicyModel {
  if (!agent.deterministicPolicy) throw new Error(`agent.${config.agent.type} cannot be exported: it does not implement deterministicPolicy()`);
  const policy = agent.deterministicPolicy();
  const net = policy.network;
  const layers = net.layers.map((l, k): PolicyLayer => {
    if (l.weight.length !== l.outFeatures * l.inFeatures) throw new Error(`layer ${l.name} of agent.${config.agent.type} is not a linear [out, in] layer; export supports linear layers only`);
    const mask = l.mask ? Uint8Array.from(l.mask) : null;
    const weight = Float32Array.from(l.weight);
    if (mask) for (let i = 0; i < weight.length; i++) if (!mask[i]) weight[i] = 0;
    return {
      name: l.name, inFeatures: l.inFeatures, outFeatures: l.outFeatures, weight, bias: Float32Array.from(l.bias), mask,
      activation: k === net.layers.length - 1 ? net.spec.outputActivation : net.spec.hiddenActivation,
      structure: structureHint(config, mask !== null, k),
      activeWeights: mask ? mask.reduce((a, b) => a + b, 0) : weight.length,
    };
  });
  return {
    envId, observationSize: net.layers[0].inFeatures, actionSize: actionSpace.shape.reduce((a, b) => a * b, 1),
    observationSpace, actionSpace, layers, outputOffset: policy.outputOffset, squash: policy.squash,
    actionLow: Float32Array.from(actionSpace.low), actionHigh: Float32Array.from(actionSpace.high), source,
  };
}

/** A loaded policy: the engine-free model and the engine's own deterministic `act` (env units) for checks. */
export interface LoadedPolicy {
  readonly model: PolicyModel;
  /** `[n, obsDim]` → `[n, actDim]` env units, through the run's engine and agent (the reference). */
  act(observations: Float32Array, n: number): Float32Array;
  /** Frees the engine. */
  close(): Promise<void>;
}

/**
 * Loads the deterministic policy of a run directory (its latest checkpoint) or a checkpoint
 * folder: the run's agent is rebuilt from its `config.json` and the spaces recorded in its
 * `metadata.json` (no environment is started), and the checkpoint is loaded into it.
 * @throws Error naming the path when it holds no run or checkpoint, naming the agent when it
 *   cannot describe its policy (`Agent.deterministicPolicy`), naming the layer when the
 *   network has a layer type other than linear
 */
export async function loadPolicy(path: string): Promise<LoadedPolicy> {
  const saved: SavedPolicy = findSavedPolicy(path);
  const metadataFile = join(saved.runDir, 'metadata.json');
  if (!existsSync(metadataFile)) throw new Error(`run ${saved.runDir} has no metadata.json (the spaces of its environment)`);
  const metadata = JSON.parse(readFileSync(metadataFile, 'utf8')) as { environment?: { envId: string; observationSpace: Space; actionSpace: Space; numEnvs: number } };
  const env = metadata.environment;
  if (!env) throw new Error(`run ${saved.runDir}: metadata.json has no environment record (the run never started its environment)`);
  if (env.actionSpace.type !== 'box') throw new Error(`run ${saved.runDir}: export needs a Box action space, the run's is ${env.actionSpace.type}`);
  const { config, registry } = await loadConfig(join(saved.runDir, 'config.json'), { crossField: false });
  const run = new RunContainer(config, registry, { environmentSpec: environmentSpecOf(env.envId, env.observationSpace, env.actionSpace, env.numEnvs) });
  try {
    const agent = await run.get<Agent>(Agent);
    const { state } = loadCheckpoint(saved.checkpoint, agent.groups);
    const model = policyModelOf(agent, config, env.envId, env.observationSpace, env.actionSpace as BoxSpace, {
      runDir: saved.runDir, checkpoint: saved.checkpoint, step: state.step, agent: config.agent.type, sparsifier: config.sparsifier.type, name: config.name,
    });
    const scaler = new ActionScaler(env.actionSpace as BoxSpace);
    return { model, act: (o, n) => scaler.toEnv(agent.act(o, n, true)), close: () => run.close() };
  } catch (e) {
    await run.close();
    throw e;
  }
}
