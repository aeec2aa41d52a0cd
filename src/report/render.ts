import type { ExcludedRun } from './runs.js';
import type { IntervalEstimate } from './stats.js';
import type { AggregateRow, GroupRow, ReportTable } from './table.js';

/**
 * Writing the table as Markdown, CSV and a self-contained HTML page (docs/reports.md §2).
 */

/** One figure of the report, its files relative to the report directory. */
export interface Figure {
  readonly envId: string;
  readonly axis: 'steps' | 'flops';
  readonly title: string;
  readonly svgFile: string;
  readonly pngFile: string;
  /** The SVG document (inlined in the HTML page as a data: URI). */
  readonly svg: string;
}

const dash = '—';
const fin = (x: number) => Number.isFinite(x);
/** A return with one decimal. */
const ret = (x: number) => (fin(x) ? x.toFixed(1) : dash);
/** A fraction as a percentage with one decimal. */
const pct = (x: number) => (fin(x) ? `${(100 * x).toFixed(1)} %` : dash);
/** A ratio to dense with three decimals. */
const ratio = (x: number) => (fin(x) ? `${x.toFixed(3)}×` : dash);
const ci = (e: IntervalEstimate, f: (x: number) => string) => `${f(e.point)} [${f(e.lower)}, ${f(e.upper)}]`;

/** The table's column headers (Markdown and HTML). */
export const TABLE_HEADERS = [
  'Method', 'Env', 'Seeds', 'Final return (mean ± std)', 'IQM [95 % CI]', 'Normalised to dense: IQM [95 % CI]',
  'Actor sparsity', 'Critic sparsity', 'Size w/ targets', 'Train FLOPs (final)', 'Train FLOPs (avg)', 'Inference FLOPs', 'Compression (final)', 'Compression (avg)',
] as const;

/** The cells of one row, formatted as in the Markdown table (returns 1 decimal, ratios 3 decimals, sparsity and compression in %). */
export function rowCells(row: GroupRow): string[] {
  const s = row.sparse;
  return [
    row.isDenseReference ? `${row.method} (dense ref.)` : row.method, row.envId, String(row.runs.length),
    `${ret(row.mean)} ± ${ret(row.std)}`, ci(row.iqm, ret), row.normalised ? ci(row.normalised.iqm, (x) => x.toFixed(3)) : dash,
    pct(s.actorSparsity), pct(s.criticSparsity), ratio(s.sizeWithTargets), ratio(s.trainFlops), ratio(s.trainFlopsAverage), ratio(s.inferenceFlops),
    pct(s.compression), pct(s.compressionAverage),
  ];
}

/** The cells of one aggregate row (only the normalised IQM is defined across environments). */
export function aggregateCells(a: AggregateRow): string[] {
  return [a.method, `all ${a.envIds.length} envs`, String(a.runs), dash, dash, ci(a.normalisedIqm, (x) => x.toFixed(3)), ...new Array<string>(8).fill(dash)];
}

const mdEscape = (s: string) => s.replace(/\|/g, '\\|');

/** What the Markdown and HTML pages say about the report besides the table. */
export interface ReportContext {
  /** The input directories as given on the command line. */
  readonly inputs: readonly string[];
  readonly excluded: readonly ExcludedRun[];
  readonly lastK: number;
  readonly reps: number;
  readonly confidence: number;
  readonly seed: number;
  readonly command: string;
}

function methodText(ctx: ReportContext): string[] {
  const c = Math.round(ctx.confidence * 100);
  return [
    `Final return of a run: mean of its last ${ctx.lastK} evaluations (\`eval/mean_return\`). Mean ± sample standard deviation over seeds.`,
    `IQM: 25 % trimmed mean (scipy.stats.trim_mean), ${c} % percentile interval of a stratified bootstrap (${ctx.reps} resamples, seed ${ctx.seed}; Agarwal et al. 2021).`,
    'Normalised: final return / mean final return of the dense runs (sparsifier type "dense") of the same env. The aggregate rows give the IQM of all normalised runs of a method, bootstrap stratified over envs.',
    'Sparsity and compression in % (of weights); size and FLOPs as ratios to the same networks dense. Train FLOPs (avg) = cumulative training FLOPs over the run / dense.',
    'See docs/reports.md for every column.',
  ];
}

/** The report as Markdown: the table, notes, exclusions and links to the figures (relative paths). */
export function renderMarkdown(table: ReportTable, figures: readonly Figure[], ctx: ReportContext): string {
  const lines: string[] = ['# sparse-rl report', '', `Inputs: ${ctx.inputs.map((i) => `\`${i}\``).join(', ')}`, '', `Reproduce: \`${ctx.command}\``, ''];
  lines.push(`| ${TABLE_HEADERS.join(' | ')} |`, `| ${TABLE_HEADERS.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`);
  for (const row of table.rows) lines.push(`| ${rowCells(row).map(mdEscape).join(' | ')} |`);
  for (const a of table.aggregates) lines.push(`| ${aggregateCells(a).map(mdEscape).join(' | ')} |`);
  lines.push('', ...methodText(ctx).map((t) => `- ${t}`), '');
  if (table.denseReferences.length) {
    lines.push('## Dense references', '');
    for (const d of table.denseReferences) lines.push(`- ${d.envId}: mean final return ${d.mean.toFixed(1)} over ${d.runs} run(s) of ${d.methods.join(', ')}`);
    lines.push('');
  }
  if (table.notes.length) lines.push('## Notes', '', ...table.notes.map((n) => `- ${n}`), '');
  if (ctx.excluded.length) {
    lines.push('## Excluded runs', '', '| Run | Name | Status | Reason |', '| --- | --- | --- | --- |');
    for (const e of ctx.excluded) lines.push(`| ${mdEscape(e.dir)} | ${mdEscape(e.name)} | ${e.status} | ${mdEscape(e.reason)} |`);
    lines.push('');
  }
  lines.push('## Learning curves', '');
  for (const f of figures) lines.push(`### ${f.title}`, '', `![${f.title}](${f.svgFile})`, '', `PNG: [${f.pngFile}](${f.pngFile})`, '');
  return `${lines.join('\n')}`;
}

