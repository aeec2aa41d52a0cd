import type { ConfigIssue } from './validate.js';

/**
 * Command-line overrides of a config (`sparse-rl train|validate FILE --set a.b.c=VALUE`), applied
 * to the raw JSON before validation, so that they are validated (and their defaults filled in)
 * exactly like the file; the validated result is what a run records in its `config.json`.
 *
 * Syntax of one override, `PATH=VALUE` (split at the first `=`):
 * - PATH: keys separated by `.`, array items as `[i]` (`loggers[0].type`) or as a numeric key
 *   (`loggers.0.type`, an index where the value there is an array, else an object key). A key
 *   cannot contain `.`, `[`, `]` or `=`. Missing objects on the way are created (`[i]` creates an
 *   array); an index may be at most the array's length (= append). A path through a value that is
 *   not an object or array (`seed.x` with `seed: 1`) is an error naming the override.
 * - VALUE: JSON when it parses as JSON (`3`, `1e6`, `true`, `null`, `[64,64]`, `{"type":"sac"}`,
 *   `"123"`), else the text itself as a string (`HalfCheetah-v5`); quote a string that looks like
 *   JSON (`name='"123"'` in a shell). An empty VALUE is the empty string.
 *
 * Overrides apply in order (a later one wins). A problem they cause (a schema or cross-field
 * issue on the path they set, or one that read it) carries the override as `source`, printed
 * first: `--set agent.batchSize=abc: agent.batchSize: must be integer, got "abc"`.
 */

/** One override: `PATH=VALUE` (shown as `--set PATH=VALUE`), or with the flag the user typed. */
export type Override = string | { readonly set: string; readonly source: string };

/** A parsed override. */
export interface ParsedOverride {
  /** The path in issue form: `loggers[0].type`. */
  readonly path: string;
  readonly segments: readonly (string | number)[];
  readonly value: unknown;
  /** How the user wrote it: `--set loggers.0.type=x`, `--seed 3`. */
  readonly source: string;
}

/** An override that was applied, with the containers it had to create (issues inside them are its own). */
export interface AppliedOverride extends ParsedOverride {
  /** Paths of the objects / arrays it created on the way (`evaluation` for `evaluation.interval=5` without one). */
  readonly created: readonly string[];
}

/** Options of {@link applyOverrides}. */
export interface ApplyOverridesOptions {
  /**
   * What a missing top-level section starts as when an override creates it: the envelope schema's
   * defaults (`replayBuffer: {type: "uniform"}`), so `replayBuffer.capacity=5000` on a file
   * without `replayBuffer` keeps the default buffer type. Default: none (an empty object / array).
   */
  readonly defaults?: Readonly<Record<string, unknown>>;
}

/** `--seed S` as an override of `seed`. */
export function seedOverride(seed: string | number): Override {
  return { set: `seed=${seed}`, source: `--seed ${seed}` };
}

