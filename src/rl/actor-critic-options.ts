import type { JsonSchema } from '../plugin/plugin-manifest.js';

/**
 * The option schemas TD3 and SAC share (each agent spreads them into its `optionsSchema` and
 * adds its own): network widths, Adam learning rates, L2 weight decay, minibatch size, discount
 * and Polyak coefficient, with the defaults of Fujimoto et al. 2018 / Haarnoja et al. 2018 as
 * RLx2 runs them (256-256, 3e-4, batch 256, γ 0.99, τ 0.005).
 */
export function actorCriticProperties(): Record<string, JsonSchema> {
  return {
    hiddenSizes: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, default: [256, 256], description: 'Hidden layer widths of actor and critics (ReLU).' },
    actorLr: { type: 'number', exclusiveMinimum: 0, default: 3e-4, description: 'Adam learning rate of the actor.' },
    criticLr: { type: 'number', exclusiveMinimum: 0, default: 3e-4, description: 'Adam learning rate of the critics.' },
    weightDecay: { type: 'number', minimum: 0, default: 0, description: 'L2 weight decay added to gradients (DS-TD3 uses 2e-4).' },
    batchSize: { type: 'integer', minimum: 1, default: 256, description: 'Minibatch size of every gradient update.' },
    gamma: { type: 'number', minimum: 0, maximum: 1, default: 0.99, description: 'Discount factor.' },
    tau: { type: 'number', minimum: 0, maximum: 1, default: 0.005, description: 'Polyak coefficient of the target update.' },
  };
}
