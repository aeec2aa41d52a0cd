import { existsSync } from 'node:fs';
import { Td3Agent } from '../../plugins/agent-td3/td3-agent.js';
import { UniformReplayBuffer } from '../../plugins/replay-buffer-uniform/uniform-replay-buffer.js';
import type { BoxSpace } from '../../src/core/environment.js';
import { withSparsifierDefaults, type Sparsifier } from '../../src/core/sparsifier.js';
import type { Engine } from '../../src/nn/engine.js';
import { nativeAddonPath } from '../../src/nn/native-engine.js';
import { Rng } from '../../src/util/rng.js';

/** A 6-dimensional Box action space in [-1, 1] (HalfCheetah-like). */
export const actionSpace6: BoxSpace = { type: 'box', shape: [6], dtype: 'float32', low: Array(6).fill(-1), high: Array(6).fill(1) };

/**
 * Small TD3 options for sparsifier tests: obs 17 (critic input 23), hidden [32, 32], so first
 * layers have trailing partial groups / blocks for M or b in {4, 8}.
 */
export const tinyTd3 = { hiddenSizes: [32, 32], actorLr: 1e-3, criticLr: 1e-3, weightDecay: 0, batchSize: 32, gamma: 0.99, tau: 0.05, policyNoise: 0.2, noiseClip: 0.5, policyDelay: 2, explorationNoise: 0.1, learningStarts: 0 };

/** Engines to test on: native when its addon is built (it may be mid-rebuild in a shared checkout), always the tfjs reference. */
export const testEngines = (existsSync(nativeAddonPath()) ? ['native', 'tfjs'] : ['tfjs']) as ('native' | 'tfjs')[];

/**
 * A TD3 agent on 17-dim observations and `actionSpace6` with `sparsifier`, and a replay buffer of
 * `transitions` random transitions (seeded, 5 % terminated).
 */
export function makeTd3(engine: Engine, sparsifier: Sparsifier, options: { seed?: number; hiddenSizes?: number[]; tau?: number; transitions?: number } = {}) {
  const { seed = 11, transitions = 500 } = options;
  const td3 = { ...tinyTd3, ...(options.hiddenSizes ? { hiddenSizes: options.hiddenSizes } : {}), ...(options.tau ? { tau: options.tau } : {}) };
  const agent = new Td3Agent(td3, { observationSize: 17, actionSpace: actionSpace6, engine, sparsifier: withSparsifierDefaults(sparsifier), rng: new Rng(seed) });
  const buffer = new UniformReplayBuffer(1000, { observationSize: 17, actionSize: 6 });
  const rng = new Rng(5);
  for (let i = 0; i < transitions; i++) {
    buffer.add({
      observation: new Float32Array(17).map(() => rng.normal()), action: new Float32Array(6).map(() => rng.uniformRange(-1, 1)),
      reward: rng.normal(), nextObservation: new Float32Array(17).map(() => rng.normal()), terminated: rng.uniform() < 0.05, truncated: false,
    });
  }
  return { agent, buffer };
}
