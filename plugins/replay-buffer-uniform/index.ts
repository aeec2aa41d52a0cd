import { ContainerModule } from 'inversify';
import { ReplayBufferFactory } from '../../src/core/replay-buffer.js';
import type { PluginManifest } from '../../src/plugin/plugin-manifest.js';
import { UniformReplayBuffer } from './uniform-replay-buffer.js';

const manifest: PluginManifest<{ capacity: number }> = {
  id: 'replay-buffer.uniform',
  kind: 'replay-buffer',
  description: 'FIFO replay buffer with uniform sampling, on typed arrays',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { capacity: { type: 'integer', minimum: 1, default: 1000000, description: 'Maximum number of transitions kept.' } },
  },
  createModule: (options) =>
    new ContainerModule((bind) => {
      bind<ReplayBufferFactory>(ReplayBufferFactory).toConstantValue((context) => new UniformReplayBuffer(options.capacity, context));
    }),
};
export default manifest;
