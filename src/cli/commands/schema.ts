import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigValidator } from '../../config/validate.js';
import { PluginRegistry } from '../../plugin/plugin-registry.js';
import { packageRoot } from '../../util/paths.js';
import { reporting } from '../fail.js';

/** Path of the composed schema written for editors. */
export const COMPOSED_SCHEMA = join(packageRoot(), 'schemas', 'sparse-rl.schema.json');

/** `sparse-rl schema [-o FILE] [-p MODULE…]`: writes the composed JSON schema. */
export function register(program: Command): void {
  program
    .command('schema')
    .description('write the composed JSON schema (built-in plugins + those given) for editors')
    .option('-o, --out <file>', 'output file', COMPOSED_SCHEMA)
    .option('-p, --plugin <module...>', 'external plugins to include (paths or package names)')
    .action(reporting(async (opts: { out: string; plugin?: string[] }) => {
      const validator = new ConfigValidator(await PluginRegistry.load(opts.plugin ?? []));
      writeFileSync(opts.out, `${JSON.stringify(validator.schema, null, 2)}\n`);
      process.stdout.write(`wrote ${opts.out}\n`);
    }));
}
