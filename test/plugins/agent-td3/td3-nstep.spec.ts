import { describe, expect, it } from 'vitest';
import { Td3Agent } from '../../../plugins/agent-td3/td3-agent.js';
import type { Td3Options } from '../../../plugins/agent-td3/td3-options.js';
import { FifoReplayBuffer, Rng, createEngine, withSparsifierDefaults, type ReplayBuffer } from '../../../src/index.js';

describe('agent.td3 nStep option', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  const options: Td3Options = {
    hiddenSizes: [8], actorLr: 1e-3, criticLr: 1e-3, weightDecay: 0, batchSize: 8, gamma: 0.9, tau: 0.1, policyNoise: 0.2, noiseClip: 0.5,
    policyDelay: 2, explorationNoise: 0.1, learningStarts: 0, nStep: { n: 3, delayIterations: 2 },
  };
  const agent = new Td3Agent(options, {
    observationSize: 2, actionSpace: { type: 'box', shape: [1], dtype: 'float32', low: [-1], high: [1] }, engine, sparsifier: withSparsifierDefaults({ initialize: () => {} }), rng: new Rng(1),
  });

  it('throws at start-up when the buffer cannot sample windows', () => {
    const noWindows = { capacity: 1, size: 1, add: () => {}, sample: () => { throw new Error('unused'); } } as ReplayBuffer;
    expect(() => agent.checkReplayBuffer(noWindows)).toThrow(/agent\.td3: nStep\.n = 3 needs a replay buffer that samples contiguous windows/);
  });

  it('switches to windows after delayIterations and trains with finite losses', () => {
    const buffer = new FifoReplayBuffer(50, { observationSize: 2, actionSize: 1 });
    for (let k = 0; k < 30; k++) buffer.add({ observation: Float32Array.from([k / 30, 1]), action: Float32Array.from([0.5]), reward: 1, nextObservation: Float32Array.from([(k + 1) / 30, 1]), terminated: k % 10 === 9, truncated: k % 7 === 6 });
    agent.checkReplayBuffer(buffer);
    let calls = 0;
    const spy = buffer.sampleWindows.bind(buffer);
    buffer.sampleWindows = (b, n, rng) => (calls++, spy(b, n, rng));
    for (let k = 0; k < 6; k++) for (const v of Object.values(agent.update(buffer))) expect(Number.isFinite(v)).toBe(true);
    expect(calls).toBe(5); // iterations it = 2..6 (it ≥ delayIterations)
  });
});
