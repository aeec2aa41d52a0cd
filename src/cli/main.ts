#!/usr/bin/env node
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { ConfigError, formatIssue, loadConfig } from '../config/validate.js';
import { ConfigValidator } from '../config/validate.js';
import { buildExperimentContainer } from '../plugin/experiment-container.js';
import { PluginRegistry } from '../plugin/plugin-registry.js';
import { train } from '../train/trainer.js';
import { packageRoot } from '../util/paths.js';

/** Path of the composed schema written for editors. */
export const COMPOSED_SCHEMA = join(packageRoot(), 'schemas', 'sparse-rl.schema.json');

function fail(error: unknown): never {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.file}: ${error.issues.length} problem(s)\n${error.issues.map((i) => `  ${formatIssue(i)}`).join('\n')}\n`);
  } else {
    const e = error as Error & { details?: { stderrTail?: string; remoteTraceback?: string } };
    process.stderr.write(`error: ${e.message}\n`);
    if (e.details?.remoteTraceback && !e.message.includes(e.details.remoteTraceback.trim())) process.stderr.write(`${e.details.remoteTraceback}\n`);
    if (e.details?.stderrTail && !e.message.includes(e.details.stderrTail.trim())) process.stderr.write(`--- environment stderr (tail) ---\n${e.details.stderrTail}\n`);
  }
  process.exit(1);
}

const program = new Command('sparse-rl')
  .description('Sparse deep reinforcement learning: pluggable sparsifiers and agents, real MuJoCo through a Gymnasium bridge')
  .version('0.1.0');

program
  .command('validate')
  .description('validate a config file against the schema composed from the installed plugins')
  .argument('<file>', 'experiment config (JSON)')
  .action(async (file: string) => {
    try {
      await loadConfig(file);
      process.stdout.write(`${file}: valid\n`);
    } catch (e) {
      fail(e);
    }
  });

program
  .command('train')
  .description('validate a config, then train; writes a run directory')
  .argument('<file>', 'experiment config (JSON)')
  .option('--run-dir <dir>', 'write the run here instead of <output.dir>/<name>/<timestamp>')
  .action(async (file: string, opts: { runDir?: string }) => {
    try {
      const { config, registry } = await loadConfig(file);
      const container = buildExperimentContainer(config, registry);
      const result = await train(config, container, { runDir: opts.runDir });
      process.stdout.write(
        `run ${result.runDir}\nsteps ${result.steps}, wall ${result.wallSeconds.toFixed(1)} s, last eval mean return ${result.lastEvalReturn?.toFixed(1) ?? '-'}\n`,
      );
    } catch (e) {
      fail(e);
    }
  });

program
  .command('schema')
  .description('write the composed JSON schema (built-in plugins + those given) for editors')
  .option('-o, --out <file>', 'output file', COMPOSED_SCHEMA)
  .option('-p, --plugin <module...>', 'external plugins to include')
  .action(async (opts: { out: string; plugin?: string[] }) => {
    try {
      const validator = new ConfigValidator(await PluginRegistry.load(opts.plugin ?? []));
      writeFileSync(opts.out, `${JSON.stringify(validator.schema, null, 2)}\n`);
      process.stdout.write(`wrote ${opts.out}\n`);
    } catch (e) {
      fail(e);
    }
  });

program
  .command('plugins')
  .description('list installed plugins')
  .action(async () => {
    const registry = await PluginRegistry.load([]);
    for (const m of registry.all()) process.stdout.write(`${m.id.padEnd(28)} ${m.description}\n`);
  });

await program.parseAsync(process.argv);
