import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { curveSpec, renderSvg, svgToPng, type CurveAxis } from './plots.js';
import { renderCsv, renderHtml, renderMarkdown, type Figure, type ReportContext } from './render.js';
import { findRunDirectories, isRunRecord, readRun, type ExcludedRun, type RunRecord } from './runs.js';
import { buildTable, learningCurves, type ReportTable, type TableOptions } from './table.js';

export { cumulativeTrainingFlops, findRunDirectories, isRunRecord, methodName, readMetricsJsonl, readRun } from './runs.js';
export type { EvaluationPoint, ExcludedRun, RunRecord } from './runs.js';
export { iqm, iqmWithCI, mean, meanWithCI, percentile, sampleStd, stratifiedBootstrapCI, trimmedMean } from './stats.js';
export type { BootstrapOptions, IntervalEstimate } from './stats.js';
export { buildTable, finalReturn, isDenseReference, learningCurves } from './table.js';
export type { AggregateRow, Curve, CurvePoint, DenseReference, GroupRow, ReportTable, SparseColumns, TableOptions } from './table.js';
export { CSV_COLUMNS, TABLE_HEADERS, renderCsv, renderHtml, renderMarkdown } from './render.js';
export { curveSpec, renderSvg, svgToPng } from './plots.js';

/** Options of `generateReport`. */
export interface ReportOptions extends TableOptions {
  /** Where to write; default `<first input>/report`. */
  readonly out?: string;
  /** Use runs of any status that have evaluations, not only completed ones. */
  readonly includeIncomplete?: boolean;
  /** The command line to print as "Reproduce:" (default: rebuilt from the options). */
  readonly command?: string;
}

/** What `generateReport` wrote and computed. */
export interface ReportResult {
  readonly outDir: string;
  readonly table: ReportTable;
  readonly runs: readonly RunRecord[];
  readonly excluded: readonly ExcludedRun[];
  /** Absolute paths of every file written. */
  readonly files: readonly string[];
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_');

/**
 * `sparse-rl report`: finds the run directories under `inputs` (recursively), keeps completed runs
 * (others are listed as excluded with their status), builds the paper table (`buildTable`: per
 * method × env the final return mean ± std, IQM with a stratified-bootstrap CI after Agarwal et al.
 * 2021, the dense-normalised score and the sparse columns; aggregate rows over envs) and writes to
 * `out`: `report.md`, `report.csv`, `report.html` (self-contained) and `figures/curves-<env>-steps`
 * / `-flops` `.svg` + `.png` (learning curves over env steps and cumulative training FLOPs).
 * @throws Error naming the directory when an input does not exist or holds no run directory, or
 *   when no run is left to report (listing why each was excluded); Error naming the file on unreadable run files
 */
export async function generateReport(inputs: readonly string[], options: ReportOptions = {}): Promise<ReportResult> {
  if (inputs.length === 0) throw new Error('no input directory given (a sweep directory or run directories)');
  const dirs = findRunDirectories(inputs);
  const runs: RunRecord[] = [];
  const excluded: ExcludedRun[] = [];
  for (const dir of dirs) {
    const r = readRun(dir, options.includeIncomplete ?? false);
    if (isRunRecord(r)) runs.push(r);
    else excluded.push(r);
  }
  if (runs.length === 0) {
    throw new Error(`no run to report under ${inputs.map((i) => resolve(i)).join(', ')}: ${excluded.map((e) => `${e.dir} (${e.reason})`).join('; ')}`);
  }
  const lastK = options.lastK ?? 3;
  const reps = options.reps ?? 50_000;
  const confidence = options.confidence ?? 0.95;
  const seed = options.seed ?? 0;
  const table = buildTable(runs, { ...options, lastK, reps, confidence, seed });
  const curves = learningCurves(table.rows, { ...options, confidence, seed });

  const outDir = resolve(options.out ?? join(inputs[0], 'report'));
  const figDir = join(outDir, 'figures');
  mkdirSync(figDir, { recursive: true });
  const files: string[] = [];
  const write = (file: string, data: string | Buffer) => {
    try {
      writeFileSync(file, data);
    } catch (e) {
      throw new Error(`writing ${file} failed: ${(e as Error).message}`, { cause: e });
    }
    files.push(file);
  };
  const figures: Figure[] = [];
  for (const envId of [...new Set(table.rows.map((r) => r.envId))]) {
    const envCurves = curves.filter((c) => c.envId === envId);
    for (const axis of ['steps', 'flops'] as CurveAxis[]) {
      if (axis === 'flops' && !envCurves.some((c) => c.points.some((p) => Number.isFinite(p.trainFlops)))) continue;
      const svg = await renderSvg(curveSpec(envId, envCurves, axis, confidence));
      const base = `figures/curves-${slug(envId)}-${axis}`;
      write(join(outDir, `${base}.svg`), svg);
      write(join(outDir, `${base}.png`), svgToPng(svg));
      figures.push({ envId, axis, title: `${envId}: eval/mean_return over ${axis === 'steps' ? 'environment steps' : 'cumulative training FLOPs'}`, svgFile: `${base}.svg`, pngFile: `${base}.png`, svg });
    }
  }
  const command = options.command ?? [
    'sparse-rl report', ...inputs, '--out', options.out ?? join(inputs[0], 'report'), '--last-k', String(lastK), '--reps', String(reps), '--confidence', String(confidence), '--seed', String(seed),
    ...(options.curveReps !== undefined ? ['--curve-reps', String(options.curveReps)] : []),
    ...(options.denseMethod ? ['--dense-method', options.denseMethod] : []), ...(options.includeIncomplete ? ['--include-incomplete'] : []),
  ].join(' ');
  const ctx: ReportContext = { inputs, excluded, lastK, reps, confidence, seed, command };
  write(join(outDir, 'report.md'), renderMarkdown(table, figures, ctx));
  write(join(outDir, 'report.csv'), renderCsv(table));
  write(join(outDir, 'report.html'), renderHtml(table, figures, ctx));
  return { outDir, table, runs, excluded, files };
}
