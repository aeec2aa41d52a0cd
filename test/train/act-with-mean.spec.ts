import { describe, expect, it } from 'vitest';
import { SacAgent } from '../../plugins/agent-sac/sac-agent.js';
import { Td3Agent } from '../../plugins/agent-td3/td3-agent.js';
import { DenseSparsifier } from '../../plugins/sparsifier-dense/dense-sparsifier.js';
import { createEngine, Rng, type Agent, type BoxSpace } from '../../src/index.js';

/**
 * `actWithMean` (one actor pass for the rollout of a buffer with `maybeShrink`, RLx2's dynamic
 * buffer) must give exactly what `act(obs, n, false)` then `act(obs, n, true)` give, drawing the
 * same random numbers, so that switching the rollout to it changes no run.
 */
describe('Agent.actWithMean equals act(noisy) then act(noise-free)', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  const space: BoxSpace = { type: 'box', shape: [2], dtype: 'float32', low: [-1, -1], high: [1, 1] };
  const context = (seed: number) => ({ observationSize: 3, actionSpace: space, engine, sparsifier: new DenseSparsifier(), rng: new Rng(seed) });
  const makers: Record<string, (seed: number) => Agent> = {
    td3: (seed) => new Td3Agent({
      hiddenSizes: [8], actorLr: 1e-3, criticLr: 1e-3, weightDecay: 0, batchSize: 4, gamma: 0.99, tau: 0.005, policyNoise: 0.2, noiseClip: 0.5,
      policyDelay: 2, explorationNoise: 0.3, learningStarts: 0,
    }, context(seed)),
    sac: (seed) => new SacAgent({
      hiddenSizes: [8], actorLr: 1e-3, criticLr: 1e-3, alphaLr: 1e-3, weightDecay: 0, batchSize: 4, gamma: 0.99, tau: 0.005, learningStarts: 0,
      entropyCoefficient: 'auto', targetEntropy: null, actorUpdateInterval: 1, targetUpdateInterval: 1, logStdMin: -5, logStdMax: 2,
      logStdBounding: 'tanh', nStep: { n: 1, delayIterations: 0 },
    }, context(seed)),
  };
  for (const [name, make] of Object.entries(makers)) {
    it(`${name}: same actions, same noise-free actions, same RNG stream afterwards (3 envs, 3 calls)`, () => {
      const one = make(7);
      const two = make(7);
      const obs = Float32Array.from({ length: 9 }, (_, i) => Math.sin(i + 1));
      for (let call = 0; call < 3; call++) {
        const { action, mean } = one.actWithMean!(obs, 3);
        const noisy = two.act(obs, 3, false);
        const clean = two.act(obs, 3, true);
        expect([...action]).toEqual([...noisy]);
        expect([...mean]).toEqual([...clean]);
        expect([...action]).not.toEqual([...mean]); // the noise is there
      }
    });
  }
});
