import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { PluginRegistry } from '../plugin/plugin-registry.js';
import { composeRootSchema, envelopeSchema, EXTENSION_POINTS } from './schema.js';
import { crossFieldIssues, type CrossFieldFacts } from './cross-field.js';
import type { ExperimentConfig } from './experiment-config.js';
import { applyOverrides, attributeIssues, type Override } from './overrides.js';

/** One problem found in a config: JSON path (`sparsifier.actorSparsity`), value, rule. */
export interface ConfigIssue {
  /** Dotted path with `[i]` for array items; `(root)` for the whole document. */
  readonly path: string;
  /** What is wrong and what is allowed. */
  readonly message: string;
  /** The offending value (undefined when missing). */
  readonly value?: unknown;
  /** The command-line override that caused it (`--set agent.batchSize=abc`, `--seed 3`), printed first. */
  readonly source?: string;
  /** Other paths a cross-field rule read (`totalSteps` for `agent.learningStarts`). */
  readonly related?: readonly string[];
}

/** Thrown by `loadConfig` when the config is invalid; `issues` has every problem. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(`${file}: invalid config\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** `path: message` with the offending value, after the override that caused it (`--set a.b=1: a.b: ...`). */
export function formatIssue(issue: ConfigIssue): string {
  const got = issue.value === undefined ? '' : `, got ${JSON.stringify(issue.value)}`;
  return `${issue.source === undefined ? '' : `${issue.source}: `}${issue.path}: ${issue.message}${got}`;
}

/** A list of issues that keeps the first of each (path, message) pair: ajv reports one problem through several keywords. */
export function issueCollector(): { issues: ConfigIssue[]; push: (issue: ConfigIssue) => void } {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  return {
    issues,
    push: (i) => {
      const key = `${i.path}|${i.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        issues.push(i);
      }
    },
  };
}

/** An ajv `instancePath` (`/recipes/1/method`) as a dotted path with `[i]` items (`recipes[1].method`); `(root)` for ''. */
export function jsonPath(instancePath: string): string {
  if (instancePath === '') return '(root)';
  return instancePath
    .split('/')
    .slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

function join(path: string, key: string): string {
  return path === '(root)' ? key : `${path}.${key}`;
}

/** A config validator for one plugin registry (ajv 2020-12, strict, allErrors, useDefaults). */
export class ConfigValidator {
  private readonly validateFn: ValidateFunction;
  readonly schema: Record<string, unknown>;

  constructor(readonly registry: PluginRegistry) {
    this.schema = composeRootSchema(registry);
    const ajv = new Ajv2020({ strict: true, allErrors: true, useDefaults: true, discriminator: true, verbose: true });
    this.validateFn = ajv.compile(this.schema);
  }

  /**
   * Validates `raw` (not modified) and returns the config with defaults applied, deep-frozen, or
   * the list of issues.
   */
  validate(raw: unknown): { config: ExperimentConfig; issues: [] } | { config?: undefined; issues: ConfigIssue[] } {
    const data = structuredClone(raw);
    if (this.validateFn(data)) return { config: deepFreeze(data) as ExperimentConfig, issues: [] };
    return { issues: this.describe(this.validateFn.errors ?? []) };
  }

  private describe(errors: readonly ErrorObject[]): ConfigIssue[] {
    const { issues, push } = issueCollector();
    // a discriminator failure makes ajv also report the envelope's own keywords; keep the useful ones
    for (const e of errors) {
      const path = jsonPath(e.instancePath);
      const parent = e.parentSchema as { properties?: Record<string, unknown>; enum?: unknown[] } | undefined;
      switch (e.keyword) {
        case 'discriminator': {
          const p = e.params as { tag: string; tagValue: unknown; error: string };
          const top = path.startsWith('loggers[') ? 'logger' : path.split('.')[0];
          const kind = EXTENSION_POINTS[top];
          const installed = kind ? this.registry.ofKind(kind).map((m) => m.id.slice(m.id.indexOf('.') + 1)) : [];
          push({
            path: join(path, p.tag),
            message:
              p.error === 'tag'
                ? `must be a string naming the ${kind} plugin; installed: ${installed.join(', ')}`
                : `unknown ${kind} type; installed: ${installed.join(', ') || '(none)'}`,
            value: p.tagValue,
          });
          break;
        }
        case 'additionalProperties': {
          const prop = (e.params as { additionalProperty: string }).additionalProperty;
          const allowed = Object.keys(parent?.properties ?? {});
          push({ path: join(path, prop), message: `unknown property; allowed: ${allowed.join(', ')}` });
          break;
        }
        case 'required': {
          const prop = (e.params as { missingProperty: string }).missingProperty;
          push({ path: join(path, prop), message: 'is required' });
          break;
        }
        case 'enum':
          push({ path, message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`, value: e.data });
          break;
        case 'const':
          push({ path, message: `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`, value: e.data });
          break;
        case 'oneOf':
        case 'if':
          break; // the branch errors say what is wrong
        default:
          push({ path, message: e.message ?? e.keyword, value: e.data });
      }
    }
    return issues;
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Reads a JSON config file. @throws ConfigError on unreadable files or JSON syntax errors */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [{ path: '(root)', message: `cannot read file: ${(e as Error).message}` }]);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, [{ path: '(root)', message: `not valid JSON: ${(e as Error).message}` }]);
  }
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /**
   * Command-line overrides (`src/config/overrides.ts`: `PATH=VALUE`, JSON or text), applied in
   * order to the file's JSON before anything else (so `plugins` may be overridden too; relative
   * plugin paths stay relative to the file). A top-level section an override creates starts from
   * the envelope's default (`replayBuffer.capacity=5000` keeps `type: "uniform"`).
   */
  readonly overrides?: readonly Override[];
  /** Run the cross-field rules (`src/config/cross-field.ts`); default true. */
  readonly crossField?: boolean;
  /** Facts for the cross-field rules (default: estimates and this machine, now). */
  readonly facts?: CrossFieldFacts;
}

