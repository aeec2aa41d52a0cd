import { describe, expect, it } from 'vitest';
import type { Agent } from '../../src/core/agent.js';
import type { BoxSpace } from '../../src/core/environment.js';
import type { ExperimentConfig } from '../../src/config/experiment-config.js';
import { policyModelOf } from '../../src/export/policy-model.js';
import type { Mlp } from '../../src/nn/engine.js';

const space: BoxSpace = { type: 'box', shape: [2], dtype: 'float32', low: [-1, -1], high: [1, 1] };
const config = { name: 'x', agent: { type: 'my-agent' }, sparsifier: { type: 'static' } } as unknown as ExperimentConfig;
const source = { runDir: 'r', checkpoint: 'c', step: 0, agent: 'my-agent', sparsifier: 'static', name: 'x' };

describe('policyModelOf refuses what it cannot export, naming the agent or the layer', () => {
  it('an agent without deterministicPolicy()', () => {
    const agent = { groups: [], learningStarts: 0 } as unknown as Agent;
    expect(() => policyModelOf(agent, config, 'Env-v0', space, space, source)).toThrow('agent.my-agent cannot be exported: it does not implement deterministicPolicy()');
  });

  it("a network with a plugin's own layer type (parameters that are not a linear [out, in] matrix)", () => {
    // e.g. a factorised layer storing U [out, r] and V [r, in] in `weight`: 3·1 + 1·4 = 7 values, not 3·4
    const network = {
      spec: { name: 'actor', layerSizes: [4, 3], hiddenActivation: 'relu', outputActivation: 'tanh' },
      layers: [{ name: 'actor.l1', inFeatures: 4, outFeatures: 3, weight: new Float32Array(7), bias: new Float32Array(3), mask: null }],
    } as unknown as Mlp;
    const agent = { groups: [], learningStarts: 0, deterministicPolicy: () => ({ network, outputOffset: 0, squash: 'none' as const }) } as unknown as Agent;
    expect(() => policyModelOf(agent, config, 'Env-v0', space, space, source)).toThrow('layer actor.l1 of agent.my-agent is not a linear [out, in] layer; export supports linear layers only');
  });
});
