import { actorCriticProperties, nStepSchema, type JsonSchema, type NStepOptions } from '../../src/index.js';

/**
 * Options of `agent.td3`. The defaults live in `td3OptionsSchema` only (the config is validated
 * with them filled in); they are those of Fujimoto et al. 2018 (github.com/sfujim/TD3) and RLx2
 * [R-code] `RLx2_TD3` (docs/methods.md §1.c).
 */
export interface Td3Options {
  readonly hiddenSizes: readonly number[];
  readonly actorLr: number;
  readonly criticLr: number;
  readonly weightDecay: number;
  readonly batchSize: number;
  readonly gamma: number;
  readonly tau: number;
  readonly policyNoise: number;
  readonly noiseClip: number;
  readonly policyDelay: number;
  readonly explorationNoise: number;
  readonly learningStarts: number;
  /**
   * RLx2 delayed multi-step TD target (docs/methods.md §1.b.3); n = 1 is off. The schema always
   * fills it in; a program that builds `Td3Agent` directly may leave it out (off).
   */
  readonly nStep?: NStepOptions;
}

/** JSON Schema of `agent.td3`'s options (without `type`), with every default. */
export const td3OptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...actorCriticProperties(),
    policyNoise: { type: 'number', minimum: 0, default: 0.2, description: 'Std of target policy smoothing noise, in units of max action.' },
    noiseClip: { type: 'number', minimum: 0, default: 0.5, description: 'Clip of target policy noise, in units of max action.' },
    policyDelay: { type: 'integer', minimum: 1, default: 2, description: 'Critic updates per actor and target update.' },
    explorationNoise: { type: 'number', minimum: 0, default: 0.1, description: 'Std of Gaussian exploration noise, in units of max action.' },
    learningStarts: { type: 'integer', minimum: 0, default: 25000, description: 'Env steps of uniform random actions before learning.' },
    nStep: nStepSchema,
  },
};
