import { ReplayBuffer, ReplayBufferContext, definePlugin } from '../../src/index.js';
import { uniformOptionsSchema, type UniformOptions } from './uniform-options.js';
import { UniformReplayBuffer } from './uniform-replay-buffer.js';

/** `replay-buffer.uniform`: FIFO ring with uniform sampling (README.md). */
export default definePlugin<UniformOptions>({
  id: 'replay-buffer.uniform',
  kind: 'replay-buffer',
  description: 'FIFO replay buffer with uniform sampling, on typed arrays',
  optionsSchema: uniformOptionsSchema,
  register: ({ bind, options }) => bind(ReplayBuffer).toResolvedValue((context: ReplayBufferContext) => new UniformReplayBuffer(options.capacity, context), [ReplayBufferContext]),
});
