import type { Command } from 'commander';
import { seedOverride, totalStepsOverride, type Override } from '../config/overrides.js';

/** The parsed values of the options {@link addOverrideOptions} adds (commander's camelCase names). */
export interface OverrideFlags {
  readonly set?: readonly string[];
  readonly seed?: string;
  readonly totalSteps?: string;
}

/**
 * Adds the config override options to a command: `--set PATH=VALUE` (repeatable; syntax in
 * `src/config/overrides.ts`), `--seed S` and `--total-steps N` (shortcuts for `--set seed=S`,
 * `--set totalSteps=N`). Read them back with {@link overridesFrom}.
 * @returns `command`, for chaining
 */
export function addOverrideOptions(command: Command): Command {
  return command
    .option(
      '--set <path=value>',
      'override a config value before validation (repeatable, applied in order): PATH is dotted with [i] for array items (agent.batchSize, loggers[0].type); VALUE is JSON when it parses (128, true, [64,64], {"type":"sac"}), else text',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option('--seed <s>', 'the run seed: shortcut for --set seed=S (applied after every --set)')
    .option('--total-steps <n>', 'env steps of the run: shortcut for --set totalSteps=N (applied after every --set)');
}

/**
 * The overrides the options of {@link addOverrideOptions} name, in the order they apply: every
 * `--set` as given, then `--seed`, then `--total-steps` (so those win over a `--set` of the same
 * key). Their values are validated with the config (`--seed abc` is a schema issue naming `--seed abc`).
 */
export function overridesFrom(opts: OverrideFlags): Override[] {
  return [
    ...(opts.set ?? []),
    ...(opts.seed !== undefined ? [seedOverride(opts.seed)] : []),
    ...(opts.totalSteps !== undefined ? [totalStepsOverride(opts.totalSteps)] : []),
  ];
}
