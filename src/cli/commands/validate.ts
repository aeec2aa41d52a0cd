import type { Command } from 'commander';
import { formatIssue, loadConfig } from '../../config/validate.js';
import { reporting } from '../fail.js';
import { addOverrideOptions, overridesFrom, type OverrideFlags } from '../overrides.js';

/**
 * `sparse-rl validate FILE [--set PATH=VALUE]... [--seed S] [--total-steps N] [--print]`:
 * validates a config (with the overrides `train` would apply) against the schema composed from
 * its plugins, then the cross-field rules (`src/config/cross-field.ts`). Prints `FILE: valid` on
 * stdout and each warning as `warning: PATH: MESSAGE` on stderr; with `--print`, the validated
 * config (overrides applied, defaults filled in: what a run records as config.json) as JSON on
 * stdout instead. Exits 1 with every problem on stderr when invalid.
 */
export function register(program: Command): void {
  addOverrideOptions(
    program
      .command('validate')
      .description('validate a config file against the schema composed from the installed plugins, and the cross-field rules (warnings on stderr)')
      .argument('<file>', 'experiment config (JSON)'),
  )
    .option('--print', 'print the validated config (overrides applied, defaults filled in) as JSON instead of "FILE: valid"')
    .action(reporting(async (file: string, opts: OverrideFlags & { print?: boolean }) => {
      const overrides = overridesFrom(opts);
      const { config, warnings } = await loadConfig(file, { overrides });
      for (const w of warnings) process.stderr.write(`warning: ${formatIssue(w)}\n`);
      if (opts.print) {
        process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
        return;
      }
      const notes = [overrides.length > 0 ? `${overrides.length} override(s)` : '', warnings.length > 0 ? `${warnings.length} warning(s)` : ''].filter(Boolean);
      process.stdout.write(`${file}: valid${notes.length > 0 ? ` (${notes.join(', ')})` : ''}\n`);
    }));
}
