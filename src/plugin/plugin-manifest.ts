/** The extension points a plugin can contribute to (docs/architecture.md §2). */
export type PluginKind = 'agent' | 'sparsifier' | 'environment' | 'replay-buffer' | 'logger';

/** Every extension point, in the order the config sections name them. */
export const PLUGIN_KINDS: readonly PluginKind[] = ['agent', 'sparsifier', 'environment', 'replay-buffer', 'logger'];

/** JSON Schema object (draft 2020-12). */
export type JsonSchema = Record<string, unknown>;

/** A DI token: the `Symbol.for('sparse-rl.…')` exported next to each contract (`Sparsifier`, `Agent`, …). */
export type Token = symbol;

/**
 * How a plugin binds its service to an extension point's token. Every binding is one object per
 * run (singleton scope). No decorators, no inversify import: the host's container does the
 * injection, so a plain JavaScript plugin works the same as a TypeScript one.
 */
export interface PluginBinder {
  /**
   * Binds `token` (usually the extension point's, e.g. `Sparsifier`).
   * - `toConstantValue(value)`: this object.
   * - `toResolvedValue(factory, deps)`: `factory(...services of deps)`, called once when the run
   *   first needs it; `deps` are tokens of what the plugin needs (`Engine`, `EnvironmentSpec`,
   *   `AgentContext`, `ReplayBufferContext`, `RngStreams`, `RunConfig`, …). The factory may be async.
   */
  bind<T>(token: symbol): {
    toConstantValue(value: T): void;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the services of `deps`, in order
    toResolvedValue(factory: (...deps: any[]) => T | Promise<T>, deps?: readonly Token[]): void;
  };
}

/** What `register` receives: the binder and the plugin's validated, frozen options. */
export interface PluginRegistration<TOptions extends object> extends PluginBinder {
  /** The config section for this plugin, validated against `optionsSchema` (defaults filled, `type` included), frozen. */
  readonly options: Readonly<TOptions & { type: string }>;
}

/**
 * What a plugin module default-exports (make it with `definePlugin`).
 *
 * The config selects a plugin by `type` = the part of `id` after the kind
 * (`sparsifier.static` → `"sparsifier": { "type": "static", ... }`). The core adds the `type`
 * property to `optionsSchema`, validates the config section against it (ajv, draft 2020-12,
 * defaults from the schema), freezes the result and passes it to `register`, which binds the
 * plugin's service — the one place where the plugin is wired, as a Theia ContainerModule is.
 */
export interface PluginManifest<TOptions extends object = Record<string, unknown>> {
  /** `<kind>.<name>`, e.g. `agent.td3`, `sparsifier.rigl`, `environment.gymnasium`. */
  readonly id: string;
  readonly kind: PluginKind;
  /** One line shown by `sparse-rl plugins`. */
  readonly description: string;
  /**
   * JSON Schema of the options without `type`: `type: 'object'`, `additionalProperties: false`,
   * defaults in the schema only. Checked at load: it must compile, and every default must
   * satisfy its own property's schema.
   */
  readonly optionsSchema: JsonSchema;
  /** Binds the plugin's service to its extension point's token (see `PluginBinder`). */
  register(registration: PluginRegistration<TOptions>): void;
}

/**
 * Declares a plugin: returns `manifest` unchanged, typed (as ESLint's `defineConfig`). The
 * module's default export must be the result.
 * @example
 * export default definePlugin<MyOptions>({
 *   id: 'sparsifier.my-method', kind: 'sparsifier', description: '…', optionsSchema: { … },
 *   register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new MySparsifier(options)),
 * });
 */
export function definePlugin<TOptions extends object = Record<string, never>>(manifest: PluginManifest<TOptions>): PluginManifest<TOptions> {
  return manifest;
}

/** The `type` a config uses for a plugin id (`sparsifier.static` → `static`). */
export function pluginType(id: string): string {
  return id.slice(id.indexOf('.') + 1);
}

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
  if (!PLUGIN_KINDS.includes(m!.kind as PluginKind)) bad(`kind must be one of ${PLUGIN_KINDS.join(', ')}, got ${JSON.stringify(m!.kind)}`);
  if (!m!.id!.startsWith(`${m!.kind}.`)) bad(`id ${m!.id} must start with its kind "${m!.kind}."`);
  if (!m!.optionsSchema || typeof m!.optionsSchema !== 'object') bad('optionsSchema missing');
  if (typeof m!.register !== 'function') bad('register is not a function (make the manifest with definePlugin)');
}
