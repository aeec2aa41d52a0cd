import type { JsonSchema } from '../../src/index.js';

/** Options of `replay-buffer.uniform` (the default lives in `uniformOptionsSchema` only). */
export interface UniformOptions {
  /** Maximum number of transitions kept (FIFO). */
  readonly capacity: number;
}

/** JSON Schema of `replay-buffer.uniform`'s options (without `type`), with every default. */
export const uniformOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { capacity: { type: 'integer', minimum: 1, default: 1000000, description: 'Maximum number of transitions kept.' } },
};
