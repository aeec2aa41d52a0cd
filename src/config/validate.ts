import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { PluginRegistry } from '../plugin/plugin-registry.js';
import { composeRootSchema, EXTENSION_POINTS } from './schema.js';
import type { ExperimentConfig } from './experiment-config.js';

/** One problem found in a config: JSON path (`sparsifier.actorSparsity`), value, rule. */
export interface ConfigIssue {
  /** Dotted path with `[i]` for array items; `(root)` for the whole document. */
  readonly path: string;
  /** What is wrong and what is allowed. */
  readonly message: string;
  /** The offending value (undefined when missing). */
  readonly value?: unknown;
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

/** `path: message` with the offending value. */
export function formatIssue(issue: ConfigIssue): string {
  const got = issue.value === undefined ? '' : `, got ${JSON.stringify(issue.value)}`;
  return `${issue.path}: ${issue.message}${got}`;
}

function jsonPath(instancePath: string): string {
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
    const issues: ConfigIssue[] = [];
    const seen = new Set<string>();
    const push = (i: ConfigIssue) => {
      const key = `${i.path}|${i.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        issues.push(i);
      }
    };
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

/**
 * Loads and validates a config file: reads it, loads the plugins it names (relative to the
 * file), composes the root schema and validates.
 * @throws ConfigError with every issue when invalid
 */
export async function loadConfig(file: string): Promise<{ config: ExperimentConfig; registry: PluginRegistry; validator: ConfigValidator }> {
  const raw = readConfigFile(file);
  const plugins = (raw as { plugins?: unknown })?.plugins;
  if (plugins !== undefined && !(Array.isArray(plugins) && plugins.every((p) => typeof p === 'string'))) {
    throw new ConfigError(file, [{ path: 'plugins', message: 'must be an array of module paths or package names', value: plugins }]);
  }
  let registry: PluginRegistry;
  try {
    registry = await PluginRegistry.load((plugins as string[] | undefined) ?? [], dirname(resolve(file)));
  } catch (e) {
    throw new ConfigError(file, [{ path: 'plugins', message: (e as Error).message }]);
  }
  const validator = new ConfigValidator(registry);
  const result = validator.validate(raw);
  if (!result.config) throw new ConfigError(file, result.issues);
  return { config: result.config, registry, validator };
}
