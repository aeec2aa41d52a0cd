import type { Command } from 'commander';
import { loadConfig } from '../../config/validate.js';
import { RunContainer } from '../../plugin/run-container.js';
import { train } from '../../train/trainer.js';
import { reporting } from '../fail.js';

/** `sparse-rl train FILE [--run-dir DIR]`: validates, then trains into a run directory. */
export function register(program: Command): void {
  program
    .command('train')
    .description('validate a config, then train; writes a run directory')
    .argument('<file>', 'experiment config (JSON)')
    .option('--run-dir <dir>', 'write the run here instead of <output.dir>/<name>/<timestamp>')
    .action(reporting(async (file: string, opts: { runDir?: string }) => {
      const { config, registry } = await loadConfig(file);
      const result = await train(new RunContainer(config, registry), { runDir: opts.runDir });
      process.stdout.write(
        `run ${result.runDir}\nsteps ${result.steps}, wall ${result.wallSeconds.toFixed(1)} s, last eval mean return ${result.lastEvalReturn?.toFixed(1) ?? '-'}\n`,
      );
    }));
}
