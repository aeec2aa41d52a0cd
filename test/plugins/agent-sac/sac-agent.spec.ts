import { describe, expect, it } from 'vitest';
import plugin from '../../../plugins/agent-sac/index.js';
import { SacAgent, adamScalar } from '../../../plugins/agent-sac/sac-agent.js';
import type { SacOptions } from '../../../plugins/agent-sac/sac-options.js';
import { FifoReplayBuffer, Rng, createEngine, type ReplayBuffer, type SparsifierHooks } from '../../../src/index.js';
import { alternatingMaskSparsifier, recordingSparsifier } from '../../rl/fakes.js';

describe('scalar Adam (log α)', () => {
  it('takes a first step of exactly lr against the gradient sign', () => {
    const s = { m: 0, v: 0, t: 0 };
    expect(adamScalar(s, 0, 2.5, 0.1)).toBeCloseTo(-0.1, 6);
    expect(s).toEqual({ m: 0.1 * 2.5, v: 0.001 * 2.5 * 2.5, t: 1 });
  });
});

describe('agent.sac', async () => {
  const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
  const options: SacOptions = {
    hiddenSizes: [16, 16], actorLr: 1e-3, criticLr: 1e-3, alphaLr: 1e-2, weightDecay: 0, batchSize: 16, gamma: 0.99, tau: 0.01,
    learningStarts: 0, entropyCoefficient: 'auto', targetEntropy: null, actorUpdateInterval: 1, targetUpdateInterval: 1,
    logStdMin: -5, logStdMax: 2, logStdBounding: 'tanh', nStep: { n: 3, delayIterations: 5 },
  };
  const make = (sparsifier: SparsifierHooks = alternatingMaskSparsifier(), overrides: Partial<SacOptions> = {}) => {
    const agent = new SacAgent({ ...options, ...overrides }, {
      observationSize: 3, actionSpace: { type: 'box', shape: [2], dtype: 'float32', low: [-1, -1], high: [1, 1] }, engine, sparsifier, rng: new Rng(1),
    });
    const buffer = new FifoReplayBuffer(500, { observationSize: 3, actionSize: 2 });
    const rng = new Rng(2);
    for (let k = 0; k < 200; k++) {
      const o = Float32Array.from({ length: 3 }, () => rng.normal());
      buffer.add({ observation: o, action: Float32Array.from([rng.uniformRange(-1, 1), rng.uniformRange(-1, 1)]), reward: o[0], nextObservation: o.map((x) => x * 0.9), terminated: k % 50 === 49, truncated: k % 37 === 36 });
    }
    return { agent, buffer };
  };

  it('the manifest wires the schema whose defaults are RLx2 [R-code] SAC values', () => {
    expect(plugin.id).toBe('agent.sac');
    const p = (plugin.optionsSchema as { properties: Record<string, { default?: unknown }> }).properties;
    expect(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.default]))).toEqual({
      hiddenSizes: [256, 256], actorLr: 3e-4, criticLr: 3e-4, alphaLr: 3e-4, weightDecay: 0, batchSize: 256, gamma: 0.99, tau: 0.005,
      learningStarts: 25000, entropyCoefficient: 'auto', targetEntropy: null, actorUpdateInterval: 1, targetUpdateInterval: 1,
      logStdMin: -5, logStdMax: 2, logStdBounding: 'tanh', nStep: {},
    });
  });

  it('trains with n-step targets: finite losses, α moves, masks stay, no target actor, actions in [-1, 1]', () => {
    const { agent, buffer } = make();
    expect(agent.groups[0].targets).toEqual([]);
    expect(agent.groups[1].targets.length).toBe(2);
    agent.checkReplayBuffer(buffer);
    let stats: Record<string, number> = {};
    for (let k = 0; k < 20; k++) stats = agent.update(buffer);
    for (const v of Object.values(stats)) expect(Number.isFinite(v)).toBe(true);
    expect(agent.alpha).not.toBe(1);
    const l = agent.groups[0].networks[0].layers[1];
    expect(l.mask).not.toBeNull();
    for (let i = 0; i < l.weight.length; i++) if (l.mask![i] === 0) expect(l.weight[i]).toBe(0);
    const t = agent.groups[1].targets[0].layers[0];
    for (let i = 0; i < t.weight.length; i++) if (t.mask![i] === 0) expect(t.weight[i]).toBe(0);
    const acts = agent.act(new Float32Array(6).fill(0.5), 2, false);
    for (const x of acts) expect(Math.abs(x)).toBeLessThanOrEqual(1);
    expect(agent.act(new Float32Array(3), 1, true)).toEqual(agent.act(new Float32Array(3), 1, true));
  });

  it('hook order (docs/architecture.md §4): critic, actor, then afterTargetUpdate(critic) every targetUpdateInterval-th iteration', () => {
    const s = recordingSparsifier();
    const { agent, buffer } = make(s, { targetUpdateInterval: 2, nStep: { n: 1, delayIterations: 0 } });
    expect(s.calls.splice(0)).toEqual(['initialize']);
    const group = (g: string) => [`needsDenseGradient(${g})`, `beforeOptimizerStep(${g})`, `afterOptimizerStep(${g})`];
    agent.update(buffer);
    expect(s.calls.splice(0)).toEqual([...group('critic'), ...group('actor')]);
    agent.update(buffer);
    expect(s.calls.splice(0)).toEqual([...group('critic'), ...group('actor'), 'afterTargetUpdate(critic)']);
  });

  it('refuses a buffer without windows when nStep > 1', () => {
    const { agent, buffer } = make();
    const plain = { capacity: 1, size: 1, add: () => {}, sample: buffer.sample.bind(buffer) } as ReplayBuffer;
    expect(() => agent.checkReplayBuffer(plain)).toThrow(/nStep.n = 3 needs a replay buffer that samples contiguous windows/);
  });
});
