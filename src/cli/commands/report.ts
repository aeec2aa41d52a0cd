import { InvalidArgumentError, type Command } from 'commander';
import { reporting } from '../fail.js';

const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer, got ${v}`);
  return n;
};
const integer = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${flag} must be an integer, got ${v}`);
  return n;
};
const level = (v: string) => {
  const n = Number(v);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError(`--confidence must be in (0, 1), got ${v}`);
  return n;
};

interface ReportFlags {
  out?: string;
  lastK: number;
  reps: number;
  curveReps: number;
  confidence: number;
  seed: number;
  denseMethod?: string;
  includeIncomplete?: boolean;
}

/**
 * `sparse-rl report DIR… [--out DIR]`: the paper table (per method × env: final return mean ± std,
 * IQM with a stratified-bootstrap CI after Agarwal et al. 2021, score normalised to dense, sparsity,
 * size, FLOPs and compression ratios) as report.md / report.csv / report.html, and learning curves
 * over env steps and training FLOPs as SVG and PNG (src/report/, docs/reports.md).
 */
export function register(program: Command): void {
  program
    .command('report')
    .description('the paper table and learning curves of finished runs: final return mean ± std, IQM with a 95 % stratified-bootstrap CI, score normalised to dense, sparsity / size / FLOPs / compression; writes report.md, report.csv, report.html and figures/*.svg|png')
    .argument('<dirs...>', 'sweep directories or run directories (run directories are found recursively)')
    .option('--out <dir>', 'write the report here (default: <first DIR>/report)')
    .option('--last-k <k>', 'final return of a run = mean of its last K evaluations (eval/mean_return)', positiveInt('--last-k'), 3)
    .option('--reps <n>', 'bootstrap resamples of the IQM intervals', positiveInt('--reps'), 50_000)
    .option('--curve-reps <n>', 'bootstrap resamples per point of the learning-curve bands', positiveInt('--curve-reps'), 2_000)
    .option('--confidence <c>', 'confidence level of the intervals', level, 0.95)
    .option('--seed <s>', 'seed of the bootstrap (the report is reproducible)', integer('--seed'), 0)
    .option('--dense-method <method>', 'normalise to the runs of this method (default: every run whose sparsifier type is "dense")')
    .option('--include-incomplete', 'also use runs that are not completed (running, interrupted, failed) with their evaluations so far')
    .action(reporting(async (dirs: string[], opts: ReportFlags) => {
      // loaded on use: Vega and resvg are not needed by the other commands
      const { generateReport } = await import('../../report/index.js');
      const result = await generateReport(dirs, opts);
      for (const e of result.excluded) process.stderr.write(`excluded ${e.dir}: ${e.reason}\n`);
      for (const n of result.table.notes) process.stderr.write(`note: ${n}\n`);
      const groups = result.table.rows.length;
      process.stdout.write(`report ${result.outDir}\n${result.runs.length} run(s) in ${groups} method × env group(s), ${result.excluded.length} excluded; wrote report.md, report.csv, report.html and ${result.files.filter((f) => f.includes('/figures/')).length} figure files\n`);
    }));
}