/** `--total-steps N` as an override of `totalSteps`. */
export function totalStepsOverride(steps: string | number): Override {
  return { set: `totalSteps=${steps}`, source: `--total-steps ${steps}` };
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/** Thrown by `parseOverride` on a malformed override; `issue` names it. */
class OverrideSyntaxError extends Error {
  constructor(readonly issue: ConfigIssue) {
    super(issue.message);
  }
}

/** `a.b[0].c` from segments. */
function pathOf(segments: readonly (string | number)[]): string {
  return segments.reduce<string>((acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
}

/**
 * Parses one override.
 * @throws Error (with the override in the message) when it has no `=` or a malformed path
 */
export function parseOverride(override: Override): ParsedOverride {
  const text = typeof override === 'string' ? override : override.set;
  const source = typeof override === 'string' ? `--set ${override}` : override.source;
  const bad = (message: string, path = '(root)'): never => {
    throw new OverrideSyntaxError({ path, message, source });
  };
  const eq = text.indexOf('=');
  if (eq < 0) bad('expected PATH=VALUE, e.g. agent.batchSize=128 (no "=" found)');
  const rawPath = text.slice(0, eq);
  const rawValue = text.slice(eq + 1);
  const segments: (string | number)[] = [];
  const token = /\.?([^.[\]]+)|\[(\d+)\]/y;
  let pos = 0;
  while (pos < rawPath.length) {
    token.lastIndex = pos;
    const m = token.exec(rawPath);
    if (!m || (pos === 0 && rawPath[0] === '.') || (pos > 0 && m[1] !== undefined && rawPath[pos] !== '.')) {
      bad(`malformed path ${JSON.stringify(rawPath)} at character ${pos + 1}: use keys separated by "." and [i] for array items, e.g. loggers[0].type`, rawPath || '(root)');
    }
    if (m![1] !== undefined) {
      if (FORBIDDEN_KEYS.has(m![1])) bad(`the key ${JSON.stringify(m![1])} is not allowed`, rawPath);
      segments.push(m![1]);
    } else {
      segments.push(Number(m![2]));
    }
    pos = token.lastIndex;
  }
  if (segments.length === 0) bad('empty path: expected PATH=VALUE, e.g. seed=3');
  if (typeof segments[0] === 'number') bad('the path must start with a top-level key, e.g. loggers[0].type', rawPath);
  let value: unknown;
  try {
    value = JSON.parse(rawValue);
  } catch {
    value = rawValue;
  }
  return { path: pathOf(segments), segments, value, source };
}

const isContainer = (v: unknown): v is Record<string, unknown> | unknown[] => typeof v === 'object' && v !== null;
const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v} (${JSON.stringify(v)})`);

/**
 * Applies `overrides` in order to a copy of `raw` (not modified).
 * @returns the overridden copy, the parsed overrides, and an issue (with `source`) for each
 *   override that is malformed or whose path runs through a non-object; when there are issues,
 *   `raw` is the copy with the valid overrides applied
 */
export function applyOverrides(raw: unknown, overrides: readonly Override[], options: ApplyOverridesOptions = {}): { raw: unknown; applied: AppliedOverride[]; issues: ConfigIssue[] } {
  const root = structuredClone(raw);
  const applied: AppliedOverride[] = [];
  const issues: ConfigIssue[] = [];
  for (const o of overrides) {
    let p: ParsedOverride;
    try {
      p = parseOverride(o);
    } catch (e) {
      if (e instanceof OverrideSyntaxError) {
        issues.push(e.issue);
        continue;
      }
      throw e;
    }
    const created: string[] = [];
    const problem = setPath(root, p, created, options.defaults ?? {});
    if (problem) issues.push({ path: p.path, message: problem, value: p.value, source: p.source });
    else applied.push({ ...p, created });
  }
  return { raw: root, applied, issues };
}

/** Sets `p.value` at `p.segments` in `root`, listing the containers it creates; returns what is wrong instead, or undefined. */
function setPath(root: unknown, p: ParsedOverride, created: string[], defaults: Readonly<Record<string, unknown>>): string | undefined {
  if (!isContainer(root) || Array.isArray(root)) return `cannot set ${p.path}: the config is ${describe(root)}, not an object`;
  let node: Record<string, unknown> | unknown[] = root;
  for (let i = 0; i < p.segments.length; i++) {
    const seg = p.segments[i];
    const here = pathOf(p.segments.slice(0, i)) || 'the config';
    let key: string | number;
    if (Array.isArray(node)) {
      const index = typeof seg === 'number' ? seg : /^\d+$/.test(seg) ? Number(seg) : undefined;
      if (index === undefined) return `cannot set ${p.path}: ${here} is an array; name an item as ${here}[i]`;
      if (index > node.length) return `cannot set ${p.path}: ${here} has ${node.length} item(s); the index may be at most ${node.length} (appends)`;
      key = index;
    } else {
      if (typeof seg === 'number') return `cannot set ${p.path}: ${here} is an object, not an array; name a key as ${here}.key`;
      key = seg;
    }
    const container = node as Record<string | number, unknown>;
    if (i === p.segments.length - 1) {
      container[key] = structuredClone(p.value);
      return undefined;
    }
    let child = Object.hasOwn(container, key) ? container[key] : undefined;
    if (child === undefined) {
      const array = typeof p.segments[i + 1] === 'number';
      const initial = i === 0 && Object.hasOwn(defaults, seg) ? defaults[seg as string] : undefined;
      child = isContainer(initial) && Array.isArray(initial) === array ? structuredClone(initial) : array ? [] : {};
      container[key] = child;
      created.push(pathOf(p.segments.slice(0, i + 1)));
    } else if (!isContainer(child)) {
      return `cannot set ${p.path}: ${pathOf(p.segments.slice(0, i + 1))} is ${describe(child)}, not an object or array`;
    }
    node = child as Record<string, unknown> | unknown[];
  }
  return undefined;
}

/** True when path `p` is `at` or inside it (`agent.nStep.n` is inside `agent`). */
function within(p: string, at: string): boolean {
  return p === at || p.startsWith(`${at}.`) || p.startsWith(`${at}[`);
}

/**
 * The issues with the override that caused them as `source`: the last override whose path is the
 * issue's path, an ancestor of it (`--set agent={...}`) or inside it (`--set seed.x=1` makes
 * `seed: must be integer`), or that created a container the issue is in, or the same for one of
 * the paths the rule read (`related`).
 */
export function attributeIssues(issues: readonly ConfigIssue[], applied: readonly (ParsedOverride & { readonly created?: readonly string[] })[]): ConfigIssue[] {
  return issues.map((issue) => {
    if (issue.source !== undefined) return issue;
    const paths = [issue.path, ...(issue.related ?? [])];
    for (let k = applied.length - 1; k >= 0; k--) {
      const { path: at, created = [] } = applied[k];
      if (paths.some((p) => within(p, at) || within(at, p) || created.some((c) => within(p, c)))) return { ...issue, source: applied[k].source };
    }
    return issue;
  });
}
