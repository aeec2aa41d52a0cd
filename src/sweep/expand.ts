import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { ExperimentConfig } from '../config/experiment-config.js';
import { parseOverride, seedOverride, totalStepsOverride, type Override } from '../config/overrides.js';
import { ConfigError, formatIssue, loadConfig, readConfigFile, type ConfigIssue } from '../config/validate.js';
import { shrinkOverrides } from './shrink.js';
import type { SweepFile, SweepRecipeEntry } from './sweep-file.js';

/** One run of an expanded sweep. */
export interface SweepRun {
  /** Run name and folder under `<sweep dir>/runs/`: `<method>__<env>__s<seed>`. */
  readonly name: string;
  /** Method label (the recipe's `method`, default its folder or file name). */
  readonly method: string;
  /** Environment id as given (`HalfCheetah-v5`). */
  readonly env: string;
  readonly seed: number;
  /** Absolute path of the experiment config file the run trains. */
  readonly recipe: string;
  /** Index of its entry in the sweep's `recipes`. */
  readonly recipeIndex: number;
  /** The config's `name`: `<method>-<env id lowercased>`. */
  readonly configName: string;
  /** The overrides of the run, in the order they apply (what `train RECIPE ...` gets). */
  readonly overrides: readonly Override[];
  /** Arguments of `sparse-rl train` for a fresh start, without `--run-dir`: `[recipe, --set ..., --seed S, --total-steps N]`. */
  readonly trainArgs: readonly string[];
}

/** Options of {@link expandSweep}. */
export interface ExpandOptions {
  /**
   * `runtime.threads` of every run whose sweep entry does not set `runtime.threads` itself
   * (global or recipe `set`); undefined: keep the recipe's.
   */
  readonly threads?: number;
}

/** An env id as a file / folder name token: every character outside `[A-Za-z0-9.-]` becomes `-`. */
export function envToken(env: string): string {
  return env.replace(/[^A-Za-z0-9.-]/g, '-');
}

/** `<method>__<env>__s<seed>`: the deterministic run name of a sweep run. */
export function runName(method: string, env: string, seed: number): string {
  return `${method}__${envToken(env)}__s${seed}`;
}

/** The config `name` of a sweep run: `<method>-<env id lowercased>` (a report derives the method as the name minus `-<env lower>`). */
export function configName(method: string, env: string): string {
  return `${method}-${envToken(env).toLowerCase()}`;
}

/** True when one of `sets` sets `runtime.threads` (or the whole `runtime`). */
function setsThreads(sets: readonly string[]): boolean {
  return sets.some((s) => {
    try {
      const p = parseOverride(s).path;
      return p === 'runtime' || p === 'runtime.threads';
    } catch {
      return false;
    }
  });
}

/** An override as `train` arguments. */
function overrideArgs(o: Override): string[] {
  if (typeof o === 'string') return ['--set', o];
  if (o.source.startsWith('--seed ')) return ['--seed', o.source.slice('--seed '.length)];
  if (o.source.startsWith('--total-steps ')) return ['--total-steps', o.source.slice('--total-steps '.length)];
  return ['--set', o.set];
}

/**
 * Expands a sweep to its runs: for each recipe (in order) × env × seed. A folder recipe takes
 * `<folder>/<env id lowercased>.json` for each env; a file recipe runs each of the sweep's (or its
 * own) envs with `environment.id` overridden, or its own `environment.id` when none are given.
 * Each run's overrides, in order: the budget's schedule shrinking (scaled values of the recipe
 * file), `name=<method>-<env lower>`, `environment.id=<env>` (when envs are given),
 * `runtime.threads` (`options.threads`, unless the sweep sets it), the sweep's `set`, the
 * recipe's `set`, `--seed S`, `--total-steps <budget>`.
 * @param file the sweep file (recipe paths are relative to it; errors name it)
 * @throws ConfigError naming `file` with every issue (a missing recipe file, a folder without the
 *   env's file, a file without environment.id, clashing run names)
 */
