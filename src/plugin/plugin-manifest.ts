import type { ContainerModule } from 'inversify';

/** The extension points a plugin can contribute to (docs/architecture.md §2). */
export type PluginKind = 'agent' | 'sparsifier' | 'environment' | 'replay-buffer' | 'logger';

/** JSON Schema object (draft 2020-12). */
export type JsonSchema = Record<string, unknown>;

/**
 * What a plugin module default-exports.
 *
 * The config selects a plugin by `type` = the part of `id` after the kind
 * (`sparsifier.static` → `"sparsifier": { "type": "static", ... }`). The core adds the `type`
 * property to `optionsSchema`, validates the config section against it (ajv, draft 2020-12,
 * defaults from the schema), freezes the result and passes it to `createModule`.
 */
export interface PluginManifest<TOptions extends object = Record<string, unknown>> {
  /** `<kind>.<name>`, e.g. `agent.td3`, `sparsifier.rigl`, `environment.gymnasium`. */
  readonly id: string;
  readonly kind: PluginKind;
  /** One line shown by `sparse-rl plugins`. */
  readonly description: string;
  /**
   * JSON Schema of the options without `type`: `type: 'object'`, `additionalProperties: false`,
   * defaults in the schema only.
   */
  readonly optionsSchema: JsonSchema;
  /** Binds the plugin's service to its extension point's token; options are validated and frozen. */
  createModule(options: Readonly<TOptions & { type: string }>): ContainerModule;
}

/** The `type` a config uses for a plugin id (`sparsifier.static` → `static`). */
export function pluginType(id: string): string {
  return id.slice(id.indexOf('.') + 1);
}

const KINDS: readonly PluginKind[] = ['agent', 'sparsifier', 'environment', 'replay-buffer', 'logger'];

/**
 * Checks that `value` is a plugin manifest.
 * @param source where it came from (file or package), named in the error
 * @throws Error naming `source` and the missing/invalid field
 */
export function assertManifest(value: unknown, source: string): asserts value is PluginManifest {
  const m = value as Partial<PluginManifest> | undefined;
  const bad = (what: string): never => {
    throw new Error(`plugin ${source}: default export is not a plugin manifest (${what})`);
  };
  if (!m || typeof m !== 'object') bad('not an object');
  if (typeof m!.id !== 'string' || !/^[a-z-]+\.[a-z0-9-]+$/.test(m!.id)) bad(`id must look like "<kind>.<name>", got ${JSON.stringify(m!.id)}`);
  if (!KINDS.includes(m!.kind as PluginKind)) bad(`kind must be one of ${KINDS.join(', ')}, got ${JSON.stringify(m!.kind)}`);
  if (!m!.id!.startsWith(`${m!.kind}.`)) bad(`id ${m!.id} must start with its kind "${m!.kind}."`);
  if (!m!.optionsSchema || typeof m!.optionsSchema !== 'object') bad('optionsSchema missing');
  if (typeof m!.createModule !== 'function') bad('createModule is not a function');
}
