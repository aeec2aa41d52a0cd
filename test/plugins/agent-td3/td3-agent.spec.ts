import { describe, expect, it } from 'vitest';
import plugin from '../../../plugins/agent-td3/index.js';
import { Td3Agent } from '../../../plugins/agent-td3/td3-agent.js';
import type { Td3Options } from '../../../plugins/agent-td3/td3-options.js';
import { FifoReplayBuffer, Rng, createEngine, type BoxSpace, type SparsifierHooks } from '../../../src/index.js';
import { recordingSparsifier } from '../../rl/fakes.js';

const space: BoxSpace = { type: 'box', shape: [1], dtype: 'float32', low: [-1], high: [1] };
const options: Td3Options = {
  hiddenSizes: [4], actorLr: 1e-3, criticLr: 1e-3, weightDecay: 0, batchSize: 4, gamma: 0.9, tau: 0.5, policyNoise: 0.2, noiseClip: 0.5,
  policyDelay: 2, explorationNoise: 0.1, learningStarts: 0,
};

describe('agent.td3', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  const make = (sparsifier: SparsifierHooks) => {
    const agent = new Td3Agent(options, { observationSize: 2, actionSpace: space, engine, sparsifier, rng: new Rng(1) });
    const buffer = new FifoReplayBuffer(20, { observationSize: 2, actionSize: 1 });
    for (let k = 0; k < 10; k++) buffer.add({ observation: Float32Array.from([k / 10, 1]), action: Float32Array.from([0.1 * k - 0.5]), reward: k % 3, nextObservation: Float32Array.from([(k + 1) / 10, 1]), terminated: k === 9, truncated: false });
    return { agent, buffer };
  };

  it('the manifest wires the schema whose defaults are the TD3 paper / reference-code values', () => {
    expect(plugin.id).toBe('agent.td3');
    const p = (plugin.optionsSchema as { properties: Record<string, { default?: unknown }> }).properties;
    const defaults = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.default]));
    expect(defaults).toEqual({
      hiddenSizes: [256, 256], actorLr: 3e-4, criticLr: 3e-4, weightDecay: 0, batchSize: 256, gamma: 0.99, tau: 0.005, policyNoise: 0.2,
      noiseClip: 0.5, policyDelay: 2, explorationNoise: 0.1, learningStarts: 25000, nStep: {},
    });
  });

  it('targets start as copies; hook order per iteration (docs/architecture.md §4): critic every iteration, actor and all targets every policyDelay-th', () => {
    const s = recordingSparsifier();
    const { agent, buffer } = make(s);
    const [actorGroup, criticGroup] = agent.groups;
    expect([...actorGroup.targets[0].layers[0].weight]).toEqual([...actorGroup.networks[0].layers[0].weight]);
    expect([...criticGroup.targets[1].layers[1].weight]).toEqual([...criticGroup.networks[1].layers[1].weight]);
    expect(s.calls.splice(0)).toEqual(['initialize']);
    const critic = ['needsDenseGradient(critic)', 'beforeOptimizerStep(critic)', 'afterOptimizerStep(critic)'];
    expect(Object.keys(agent.update(buffer))).toEqual(['losses/critic_loss']);
    expect(s.calls.splice(0)).toEqual(critic);
    expect(Object.keys(agent.update(buffer))).toEqual(['losses/critic_loss', 'losses/actor_loss']);
    expect(s.calls.splice(0)).toEqual([
      ...critic, 'needsDenseGradient(actor)', 'beforeOptimizerStep(actor)', 'afterOptimizerStep(actor)', 'afterTargetUpdate(actor)', 'afterTargetUpdate(critic)',
    ]);
  });

  it('a skipped actor step leaves the actor unchanged but its target still moves towards it', () => {
    const s = recordingSparsifier({ skip: ['actor'] });
    const { agent, buffer } = make(s);
    const actor = agent.groups[0].networks[0];
    const before = Float32Array.from(actor.layers[0].weight);
    agent.update(buffer);
    agent.update(buffer);
    expect(s.calls).not.toContain('afterOptimizerStep(actor)');
    expect([...actor.layers[0].weight]).toEqual([...before]);
    expect(s.calls.slice(-2)).toEqual(['afterTargetUpdate(actor)', 'afterTargetUpdate(critic)']);
  });

  it('act: deterministic π(s) in [−1, 1]; exploration adds noise', () => {
    const { agent } = make(recordingSparsifier());
    const obs = Float32Array.from([0.3, 1, -0.2, 1]);
    const a = agent.act(obs, 2, true);
    expect(a).toHaveLength(2);
    expect(agent.act(obs, 2, true)).toEqual(a);
    for (const x of agent.act(obs, 2, false)) expect(Math.abs(x)).toBeLessThanOrEqual(1);
    expect(agent.act(obs, 2, false)).not.toEqual(a);
  });
});
