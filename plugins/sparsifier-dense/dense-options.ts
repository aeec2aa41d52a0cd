import type { JsonSchema } from '../../src/index.js';

/** Options of `sparsifier.dense`: none. */
export type DenseOptions = Record<string, never>;

/** JSON Schema of `sparsifier.dense`'s options (without `type`): no options. */
export const denseOptionsSchema: JsonSchema = { type: 'object', additionalProperties: false, properties: {} };
