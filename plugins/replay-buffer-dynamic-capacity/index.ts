import { ReplayBuffer, ReplayBufferContext, definePlugin } from '../../src/index.js';
import { DynamicCapacityReplayBuffer, type DynamicCapacityOptions } from './dynamic-capacity-replay-buffer.js';

/** `replay-buffer.dynamic-capacity`: RLx2's FIFO buffer that drops data of outdated policies. */
export default definePlugin<DynamicCapacityOptions>({
  id: 'replay-buffer.dynamic-capacity',
  kind: 'replay-buffer',
  description: 'RLx2 dynamic-capacity FIFO buffer: drops the oldest data when the policy has moved away from them (docs/methods.md §1.b.9)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      capacity: { type: 'integer', minimum: 1, default: 1000000, description: 'Maximum live transitions (RLx2: TD3 1e6, SAC 3e6).' },
      minSize: { type: 'integer', minimum: 0, default: 100000, description: 'Never shrink at or below this size (RLx2: TD3 1e5, SAC 2e5).' },
      checkInterval: { type: 'integer', minimum: 1, default: 10000, description: 'Env steps between policy-distance checks.' },
      oldestK: { type: 'integer', minimum: 1, default: 2048, description: 'K oldest transitions the distance is measured on (8·batch).' },
      threshold: { type: 'number', minimum: 0, default: 0.2, description: 'Policy-distance threshold.' },
      distance: { enum: ['code', 'paper'], default: 'code', description: 'code: MSE(π(s), actionMean)/2 and drop 10% once; paper: mean L2 ‖π(s) − a‖ and pop until below.' },
      shrinkFraction: { type: 'number', minimum: 0, maximum: 1, default: 0.1, description: 'Fraction of the size dropped per check (code mode).' },
    },
  },
  register: ({ bind, options }) => bind(ReplayBuffer).toResolvedValue((context: ReplayBufferContext) => new DynamicCapacityReplayBuffer(options, context), [ReplayBufferContext]),
});
