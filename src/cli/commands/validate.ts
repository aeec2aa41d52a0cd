import type { Command } from 'commander';
import { loadConfig } from '../../config/validate.js';
import { reporting } from '../fail.js';

/** `sparse-rl validate FILE`: validates a config against the schema composed from its plugins. */
export function register(program: Command): void {
  program
    .command('validate')
    .description('validate a config file against the schema composed from the installed plugins')
    .argument('<file>', 'experiment config (JSON)')
    .action(reporting(async (file: string) => {
      await loadConfig(file);
      process.stdout.write(`${file}: valid\n`);
    }));
}
