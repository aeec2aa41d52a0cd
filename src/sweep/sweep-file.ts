import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { ConfigError, issueCollector, jsonPath, readConfigFile, type ConfigIssue } from '../config/validate.js';
import { packageRoot } from '../util/paths.js';

/** One recipe entry of a sweep file, in its object form. */
export interface SweepRecipeEntry {
  readonly path: string;
  readonly method?: string;
  readonly envs?: readonly string[];
  readonly set?: readonly string[];
}

/** A validated sweep file (`schemas/sweep.schema.json`), defaults filled in. */
export interface SweepFile {
  readonly $schema?: string;
  readonly name: string;
  readonly description?: string;
  readonly output: string;
  readonly recipes: readonly (string | SweepRecipeEntry)[];
  readonly envs?: readonly string[];
  readonly seeds: readonly number[];
  readonly set?: readonly string[];
  readonly budget?: { readonly totalSteps: number; readonly shrinkSchedules: boolean };
  readonly maxRetries: number;
}

/** The sweep schema `schemas/sweep.schema.json`. */
export function sweepSchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(packageRoot(), 'schemas', 'sweep.schema.json'), 'utf8')) as Record<string, unknown>;
}

let compiled: ReturnType<Ajv2020['compile']> | undefined;

const join2 = (path: string, key: string) => (path === '(root)' ? key : `${path}.${key}`);

/** ajv errors as issues with JSON paths (`recipes[1].method`), one per problem. */
function describe(errors: readonly ErrorObject[]): ConfigIssue[] {
  const { issues: out, push } = issueCollector();
  // a recipe that is neither a string nor a valid object: report the object branch's errors only
  const objectRecipe = (e: ErrorObject) => /^\/recipes\/\d+$/.test(e.instancePath) && e.keyword === 'type' && (e.params as { type: string }).type === 'string';
  for (const e of errors) {
    const path = jsonPath(e.instancePath);
    const parent = e.parentSchema as { properties?: Record<string, unknown> } | undefined;
    if (objectRecipe(e) && typeof e.data === 'object' && e.data !== null) continue;
    switch (e.keyword) {
      case 'additionalProperties': {
        const prop = (e.params as { additionalProperty: string }).additionalProperty;
        push({ path: join2(path, prop), message: `unknown property; allowed: ${Object.keys(parent?.properties ?? {}).join(', ')}` });
        break;
      }
      case 'required':
        push({ path: join2(path, (e.params as { missingProperty: string }).missingProperty), message: 'is required' });
        break;
      case 'oneOf':
        if (typeof e.data !== 'object' || e.data === null) push({ path, message: 'must be a path (string) or an object { path, method?, envs?, set? }', value: e.data });
        break;
      case 'pattern':
        push({
          path,
          message: /overrides|set/.test(e.schemaPath) || /\/set\/\d+$/.test(e.instancePath) ? 'must be an override PATH=VALUE (as --set takes it)' : `must match ${(e.params as { pattern: string }).pattern}`,
          value: e.data,
        });
        break;
      default:
        push({ path, message: e.message ?? e.keyword, value: e.data });
    }
  }
  return out;
}

/**
 * Validates a sweep file's JSON against `schemas/sweep.schema.json` (ajv 2020-12, strict,
 * allErrors, defaults filled in).
 * @returns the sweep with defaults, or the issues (JSON paths)
 */
export function validateSweep(raw: unknown): { sweep: SweepFile; issues: [] } | { sweep?: undefined; issues: ConfigIssue[] } {
  if (!compiled) {
    const ajv = new Ajv2020({ strict: true, allErrors: true, useDefaults: true, verbose: true });
    compiled = ajv.compile(sweepSchema());
  }
  const data = structuredClone(raw);
  if (compiled(data)) return { sweep: data as SweepFile, issues: [] };
  return { issues: describe(compiled.errors ?? []) };
}

/**
 * Reads and validates a sweep file.
 * @throws ConfigError naming the file with every issue (unreadable file, bad JSON, schema)
 */
export function readSweepFile(file: string): SweepFile {
  const result = validateSweep(readConfigFile(file));
  if (!result.sweep) throw new ConfigError(file, result.issues);
  return result.sweep;
}
