import type { JsonSchema } from '../../src/index.js';

/** Options of `logger.tensorboard` (the default lives in `tensorboardOptionsSchema` only). */
export interface TensorboardOptions {
  /**
   * Folder of the event files, relative to the run directory (an absolute path is used as
   * given). Point `tensorboard --logdir` at it or at any folder above it.
   */
  readonly dir: string;
}

/** JSON Schema of `logger.tensorboard`'s options (without `type`), with every default. */
export const tensorboardOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    dir: {
      type: 'string',
      minLength: 1,
      default: 'tensorboard',
      description: 'Folder of the TensorBoard event files, relative to the run directory.',
    },
  },
};
