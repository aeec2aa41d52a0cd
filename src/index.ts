/**
 * The public API of sparse-rl: what plugins and programs may import (`import … from 'sparse-rl'`).
 * Everything not exported here is private and may change in any release (semver applies to this
 * module and to `sparse-rl/testing`). The built-in plugins import only from here.
 */

// --- plugins: manifest, definition, registry, run container -----------------------------
export { definePlugin, pluginType, PLUGIN_KINDS, type JsonSchema, type PluginBinder, type PluginKind, type PluginManifest, type PluginRegistration, type Token } from './plugin/plugin-manifest.js';
export { PluginError, type PluginSource } from './plugin/plugin-checks.js';
export { PluginRegistry } from './plugin/plugin-registry.js';
export { RunConfig, RunContainer, RunDirectoryPath, type RunOverrides } from './plugin/run-container.js';

// --- extension points and their tokens ---------------------------------------------------
export { Agent, AgentContext, type AgentCostModel, type DeterministicPolicy } from './core/agent.js';
export { Sparsifier, SPARSIFIER_HOOKS, withSparsifierDefaults, type SparsifierHooks } from './core/sparsifier.js';
export {
  EnvironmentError, EnvironmentFactory, EnvironmentSpec, EvalEnvironment, TrainEnvironment, environmentSpec, environmentSpecOf, flatSize,
  type BoxSpace, type DictSpace, type DiscreteSpace, type Environment, type EnvironmentInfo, type EnvironmentRestart, type EnvironmentRole, type EnvironmentSnapshot,
  type EpisodeStatistics, type MultiBinarySpace, type MultiDiscreteSpace, type Space, type StepResult, type TupleSpace,
} from './core/environment.js';
export { ReplayBuffer, ReplayBufferContext, type PolicyFn, type ReplayBufferSnapshot, type Transition, type TransitionBatch, type TransitionWindows } from './core/replay-buffer.js';
export { Logger } from './core/logger.js';
export { TrainingContribution } from './core/training-contribution.js';
export { groupLayers, setGroupMask, type NetworkGroup } from './core/network-group.js';

// --- networks and engines ----------------------------------------------------------------
export { Engine, type Activation, type AdamOptions, type BackwardOptions, type LayerParams, type Mlp, type MlpSpec, type Optimizer, type PolyakOptions } from './nn/engine.js';
export { createEngine, type RuntimeOptions } from './nn/engines.js';
export { initLinearDefault } from './nn/init.js';
export { CIRCULANT_FFT_MIN_BLOCK_SIZE, fftSupportsBlockSize, resolveCirculantMethod, type CirculantMethod } from './nn/block-circulant-layer.js';

// --- sparse maths for method authors -----------------------------------------------------
export { BaseSparsifier } from './sparse/base-sparsifier.js';
export { countActive, initialMask, resizeMask, topK, type MaskInit } from './sparse/mask.js';
export { activeCount, layerSparsities, type LayerShape, type SparsityDistribution } from './sparse/sparsity-distribution.js';
export { groupLayerSparsities, groupSparsity, groupSparsityProperties, maskInitSchema, setStaticMasks, sparsityDistributionSchema, sparsitySchema, type GroupSparsityOptions, type LayerAllocation } from './sparse/group-sparsity.js';
export { dropFraction, pruneAndGrow, type TopologyUpdateResult } from './sparse/topology.js';
export { maskDivergence, nmHardwareSupported, nmMask, nmMaxGroupNonZeros } from './sparse/nm.js';
export {
  blockCount, blockNorms, blockStorage, circulantLayout, circulantStorage, expandBlockMask, extractCirculant,
  foldCirculantGradient, materializeCirculant, type CirculantLayout,
} from './sparse/block-circulant.js';
export { checkWindow, cubicSparsity, iterativeSparsity, pruningPointIndex, pruningPointTime, type PruningWindow } from './sparse/pruning-schedule.js';
export { sparsityMetrics } from './sparse/sparsity-metrics.js';
export { GroupCounters } from './sparse/group-counters.js';
export { decodeFloat32, decodeMask, encodeFloat32, encodeMask } from './sparse/state-encoding.js';
export { activeWeights, compressionRatio, flopsMetrics, forwardFlops, storedWeights, type CostInfo } from './sparse/flops.js';

// --- actor-critic helpers ----------------------------------------------------------------
export { checkWindowsSupport, gatherBootstrapStates, nStepSchema, nStepTarget, type NStepOptions, type NStepTarget } from './rl/n-step.js';
export { concatRows, createTwinCritics, updateTwinCritics, type TwinCritics } from './rl/twin-critics.js';
export { stepGroup, type StepHooks } from './rl/step-group.js';
export { actorCriticProperties } from './rl/actor-critic-options.js';
export { copyToTargets, polyakUpdateTargets, type TargetHooks } from './rl/targets.js';
export { FifoReplayBuffer } from './rl/fifo-replay-buffer.js';

// --- runs ----------------------------------------------------------------------------------
export { ConfigError, ConfigValidator, formatIssue, loadConfig, readConfigFile, type ConfigIssue, type LoadConfigOptions, type LoadedConfig } from './config/validate.js';
export {
  crossFieldIssues, replayMemoryIssues, startedEnvironmentIssues, machineFacts, MAX_ASYNC_ENVS, MUJOCO_V5_SIZES,
  type CrossFieldFacts, type CrossFieldResult, type EnvironmentSizes, type MachineFacts,
} from './config/cross-field.js';
export { applyOverrides, type Override } from './config/overrides.js';
export type { ExperimentConfig, PluginSection } from './config/experiment-config.js';
export { train, type TrainResult } from './train/trainer.js';
export { readSafetensors, type NamedTensor } from './train/safetensors.js';

// --- utilities -----------------------------------------------------------------------------
export { Rng, RngStreams, rngStreams } from './util/rng.js';
export { defaultPython, packageRoot } from './util/paths.js';
export { loadPolicy, policyModelOf, type LayerStructureHint, type LoadedPolicy, type PolicyLayer, type PolicyModel } from './export/policy-model.js';
export { layerStorage, sizeReport, formatSizeReport, type LayerStorage, type SizeReport, type StorageKind } from './export/layer-storage.js';
export { writeOnnxPolicy, loadOnnxPolicy, readOnnxModelInfo, type OnnxPolicy, type WriteOnnxOptions, type WriteOnnxResult } from './export/onnx.js';
export { writeCPolicy, generateCPolicy } from './export/c-export.js';
export { compileCPolicy, benchCPolicy, type CompiledCPolicy } from './export/c-runner.js';
export { writeSparsePolicy, readSparsePolicy, SPARSE_POLICY_FORMAT } from './export/sparse-safetensors.js';
export { agentPolicy, Evaluator, type EnvPolicy, type EvaluationResult } from './train/evaluator.js';
