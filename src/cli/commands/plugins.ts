import type { Command } from 'commander';
import { PluginRegistry } from '../../plugin/plugin-registry.js';
import { reporting } from '../fail.js';

/** `sparse-rl plugins [-p MODULE…]`: lists the built-in plugins and the external ones given. */
export function register(program: Command): void {
  program
    .command('plugins')
    .description('list the built-in plugins and the external ones given with -p (checked as a run would load them)')
    .option('-p, --plugin <module...>', 'external plugins (paths or package names, resolved from the working directory)')
    .action(reporting(async (opts: { plugin?: string[] }) => {
      const registry = await PluginRegistry.load(opts.plugin ?? []);
      for (const m of registry.all()) {
        const s = registry.source(m.id);
        const origin = s.specifier === 'built-in' ? '' : `  [${s.specifier}${s.version ? `@${s.version}` : ''}: ${s.file}]`;
        process.stdout.write(`${m.id.padEnd(32)} ${m.description}${origin}\n`);
      }
    }));
}
