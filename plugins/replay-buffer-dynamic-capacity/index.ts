import { ReplayBuffer, ReplayBufferContext, definePlugin } from '../../src/index.js';
import { dynamicCapacityOptionsSchema, type DynamicCapacityOptions } from './dynamic-capacity-options.js';
import { DynamicCapacityReplayBuffer } from './dynamic-capacity-replay-buffer.js';

/** `replay-buffer.dynamic-capacity`: RLx2's FIFO buffer that drops data of outdated policies (README.md). */
export default definePlugin<DynamicCapacityOptions>({
  id: 'replay-buffer.dynamic-capacity',
  kind: 'replay-buffer',
  description: 'RLx2 dynamic-capacity FIFO buffer: drops the oldest data when the policy has moved away from them (docs/methods.md §1.b.9)',
  optionsSchema: dynamicCapacityOptionsSchema,
  register: ({ bind, options }) => bind(ReplayBuffer).toResolvedValue((context: ReplayBufferContext) => new DynamicCapacityReplayBuffer(options, context), [ReplayBufferContext]),
});
