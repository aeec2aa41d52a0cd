import { resolve } from 'node:path';
import { Logger, RunDirectoryPath, definePlugin } from '../../src/index.js';
import { TensorboardLogger } from './tensorboard-logger.js';
import { tensorboardOptionsSchema, type TensorboardOptions } from './tensorboard-options.js';

/** `logger.tensorboard`: TensorBoard event files of every metrics record (README.md). */
export default definePlugin<TensorboardOptions>({
  id: 'logger.tensorboard',
  kind: 'logger',
  description: 'TensorBoard event files (every scalar of every metrics record) under <run>/tensorboard/',
  optionsSchema: tensorboardOptionsSchema,
  register: ({ bind, options }) =>
    bind(Logger).toResolvedValue((runDir: string) => new TensorboardLogger(resolve(runDir, options.dir)), [RunDirectoryPath]),
});
