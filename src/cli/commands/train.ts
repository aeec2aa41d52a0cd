import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/validate.js';
import { RunContainer } from '../../plugin/run-container.js';
import { train } from '../../train/trainer.js';
import { packageRoot } from '../../util/paths.js';
import { reporting } from '../fail.js';

/** The config `sparse-rl train` runs when given none: the bundled quickstart. */
export const QUICKSTART_CONFIG = join(packageRoot(), 'configs', 'quickstart.json');

/** `sparse-rl train [FILE] [--run-dir DIR]`: validates, then trains into a run directory. */
export function register(program: Command): void {
  program
    .command('train')
    .description('validate a config, then train; writes a run directory (with no file: trains the bundled configs/quickstart.json)')
    .argument('[file]', 'experiment config (JSON); default: the bundled configs/quickstart.json (TD3, static ERK, InvertedPendulum-v5)')
    .option('--run-dir <dir>', 'write the run here instead of <output.dir>/<name>/<timestamp>')
    .action(reporting(async (file: string | undefined, opts: { runDir?: string }) => {
      if (file === undefined) process.stderr.write(`no config given: training the bundled quickstart ${QUICKSTART_CONFIG}\n`);
      const { config, registry } = await loadConfig(file ?? QUICKSTART_CONFIG);
      const result = await train(new RunContainer(config, registry), { runDir: opts.runDir });
      process.stdout.write(
        `run ${result.runDir}\nsteps ${result.steps}, wall ${result.wallSeconds.toFixed(1)} s, last eval mean return ${result.lastEvalReturn?.toFixed(1) ?? '-'}\n`,
      );
    }));
}
