import { Agent, AgentContext, nStepSchema, definePlugin } from '../../src/index.js';
import { Td3Agent, type Td3Options } from './td3-agent.js';

/** `agent.td3`: TD3 (Fujimoto et al. 2018) with sparse-capable actor and twin critics. */
export default definePlugin<Td3Options>({
  id: 'agent.td3',
  kind: 'agent',
  description: 'TD3 (Fujimoto et al. 2018): twin critics, target policy smoothing, delayed actor updates, Polyak targets',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      hiddenSizes: {
        type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, default: [256, 256],
        description: 'Hidden layer widths of actor and critics (ReLU).',
      },
      actorLr: { type: 'number', exclusiveMinimum: 0, default: 3e-4, description: 'Adam learning rate of the actor.' },
      criticLr: { type: 'number', exclusiveMinimum: 0, default: 3e-4, description: 'Adam learning rate of the critics.' },
      weightDecay: { type: 'number', minimum: 0, default: 0, description: 'L2 weight decay added to gradients (DS-TD3 uses 2e-4).' },
      batchSize: { type: 'integer', minimum: 1, default: 256 },
      gamma: { type: 'number', minimum: 0, maximum: 1, default: 0.99, description: 'Discount factor.' },
      tau: { type: 'number', minimum: 0, maximum: 1, default: 0.005, description: 'Polyak coefficient of the target update.' },
      policyNoise: { type: 'number', minimum: 0, default: 0.2, description: 'Std of target policy smoothing noise, in units of max action.' },
      noiseClip: { type: 'number', minimum: 0, default: 0.5, description: 'Clip of target policy noise, in units of max action.' },
      policyDelay: { type: 'integer', minimum: 1, default: 2, description: 'Critic updates per actor and target update.' },
      explorationNoise: { type: 'number', minimum: 0, default: 0.1, description: 'Std of Gaussian exploration noise, in units of max action.' },
      learningStarts: { type: 'integer', minimum: 0, default: 25000, description: 'Env steps of uniform random actions before learning.' },
      nStep: nStepSchema,
    },
  },
  register: ({ bind, options }) => bind(Agent).toResolvedValue((context: AgentContext) => new Td3Agent(options, context), [AgentContext]),
});
