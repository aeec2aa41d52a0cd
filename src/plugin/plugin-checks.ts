import { Ajv2020 } from 'ajv/dist/2020.js';
import { SPARSIFIER_HOOKS, withSparsifierDefaults, type Sparsifier } from '../core/sparsifier.js';
import type { JsonSchema, PluginManifest } from './plugin-manifest.js';

/** Where a loaded plugin came from: `built-in`, a file path or a package name, and its version or file hash. */
export interface PluginSource {
  readonly id: string;
  /** What named it: `built-in`, or the specifier of the config's `plugins` list. */
  readonly specifier: string;
  /** Absolute path of the module file (undefined for built-ins). */
  readonly file?: string;
  /** `version` of the package.json that holds the module, when there is one. */
  readonly version?: string;
  /** sha256 of the module file, for plugins outside a versioned package. */
  readonly sha256?: string;
}

/**
 * An error raised by or about a plugin: at load (bad schema, defaults violating it, a bound
 * service missing a member) or during training (a hook threw; `cause` is the original error with
 * its stack). The message names the plugin id, its file and the member.
 */
export class PluginError extends Error {
  constructor(
    readonly pluginId: string,
    readonly file: string | undefined,
    readonly member: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`plugin ${pluginId}${file ? ` (${file})` : ''}: ${message}`, options);
    this.name = 'PluginError';
  }
  /** Details recorded in a failed run's `metadata.json`. */
  get details(): Record<string, unknown> {
    const cause = this.cause as Error | undefined;
    return { pluginId: this.pluginId, pluginFile: this.file, member: this.member, stack: cause?.stack ?? this.stack };
  }
}

/** The members each extension point's service must have (checked when the run resolves it). */
const REQUIRED_MEMBERS: Readonly<Record<string, { readonly contract: string; readonly members: readonly string[] }>> = {
  'sparse-rl.Sparsifier': { contract: 'Sparsifier', members: ['initialize'] },
  'sparse-rl.Agent': { contract: 'Agent', members: ['groups', 'learningStarts', 'act', 'update', 'state', 'loadState'] },
  'sparse-rl.ReplayBuffer': { contract: 'ReplayBuffer', members: ['capacity', 'size', 'add', 'sample'] },
  'sparse-rl.Environment': { contract: 'Environment', members: ['numEnvs', 'observationSpace', 'actionSpace', 'info', 'reset', 'step', 'close'] },
  'sparse-rl.Logger': { contract: 'Logger', members: ['log'] },
  'sparse-rl.TrainingContribution': { contract: 'TrainingContribution', members: [] },
};

/** Members that, when present, must be functions (optional hooks included). */
const FUNCTION_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  'sparse-rl.Sparsifier': ['initialize', ...SPARSIFIER_HOOKS, 'storedWeights', 'takeUpdateMetrics'],
  'sparse-rl.Agent': ['act', 'update', 'state', 'loadState', 'checkReplayBuffer'],
  'sparse-rl.ReplayBuffer': ['add', 'sample', 'sampleWindows', 'maybeShrink'],
  'sparse-rl.Environment': ['reset', 'step', 'close'],
  'sparse-rl.Logger': ['log', 'close'],
  'sparse-rl.TrainingContribution': ['onStart', 'onStep', 'onEvaluation', 'onEnd'],
};

/**
 * Checks a service a plugin bound against its contract and returns it guarded: every method call
 * that throws (or rejects) is re-thrown as a `PluginError` naming the plugin and the member, with
 * the original error (and stack) as `cause`; errors already attributed to a plugin pass through.
 * A sparsifier also gets the defaults of its missing optional hooks. An `EnvironmentFactory`
 * (a function) is guarded as a call and the environments it creates are checked and guarded too.
 * @throws PluginError naming the plugin, its file and the missing member
 */