export function expandSweep(sweep: SweepFile, file: string, options: ExpandOptions = {}): SweepRun[] {
  const base = dirname(resolve(file));
  const issues: ConfigIssue[] = [];
  const runs: SweepRun[] = [];
  const byName = new Map<string, number>();
  sweep.recipes.forEach((r, recipeIndex) => {
    const entry: SweepRecipeEntry = typeof r === 'string' ? { path: r } : r;
    const at = typeof r === 'string' ? `recipes[${recipeIndex}]` : `recipes[${recipeIndex}].path`;
    const path = resolve(base, entry.path);
    if (!existsSync(path)) {
      issues.push({ path: at, message: `no such file or folder: ${path}`, value: entry.path });
      return;
    }
    const folder = statSync(path).isDirectory();
    const method = entry.method ?? (folder ? basename(path) : basename(path).replace(/\.json$/i, ''));
    if (!/^[A-Za-z0-9.-]+(_[A-Za-z0-9.-]+)*$/.test(method)) {
      issues.push({ path: typeof r === 'string' ? at : `recipes[${recipeIndex}]`, message: `method label ${JSON.stringify(method)} (from the path) is not a valid label ([A-Za-z0-9.-_], no "__"); give the recipe a "method"`, value: entry.path });
      return;
    }
    const envs = entry.envs ?? sweep.envs;
    const sets = [...(sweep.set ?? []), ...(entry.set ?? [])];
    const targets: { env: string; recipe: string; overrideEnv: boolean }[] = [];
    if (folder) {
      if (!envs) {
        issues.push({ path: `recipes[${recipeIndex}]`, message: `${entry.path} is a recipe folder: give the sweep (or this recipe) "envs" to pick <folder>/<env id lowercased>.json`, value: entry.path });
        return;
      }
      for (const env of envs) {
        const recipe = join(path, `${envToken(env).toLowerCase()}.json`);
        if (existsSync(recipe)) targets.push({ env, recipe, overrideEnv: false });
        else issues.push({ path: at, message: `recipe folder ${path} has no ${basename(recipe)} for env ${env}`, value: entry.path });
      }
    } else if (envs) {
      for (const env of envs) targets.push({ env, recipe: path, overrideEnv: true });
    } else {
      let raw: unknown;
      try {
        raw = readConfigFile(path);
      } catch (e) {
        issues.push({ path: at, message: (e as Error).message.replace(/\n\s*/g, ' '), value: entry.path });
        return;
      }
      const env = (raw as { environment?: { id?: unknown } })?.environment?.id;
      if (typeof env !== 'string' || env === '') {
        issues.push({ path: at, message: `${path} has no environment.id; give the sweep (or this recipe) "envs"`, value: entry.path });
        return;
      }
      targets.push({ env, recipe: path, overrideEnv: false });
    }
    for (const { env, recipe, overrideEnv } of targets) {
      let shrink: Override[] = [];
      if (sweep.budget && sweep.budget.shrinkSchedules !== false) {
        try {
          shrink = shrinkOverrides(readConfigFile(recipe), sweep.budget.totalSteps).map((set) => ({ set, source: `budget.totalSteps ${sweep.budget!.totalSteps} (schedule shrinking: --set ${set})` }));
        } catch (e) {
          issues.push({ path: at, message: (e as Error).message.replace(/\n\s*/g, ' '), value: entry.path });
          continue;
        }
      }
      for (const seed of sweep.seeds) {
        const name = runName(method, env, seed);
        const overrides: Override[] = [
          ...shrink,
          `name=${configName(method, env)}`,
          ...(overrideEnv ? [`environment.id=${env}`] : []),
          ...(options.threads !== undefined && !setsThreads(sets) ? [`runtime.threads=${options.threads}`] : []),
          ...sets,
          seedOverride(seed),
          ...(sweep.budget ? [totalStepsOverride(sweep.budget.totalSteps)] : []),
        ];
        const previous = byName.get(name);
        if (previous !== undefined) {
          issues.push({ path: `recipes[${recipeIndex}]`, message: `run name ${name} clashes with a run of recipes[${previous}]: give one of them another "method"` });
          continue;
        }
        byName.set(name, recipeIndex);
        runs.push({ name, method, env, seed, recipe, recipeIndex, configName: configName(method, env), overrides, trainArgs: [recipe, ...overrides.flatMap(overrideArgs)] });
      }
    }
  });
  if (issues.length > 0) throw new ConfigError(file, issues);
  return runs;
}

/** A sweep run with its validated config (defaults filled in): what its run directory's `config.json` will hold. */
export interface ValidatedRun extends SweepRun {
  readonly config: ExperimentConfig;
}

/**
 * Validates every run of a sweep exactly as `sparse-rl train` will (`loadConfig` of its recipe
 * with its overrides), before anything starts.
 * @param file the sweep file (named by the errors)
 * @param warn prints a cross-field warning (each distinct one once, with the runs it concerns)
 * @throws ConfigError naming `file`, with every issue of every run prefixed by the run and its recipe
 */
export async function validateRuns(runs: readonly SweepRun[], file: string, warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`)): Promise<ValidatedRun[]> {
  const issues: ConfigIssue[] = [];
  const out: ValidatedRun[] = [];
  const warnings = new Map<string, string[]>();
  const cwd = process.cwd();
  for (const run of runs) {
    const where = `run ${run.name} (${relative(cwd, run.recipe) || run.recipe})`;
    // A paper grid is hundreds of runs of mostly synchronous schema work: let signals, timers and
    // messages (e.g. a progress display, a test runner's RPC) through between runs.
    await yieldToEventLoop();
    try {
      const loaded = await loadConfig(run.recipe, { overrides: run.overrides });
      out.push({ ...run, config: loaded.config });
      for (const w of loaded.warnings) {
        const text = formatIssue(w);
        warnings.set(text, [...(warnings.get(text) ?? []), run.name]);
      }
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const i of e.issues) issues.push({ ...i, source: i.source === undefined ? where : `${where}: ${i.source}` });
    }
  }
  if (issues.length > 0) throw new ConfigError(file, issues);
  for (const [text, names] of warnings) warn(`${text} (${names.length === runs.length ? 'every run' : names.join(', ')})`);
  return out;
}
