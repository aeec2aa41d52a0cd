import { ReplayBuffer, ReplayBufferContext, definePlugin } from '../../src/index.js';
import { UniformReplayBuffer } from './uniform-replay-buffer.js';

export default definePlugin<{ capacity: number }>({
  id: 'replay-buffer.uniform',
  kind: 'replay-buffer',
  description: 'FIFO replay buffer with uniform sampling, on typed arrays',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { capacity: { type: 'integer', minimum: 1, default: 1000000, description: 'Maximum number of transitions kept.' } },
  },
  register: ({ bind, options }) => bind(ReplayBuffer).toResolvedValue((context: ReplayBufferContext) => new UniformReplayBuffer(options.capacity, context), [ReplayBufferContext]),
});
