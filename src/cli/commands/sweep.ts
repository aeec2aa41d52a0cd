import type { Command } from 'commander';
import { runSweep } from '../../sweep/run-sweep.js';
import { signalExitCode } from '../../train/trainer.js';
import { reporting } from '../fail.js';

/** The parsed options of `sparse-rl sweep`. */
interface SweepFlags {
  readonly workers?: string;
  readonly ray?: string;
  readonly storage?: string;
  readonly maxRetries?: string;
  readonly threadsPerRun?: string;
  readonly python?: string;
  readonly progress?: 'auto' | 'bar' | 'lines' | 'none';
  readonly dryRun?: boolean;
  readonly workerNode?: string;
  readonly workerCli?: string;
}

function count(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new Error(`${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return Number(value);
}

/**
 * `sparse-rl sweep SWEEP.json [--workers N | --ray ADDRESS] [--storage DIR]`: validates every
 * run of the sweep's grid, then trains them into `<storage>/<sweep name>/runs/<run>/`, skipping
 * completed runs and resuming interrupted ones (docs/sweeps.md). Exits 1 when a run failed for
 * good, 130 / 143 when stopped by SIGINT / SIGTERM (the trainers checkpoint first).
 */
export function register(program: Command): void {
  program
    .command('sweep')
    .description('run a grid of recipes × envs × seeds (a sweep file, schemas/sweep.schema.json) locally or on Ray; re-running skips completed runs and resumes interrupted ones')
    .argument('<file>', 'sweep file (JSON)')
    .option('--workers <n>', 'local runs at a time, each a separate process with runtime.threads = max(1, floor(cores / N)) unless the sweep sets it', '1')
    .option('--ray <address>', 'submit each run as a Ray task to this cluster (host:port of the head, or auto); needs the bridge\'s ray extra')
    .option('--storage <dir>', 'root of the sweep directory (default: the sweep\'s "output", runs/sweeps); with --ray, storage every worker sees at the same path')
    .option('--max-retries <n>', 'retries of a failed or preempted run, each resuming from its last checkpoint (default: the sweep\'s maxRetries, 2)')
    .option('--threads-per-run <n>', 'runtime.threads of each run unless the sweep sets it (with --ray also the CPUs each task asks for)')
    .option('--python <path>', 'Python of the Ray driver (default $SPARSE_RL_PYTHON or .venv/bin/python)')
    .option('--worker-node <path>', 'with --ray: the node executable on the workers (default: this one\'s path)')
    .option('--worker-cli <path>', 'with --ray: dist/src/cli/main.js on the workers (default: this checkout\'s path)')
    .option('--progress <mode>', 'auto, bar, lines or none', 'auto')
    .option('--dry-run', 'validate and list the runs with what each needs; start nothing')
    .action(reporting(async (file: string, opts: SweepFlags) => {
      if (opts.ray !== undefined && opts.workers !== '1' && opts.workers !== undefined) throw new Error('--workers runs locally; with --ray the cluster schedules the runs (give one of them)');
      if (opts.progress && !['auto', 'bar', 'lines', 'none'].includes(opts.progress)) throw new Error(`--progress must be auto, bar, lines or none, got ${JSON.stringify(opts.progress)}`);
      const result = await runSweep(file, {
        workers: count('--workers', opts.workers, 1),
        ray: opts.ray,
        storage: opts.storage,
        maxRetries: count('--max-retries', opts.maxRetries, 0),
        threadsPerRun: count('--threads-per-run', opts.threadsPerRun, 1),
        python: opts.python,
        progress: opts.progress,
        dryRun: opts.dryRun,
        node: opts.workerNode,
        cli: opts.workerCli,
      });
      if (!result.manifest) return; // dry run
      process.stdout.write(`sweep ${result.dir} ${result.manifest.status}: ${result.manifest.counts.completed}/${result.manifest.runs.length} runs completed\n`);
      if (result.signal) process.exitCode = signalExitCode(result.signal);
      else if (result.manifest.status !== 'completed') process.exitCode = 1;
    }));
}