/** What {@link loadConfig} returns. */
export interface LoadedConfig {
  /** Validated: overrides applied, defaults filled in, deep-frozen; what a run records as its config.json. */
  readonly config: ExperimentConfig;
  readonly registry: PluginRegistry;
  readonly validator: ConfigValidator;
  /** Cross-field warnings (the run may work badly); print them as `warning: ${formatIssue(w)}`. */
  readonly warnings: readonly ConfigIssue[];
}

/**
 * Loads and validates a config file: reads it, applies `options.overrides`, loads the plugins it
 * names (relative to the file), composes the root schema, validates, then runs the cross-field
 * rules. Issues caused by an override carry it as `source`.
 * @throws ConfigError with every issue when the file is unreadable, an override is malformed or
 *   runs through a non-object, a plugin does not load, the schema fails (all its issues), or a
 *   cross-field rule fails (all of them; only run once the schema passes)
 */
export async function loadConfig(file: string, options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const sections = (envelopeSchema() as { properties: Record<string, { default?: unknown }> }).properties;
  const defaults = Object.fromEntries(Object.entries(sections).filter(([, v]) => v.default !== undefined).map(([k, v]) => [k, v.default]));
  const overridden = applyOverrides(readConfigFile(file), options.overrides ?? [], { defaults });
  if (overridden.issues.length > 0) throw new ConfigError(file, overridden.issues);
  const raw = overridden.raw;
  const fail = (issues: ConfigIssue[]): never => {
    throw new ConfigError(file, attributeIssues(issues, overridden.applied));
  };
  const plugins = (raw as { plugins?: unknown })?.plugins;
  if (plugins !== undefined && !(Array.isArray(plugins) && plugins.every((p) => typeof p === 'string'))) {
    fail([{ path: 'plugins', message: 'must be an array of module paths or package names', value: plugins }]);
  }
  let registry: PluginRegistry | undefined;
  try {
    registry = await PluginRegistry.load((plugins as string[] | undefined) ?? [], dirname(resolve(file)));
  } catch (e) {
    fail([{ path: 'plugins', message: (e as Error).message }]);
  }
  const validator = new ConfigValidator(registry!);
  const result = validator.validate(raw);
  if (!result.config) return fail(result.issues);
  let warnings: ConfigIssue[] = [];
  if (options.crossField !== false) {
    const checked = crossFieldIssues(result.config, options.facts);
    if (checked.errors.length > 0) fail(checked.errors);
    warnings = attributeIssues(checked.warnings, overridden.applied);
  }
  return { config: result.config, registry: registry!, validator, warnings };
}