export function guardService<T>(token: symbol, value: T, source: PluginSource): T {
  const key = Symbol.keyFor(token) ?? '';
  if (key === 'sparse-rl.EnvironmentFactory') {
    if (typeof value !== 'function') throw new PluginError(source.id, source.file, 'EnvironmentFactory', 'the bound EnvironmentFactory is not a function (role) => Promise<Environment>');
    const factory = value as unknown as (...a: unknown[]) => Promise<unknown>;
    const guarded = async (...args: unknown[]) => {
      let env: unknown;
      try {
        env = await factory(...args);
      } catch (e) {
        throw attribute(e, source, 'EnvironmentFactory');
      }
      return guardService(Symbol.for('sparse-rl.Environment'), env, source);
    };
    return guarded as unknown as T;
  }
  const contract = REQUIRED_MEMBERS[key];
  if (!contract) return value;
  if (!value || typeof value !== 'object') throw new PluginError(source.id, source.file, undefined, `the bound ${contract.contract} is not an object (got ${typeof value})`);
  const obj = value as Record<string, unknown>;
  for (const m of contract.members) {
    if (!(m in obj) || obj[m] === undefined) throw new PluginError(source.id, source.file, m, `the bound ${contract.contract} lacks required member "${m}"`);
  }
  for (const m of FUNCTION_MEMBERS[key] ?? []) {
    if (m in obj && obj[m] !== undefined && typeof obj[m] !== 'function') throw new PluginError(source.id, source.file, m, `member "${m}" of the bound ${contract.contract} must be a function, got ${typeof obj[m]}`);
  }
  const complete = key === 'sparse-rl.Sparsifier' ? withSparsifierDefaults(value as unknown as Sparsifier) : value;
  return attributeCalls(complete as object, source) as T;
}

/** `e` as a `PluginError` of `source` (unchanged when already attributed to a plugin). */
function attribute(e: unknown, source: PluginSource, member: string): unknown {
  if (e instanceof PluginError || (e as { name?: string })?.name === 'PluginError') return e;
  const message = e instanceof Error ? e.message : String(e);
  const err = new PluginError(source.id, source.file, member, `${member} threw: ${message}`, { cause: e });
  // keep what the original error carried for the run record (e.g. an environment's stderr tail)
  const details = (e as { details?: object }).details;
  if (details) Object.defineProperty(err, 'details', { value: { ...err.details, ...details } });
  return err;
}

/** A view of `target` whose method calls re-throw as `PluginError`s of `source`. */
function attributeCalls<T extends object>(target: T, source: PluginSource): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(t, prop) {
      const v = Reflect.get(t, prop, t) as unknown;
      if (typeof v !== 'function' || prop === 'constructor') return v;
      let w = wrapped.get(prop);
      if (!w || (w as { original?: unknown }).original !== v) {
        const fn = v as (...a: unknown[]) => unknown;
        const member = String(prop);
        w = Object.assign(
          function guarded(...args: unknown[]) {
            let r: unknown;
            try {
              r = fn.apply(t, args);
            } catch (e) {
              throw attribute(e, source, member);
            }
            if (r instanceof Promise) return r.catch((e: unknown) => Promise.reject(attribute(e, source, member)));
            return r;
          },
          { original: v },
        );
        wrapped.set(prop, w);
      }
      return w;
    },
  });
}

const ajv = new Ajv2020({ strict: true, allErrors: true, discriminator: true });

/**
 * Load-time checks of a manifest's `optionsSchema`: it must be a valid JSON Schema (draft
 * 2020-12, strict) of an object, and every property's `default` must satisfy that property's
 * schema (a default that violates its own schema is the plugin's bug, not the user's).
 * @throws PluginError naming the plugin, its file and the option
 */
export function checkOptionsSchema(manifest: PluginManifest, source: PluginSource): void {
  const schema = manifest.optionsSchema as JsonSchema & { type?: unknown; properties?: Record<string, JsonSchema> };
  const fail = (member: string | undefined, what: string): never => {
    throw new PluginError(manifest.id, source.file, member, what);
  };
  if (schema.type !== 'object') fail('optionsSchema', `optionsSchema must have type: "object", got ${JSON.stringify(schema.type)}`);
  try {
    ajv.compile({ ...schema, $id: undefined });
  } catch (e) {
    fail('optionsSchema', `optionsSchema is not a valid JSON Schema (draft 2020-12, strict): ${(e as Error).message}`);
  }
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    if (!prop || typeof prop !== 'object' || !('default' in prop)) continue;
    const check = ajv.compile({ ...prop, $id: undefined, ...(schema.$defs ? { $defs: schema.$defs } : {}) });
    if (!check(structuredClone(prop.default))) {
      fail(`optionsSchema.properties.${name}`, `the default of option "${name}" (${JSON.stringify(prop.default)}) violates the plugin's own schema: ${ajv.errorsText(check.errors, { dataVar: name })}`);
    }
  }
}
