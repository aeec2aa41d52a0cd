import type { Json } from './recipe-run.js';
import { merge } from './recipe-run.js';

/** 400 env steps, 300 gradient iterations (learningStarts 100), one evaluation and checkpoint at the end. */
export const tiny: Json = {
  totalSteps: 400, evaluation: { interval: 400, episodes: 1 }, checkpoint: { interval: 400 }, output: { progress: 'none' },
  agent: { learningStarts: 100, batchSize: 32, hiddenSizes: [32, 32] }, replayBuffer: { capacity: 10000 },
};

const riglTiny = { sparsifier: { topologyUpdate: { interval: 50, endStep: { actor: 150, critic: 300 } } } };
const shrinkingBuffer = { replayBuffer: { capacity: 10000, minSize: 50, checkInterval: 100, oldestK: 64, threshold: 0 } };

/** One recipe per unstructured method in configs/<method>/hopper-v5.json, shrunk so every mechanism fires. */
export const methodRecipes: [string, Json][] = [
  ['rlx2-td3', merge(riglTiny, { agent: { nStep: { delayIterations: 50 } }, ...shrinkingBuffer })],
  ['rlx2-sac', merge(riglTiny, { sparsifier: { topologyUpdate: { endStep: { actor: 300 } } }, agent: { nStep: { delayIterations: 50 } }, ...shrinkingBuffer })],
  ['ds-td3', { sparsifier: { interval: 50, stopAt: 250 } }],
  ['rigl-td3', riglTiny],
  ['set-td3', riglTiny],
  ['static-erk-td3', {}],
  ['dense-td3', {}],
  // Sokar et al.'s Static-TD3 (SET sparsifier that never adapts) and DS-SAC (hard target update every 100 here)
  ['sokar-static-td3', {}],
  ['ds-sac', { agent: { targetUpdateInterval: 100 }, sparsifier: { interval: 50 } }],
];

/** Every structured / pruning recipe in configs/ [file, overrides]: mask updates / pruning points happen inside 300 iterations. */
export const structuredRecipes: [string, Json][] = [
  ['rnm-td3/halfcheetah-v5-2of4.json', { sparsifier: { maskInterval: 50 } }],
  ['rnm-td3/halfcheetah-v5-1of4.json', { sparsifier: { maskInterval: 50 } }],
  ['rnm-td3/halfcheetah-v5-1of8.json', { sparsifier: { maskInterval: 50, gradMode: 'ste' } }],
  ['rnm-td3/ant-v5-2of4.json', { sparsifier: { maskInterval: 50 } }],
  ['rnm-td3/ant-v5-1of4.json', { sparsifier: { maskInterval: 50, targetMode: 'own' } }],
  ['rnm-td3/ant-v5-1of8.json', { sparsifier: { maskInterval: 50, gradMode: 'srste', targetMode: 'own' } }],
  ['gradual-pruning/halfcheetah-v5.json', { sparsifier: { startStep: 50, endStep: 250, pruningInterval: 50 } }],
  // Graesser et al.'s window with these overrides is the pre-GST-baseline recipe (same trace as before that change)
  ['gradual-pruning/halfcheetah-v5-graesser.json', { sparsifier: { startStep: 50, endStep: 250, pruningInterval: 50 } }],
  ['gradual-pruning/humanoid-v5.json', { sparsifier: { startStep: 50, endStep: 250, pruningInterval: 50, mode: 'iterative' } }],
  ['gradual-pruning/humanoid-v5-graesser.json', { sparsifier: { startStep: 50, endStep: 250, pruningInterval: 50, mode: 'iterative' } }],
  // evaluations every 100 steps feed the reward-aware controller; topology points every 50 updates
  ['gst/halfcheetah-v5.json', { evaluation: { interval: 100 }, sparsifier: { warmup: 0, pruneInterval: 50, increase: 0.2 } }],
  ['gst/humanoid-v5.json', { sparsifier: { controller: 'linear-ramp', warmup: 0, rampEnd: 250, pruneInterval: 50 } }],
];
