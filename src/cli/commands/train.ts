import { join } from 'node:path';
import type { Command } from 'commander';
import { formatIssue, loadConfig } from '../../config/validate.js';
import { RunContainer } from '../../plugin/run-container.js';
import { signalExitCode, train } from '../../train/trainer.js';
import { packageRoot } from '../../util/paths.js';
import { reporting } from '../fail.js';
import { addOverrideOptions, overridesFrom, type OverrideFlags } from '../overrides.js';

/** The config `sparse-rl train` runs when given none: the bundled quickstart. */
export const QUICKSTART_CONFIG = join(packageRoot(), 'configs', 'quickstart.json');

/**
 * `sparse-rl train [FILE] [--run-dir DIR]` validates, then trains into a new run directory;
 * `sparse-rl train --resume RUN_DIR` continues a stopped run from its latest checkpoint (its own
 * `config.json`). SIGINT / SIGTERM write a checkpoint and exit 130 / 143.
 */
export function register(program: Command): void {
  addOverrideOptions(
    program
      .command('train')
      .description('validate a config, then train; writes a run directory (with no file: trains the bundled configs/quickstart.json). --resume continues a stopped run exactly')
      .argument('[file]', 'experiment config (JSON); default: the bundled configs/quickstart.json (TD3, static ERK, InvertedPendulum-v5)'),
  )
    .option('--run-dir <dir>', 'write the run here instead of <output.dir>/<name>/<timestamp> (must not hold a run)')
    .option('--resume <run-dir>', "continue this run from its latest complete checkpoint, with the run's own config.json")
    .action(reporting(async (file: string | undefined, opts: OverrideFlags & { runDir?: string; resume?: string }) => {
      const overrides = overridesFrom(opts);
      if (opts.resume && (file !== undefined || opts.runDir || overrides.length > 0)) {
        throw new Error('--resume RUN_DIR continues that run exactly with its own config.json; give no config file, --run-dir, --set, --seed or --total-steps with it');
      }
      if (file === undefined && !opts.resume) process.stderr.write(`no config given: training the bundled quickstart ${QUICKSTART_CONFIG}\n`);
      const { config, registry, warnings } = await loadConfig(opts.resume ? join(opts.resume, 'config.json') : (file ?? QUICKSTART_CONFIG), { overrides });
      for (const w of warnings) process.stderr.write(`warning: ${formatIssue(w)}\n`);
      const result = await train(new RunContainer(config, registry), { runDir: opts.runDir, resume: opts.resume, handleSignals: true });
      process.stdout.write(
        `run ${result.runDir}\n${result.status === 'interrupted' ? `interrupted by ${result.signal} at step` : 'steps'} ${result.steps}, wall ${result.wallSeconds.toFixed(1)} s, last eval mean return ${result.lastEvalReturn?.toFixed(1) ?? '-'}\n`,
      );
      if (result.signal) process.exitCode = signalExitCode(result.signal);
    }));
}