/** The CSV's columns, one row per method × env and one per aggregate (`env` = `all`). Full-precision numbers; empty where undefined. */
export const CSV_COLUMNS = [
  'method', 'env', 'n_seeds', 'seeds', 'dense_reference', 'final_return_mean', 'final_return_std', 'iqm', 'iqm_ci_lower', 'iqm_ci_upper',
  'normalised_mean', 'normalised_iqm', 'normalised_ci_lower', 'normalised_ci_upper',
  'actor_sparsity', 'critic_sparsity', 'size_with_targets_ratio', 'train_flops_ratio', 'train_flops_ratio_average', 'inference_flops_ratio',
  'compression_ratio', 'compression_average_ratio', 'total_train_flops',
] as const;

const num = (x: number | undefined) => (x !== undefined && fin(x) ? String(x) : '');
const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The table as CSV (header `CSV_COLUMNS`). */
export function renderCsv(table: ReportTable): string {
  const out = [CSV_COLUMNS.join(',')];
  for (const r of table.rows) {
    const s = r.sparse;
    out.push([
      r.method, r.envId, String(r.runs.length), r.runs.map((x) => x.seed).join(' '), String(r.isDenseReference), num(r.mean), num(r.std), num(r.iqm.point), num(r.iqm.lower), num(r.iqm.upper),
      num(r.normalised?.mean), num(r.normalised?.iqm.point), num(r.normalised?.iqm.lower), num(r.normalised?.iqm.upper),
      num(s.actorSparsity), num(s.criticSparsity), num(s.sizeWithTargets), num(s.trainFlops), num(s.trainFlopsAverage), num(s.inferenceFlops),
      num(s.compression), num(s.compressionAverage), num(s.totalTrainFlops),
    ].map(csvField).join(','));
  }
  for (const a of table.aggregates) {
    out.push([a.method, 'all', String(a.runs), '', 'false', '', '', '', '', '', '', num(a.normalisedIqm.point), num(a.normalisedIqm.lower), num(a.normalisedIqm.upper), ...new Array<string>(9).fill('')].map(csvField).join(','));
  }
  return `${out.join('\n')}\n`;
}

const html = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The report as one self-contained HTML page: the table, notes, exclusions and every figure as an SVG `data:` URI (no external URL). */
export function renderHtml(table: ReportTable, figures: readonly Figure[], ctx: ReportContext): string {
  const tr = (cells: readonly string[], tag = 'td') => `<tr>${cells.map((c, i) => `<${tag}${i >= 2 && tag === 'td' ? ' class="n"' : ''}>${html(c)}</${tag}>`).join('')}</tr>`;
  const body: string[] = [
    '<h1>sparse-rl report</h1>',
    `<p>Inputs: ${ctx.inputs.map((i) => `<code>${html(i)}</code>`).join(', ')}<br>Reproduce: <code>${html(ctx.command)}</code></p>`,
    `<table><thead>${tr(TABLE_HEADERS, 'th')}</thead><tbody>`,
    ...table.rows.map((r) => tr(rowCells(r))),
    ...table.aggregates.map((a) => tr(aggregateCells(a)).replace('<tr>', '<tr class="agg">')),
    '</tbody></table>',
    `<ul>${methodText(ctx).map((t) => `<li>${html(t)}</li>`).join('')}</ul>`,
  ];
  if (table.denseReferences.length) body.push('<h2>Dense references</h2><ul>', ...table.denseReferences.map((d) => `<li>${html(`${d.envId}: mean final return ${d.mean.toFixed(1)} over ${d.runs} run(s) of ${d.methods.join(', ')}`)}</li>`), '</ul>');
  if (table.notes.length) body.push('<h2>Notes</h2><ul>', ...table.notes.map((n) => `<li>${html(n)}</li>`), '</ul>');
  if (ctx.excluded.length) {
    body.push('<h2>Excluded runs</h2><table><thead>', tr(['Run', 'Name', 'Status', 'Reason'], 'th'), '</thead><tbody>');
    body.push(...ctx.excluded.map((e) => `<tr>${[e.dir, e.name, e.status, e.reason].map((c) => `<td>${html(c)}</td>`).join('')}</tr>`), '</tbody></table>');
  }
  body.push('<h2>Learning curves</h2>');
  for (const f of figures) {
    body.push(`<figure><img alt="${html(f.title)}" src="data:image/svg+xml;base64,${Buffer.from(f.svg).toString('base64')}"><figcaption>${html(f.title)}</figcaption></figure>`);
  }
  const style = [
    'body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;background:#fff}',
    'table{border-collapse:collapse;margin:12px 0;font-size:13px}',
    'th,td{border:1px solid #ccc;padding:4px 8px}th{background:#f0f3f7}td.n{text-align:right;white-space:nowrap}',
    'tr.agg td{background:#fbf6e9;font-weight:bold}figure{display:inline-block;margin:8px}img{max-width:100%}',
  ].join('\n');
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>sparse-rl report</title><style>${style}</style></head>\n<body>\n${body.join('\n')}\n</body></html>\n`;
}
