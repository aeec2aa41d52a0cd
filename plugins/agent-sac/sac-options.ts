import { actorCriticProperties, nStepSchema, type JsonSchema, type NStepOptions } from '../../src/index.js';

/**
 * Options of `agent.sac`. The defaults live in `sacOptionsSchema` only (the config is validated
 * with them filled in); they are those of RLx2 [R-code] `RLx2_SAC` (docs/methods.md §1.c and
 * "SAC instantiation" in §1.b).
 */
export interface SacOptions {
  readonly hiddenSizes: readonly number[];
  readonly actorLr: number;
  readonly criticLr: number;
  /** Adam learning rate of log α (automatic entropy tuning). */
  readonly alphaLr: number;
  readonly weightDecay: number;
  readonly batchSize: number;
  readonly gamma: number;
  readonly tau: number;
  readonly learningStarts: number;
  /** `auto`: learn α (log α starts at 0, α = 1); a number: fixed α. */
  readonly entropyCoefficient: 'auto' | number;
  /** Target entropy H̄ in nats; null = −|A|. */
  readonly targetEntropy: number | null;
  readonly actorUpdateInterval: number;
  readonly targetUpdateInterval: number;
  readonly logStdMin: number;
  readonly logStdMax: number;
  /** `tanh`: smooth rescaling into the bounds (RLx2 [R-code]); `clamp`: hard clip. */
  readonly logStdBounding: 'tanh' | 'clamp';
  /** RLx2 delayed multi-step TD target with entropy terms (docs/methods.md §1.b.3); n = 1 is off. */
  readonly nStep: NStepOptions;
}

/** JSON Schema of `agent.sac`'s options (without `type`), with every default. */
export const sacOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...actorCriticProperties(),
    alphaLr: { type: 'number', exclusiveMinimum: 0, default: 3e-4, description: 'Adam learning rate of log α.' },
    learningStarts: { type: 'integer', minimum: 0, default: 25000, description: 'Env steps of uniform random actions before learning (RLx2: 25000).' },
    entropyCoefficient: {
      anyOf: [{ const: 'auto' }, { type: 'number', exclusiveMinimum: 0 }], default: 'auto',
      description: "α: 'auto' learns log α (initialised to 0, α = 1) towards targetEntropy; a number fixes α.",
    },
    targetEntropy: { type: ['number', 'null'], default: null, description: 'Target entropy in nats; null = −|A|.' },
    actorUpdateInterval: { type: 'integer', minimum: 1, default: 1, description: 'Iterations per actor (and α) update.' },
    targetUpdateInterval: { type: 'integer', minimum: 1, default: 1, description: 'Iterations per target-critic update.' },
    logStdMin: { type: 'number', default: -5, description: 'Lower bound of the log-std (RLx2: −5).' },
    logStdMax: { type: 'number', default: 2, description: 'Upper bound of the log-std (RLx2: 2).' },
    logStdBounding: { enum: ['tanh', 'clamp'], default: 'tanh', description: 'tanh: ℓ = min + ½(max − min)(tanh ℓ̃ + 1) (RLx2 code); clamp: hard clip.' },
    nStep: nStepSchema,
  },
};
