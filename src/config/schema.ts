import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';
import type { PluginRegistry } from '../plugin/plugin-registry.js';
import { pluginType, type JsonSchema, type PluginKind } from '../plugin/plugin-manifest.js';

/** Extension points of the envelope: `$defs` name → plugin kind. */
export const EXTENSION_POINTS: Readonly<Record<string, PluginKind>> = {
  environment: 'environment',
  agent: 'agent',
  sparsifier: 'sparsifier',
  replayBuffer: 'replay-buffer',
  logger: 'logger',
};

/** The envelope schema `schemas/experiment.schema.json`. */
export function envelopeSchema(): JsonSchema {
  return JSON.parse(readFileSync(join(packageRoot(), 'schemas', 'experiment.schema.json'), 'utf8')) as JsonSchema;
}

/**
 * The root schema: the envelope with each extension point a `oneOf` of the installed plugins'
 * option schemas, discriminated by `type` (docs/architecture.md §3). A plugin's branch is its
 * `optionsSchema` plus `type: { const: <name> }`, required.
 */
export function composeRootSchema(registry: PluginRegistry): JsonSchema {
  const root = envelopeSchema();
  root.$id = 'https://sparse-rl.dev/schemas/sparse-rl.schema.json';
  root.title = 'sparse-rl experiment';
  const defs: Record<string, JsonSchema> = {};
  for (const [def, kind] of Object.entries(EXTENSION_POINTS)) {
    const branches = registry.ofKind(kind).map((m) => {
      const s = structuredClone(m.optionsSchema) as JsonSchema & { properties?: Record<string, unknown>; required?: string[] };
      const type = pluginType(m.id);
      return {
        ...s,
        title: s.title ?? m.id,
        description: s.description ?? m.description,
        properties: { type: { const: type, description: m.description }, ...(s.properties ?? {}) },
        required: ['type', ...(s.required ?? []).filter((r) => r !== 'type')],
      };
    });
    defs[def] =
      branches.length === 0
        ? { not: {}, description: `no ${kind} plugin installed` }
        : { type: 'object', discriminator: { propertyName: 'type' }, oneOf: branches };
  }
  root.$defs = defs;
  return root;
}
