import { execFile, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/paths.js';

/**
 * `sparse-rl report` end to end on real runs: 2 methods (dense TD3, static-sparse TD3) × 2 envs
 * (InvertedPendulum-v5, InvertedDoublePendulum-v5) × 2 seeds, 2 000 env steps each through the
 * MuJoCo bridge, evaluated every 500 steps (4 evaluations), plus a copy of one run marked
 * `running` (a run still in progress). The table is recomputed here from the runs' metrics.jsonl.
 */
const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const run = promisify(execFile);
const ENVS = ['InvertedPendulum-v5', 'InvertedDoublePendulum-v5'];
const METHODS: Record<string, object> = { 'dense-td3': { type: 'dense' }, 'static-td3': { type: 'static', actorSparsity: 0.9, criticSparsity: 0.8 } };
const SEEDS = [1, 2];

let root: string;
let sweep: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'sparse-rl-report-'));
  sweep = join(root, 'sweep');
  const base = join(root, 'base.json');
  writeFileSync(base, JSON.stringify({
    name: 'base', seed: 1, totalSteps: 2000,
    environment: { type: 'gymnasium', id: ENVS[0] },
    agent: { type: 'td3', learningStarts: 500, batchSize: 64, hiddenSizes: [64, 64] },
    replayBuffer: { type: 'uniform', capacity: 10000 },
    evaluation: { interval: 500, episodes: 2 },
    checkpoint: { interval: 100000 },
    output: { progress: 'none' },
  }));
  for (const env of ENVS) {
    for (const [method, sparsifier] of Object.entries(METHODS)) {
      for (const seed of SEEDS) {
        await run(process.execPath, [cli, 'train', base, '--set', `name=${method}-${env.toLowerCase()}`, '--set', `environment.id=${env}`, '--set', `sparsifier=${JSON.stringify(sparsifier)}`, '--seed', String(seed), '--run-dir', join(sweep, env, `${method}-s${seed}`)]);
      }
    }
  }
  // a run still in progress: metadata says running (it must be excluded and listed)
  const inProgress = join(sweep, 'in-progress', 'r1');
  mkdirSync(join(sweep, 'in-progress'));
  cpSync(join(sweep, ENVS[0], 'static-td3-s1'), inProgress, { recursive: true });
  const meta = JSON.parse(readFileSync(join(inProgress, 'metadata.json'), 'utf8'));
  writeFileSync(join(inProgress, 'metadata.json'), JSON.stringify({ ...meta, status: 'running' }));
}, 180_000);

const readJsonl = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
const iqm = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const cut = Math.floor(s.length / 4);
  const kept = s.slice(cut, s.length - cut);
  return kept.reduce((a, b) => a + b, 0) / kept.length;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));

/** Final return of a run dir recomputed from its metrics.jsonl: mean of the last 3 eval/mean_return. */
const finalReturn = (dir: string) => mean(readJsonl(join(dir, 'metrics.jsonl')).filter((r) => 'eval/mean_return' in r).slice(-3).map((r) => r['eval/mean_return']));

function readCsv(file: string): Record<string, string>[] {
  const [header, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  const cols = header.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
}

describe('sparse-rl report (end to end on real runs)', () => {
  it('writes report.md, report.csv, SVG + PNG curves and report.html; the table matches an independent recomputation', async () => {
    const out = join(root, 'report-out');
    const { stdout, stderr } = await run(process.execPath, [cli, 'report', sweep, '--out', out, '--reps', '20000']);
    expect(stdout).toContain(`report ${out}`);
    expect(stdout).toContain('8 run(s) in 4 method × env group(s), 1 excluded');
    expect(stderr).toContain(join(sweep, 'in-progress', 'r1'));
    for (const f of ['report.md', 'report.csv', 'report.html']) expect(existsSync(join(out, f)), f).toBe(true);
    const figures = readdirSync(join(out, 'figures')).sort();
    for (const env of ENVS) for (const axis of ['steps', 'flops']) for (const ext of ['svg', 'png']) expect(figures).toContain(`curves-${env}-${axis}.${ext}`);
    for (const f of figures.filter((x) => x.endsWith('.png'))) expect(readFileSync(join(out, 'figures', f)).subarray(1, 4).toString()).toBe('PNG');
    for (const f of figures.filter((x) => x.endsWith('.svg'))) expect(readFileSync(join(out, 'figures', f), 'utf8')).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);

    const csv = readCsv(join(out, 'report.csv'));
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    const normalised: Record<string, number[][]> = {};
    for (const env of ENVS) {
      const denseMean = mean(SEEDS.map((s) => finalReturn(join(sweep, env, `dense-td3-s${s}`))));
      for (const method of Object.keys(METHODS)) {
        const finals = SEEDS.map((s) => finalReturn(join(sweep, env, `${method}-s${s}`)));
        const row = csv.find((r) => r.method === method && r.env === env)!;
        expect(row, `${method} ${env}`).toBeDefined();
        expect(Number(row.n_seeds)).toBe(2);
        expect(Number(row.final_return_mean)).toBeCloseTo(mean(finals), 9);
        expect(Number(row.final_return_std)).toBeCloseTo(std(finals), 9);
        expect(Number(row.iqm)).toBeCloseTo(iqm(finals), 9);
        expect(Number(row.iqm_ci_lower)).toBeLessThanOrEqual(Number(row.iqm) + 1e-9);
        expect(Number(row.iqm_ci_upper)).toBeGreaterThanOrEqual(Number(row.iqm) - 1e-9);
        expect(Number(row.normalised_iqm)).toBeCloseTo(iqm(finals.map((x) => x / denseMean)), 9);
        (normalised[method] ??= []).push(finals.map((x) => x / denseMean));
        const summary = JSON.parse(readFileSync(join(sweep, env, `${method}-s1`, 'summary.json'), 'utf8'));
        const summary2 = JSON.parse(readFileSync(join(sweep, env, `${method}-s2`, 'summary.json'), 'utf8'));
        expect(Number(row.actor_sparsity)).toBeCloseTo((summary.finalSparsity['sparsity/actor'] + summary2.finalSparsity['sparsity/actor']) / 2, 12);
        expect(Number(row.train_flops_ratio)).toBeCloseTo((summary.flops['flops/train_ratio'] + summary2.flops['flops/train_ratio']) / 2, 12);
        expect(Number(row.compression_average_ratio)).toBeCloseTo((summary.flops['compression/average_ratio'] + summary2.flops['compression/average_ratio']) / 2, 12);
        // the Markdown row shows the same numbers
        const label = method === 'dense-td3' ? 'dense-td3 (dense ref.)' : method;
        expect(md).toContain(`| ${label} | ${env} | 2 | ${mean(finals).toFixed(1)} ± ${std(finals).toFixed(1)} | ${iqm(finals).toFixed(1)} [`);
      }
    }
    expect(Number(csv.find((r) => r.method === 'static-td3' && r.env === ENVS[0])!.actor_sparsity)).toBeCloseTo(0.9, 2);
    expect(Number(csv.find((r) => r.method === 'dense-td3' && r.env === ENVS[0])!.train_flops_ratio)).toBe(1);
    // aggregate rows: IQM of all normalised runs of a method over both envs
    for (const method of Object.keys(METHODS)) {
      const agg = csv.find((r) => r.method === method && r.env === 'all')!;
      expect(Number(agg.n_seeds)).toBe(4);
      expect(Number(agg.normalised_iqm)).toBeCloseTo(iqm(normalised[method].flat()), 9);
      expect(md).toContain(`| ${method} | all 2 envs | 4 |`);
    }
    expect(md).toMatch(/## Excluded runs[\s\S]*in-progress\/r1 \| static-td3-invertedpendulum-v5 \| running \|/);
    expect(md).toContain('![InvertedPendulum-v5: eval/mean_return over cumulative training FLOPs](figures/curves-InvertedPendulum-v5-flops.svg)');

    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//);
    expect(html.match(/<img [^>]*src="data:image\/svg\+xml;base64,/g)).toHaveLength(4);

    // same seed, same report; the default output folder is <first DIR>/report
    await run(process.execPath, [cli, 'report', sweep, '--reps', '20000']);
    expect(readFileSync(join(sweep, 'report', 'report.csv'), 'utf8')).toBe(readFileSync(join(out, 'report.csv'), 'utf8'));
  }, 120_000);

  it('renders report.html in headless Chromium to a non-blank page with the figures drawn', async () => {
    const out = join(root, 'report-out');
    if (!existsSync(join(out, 'report.html'))) await run(process.execPath, [cli, 'report', sweep, '--out', out, '--reps', '2000']);
    const probe = spawnSync('chromium', ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) throw new Error('chromium is not installed: this test renders report.html in headless Chromium; install the Debian package `chromium` (apt-get install -y chromium)');
    const shot = join(root, 'screenshot.png');
    await run('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${join(root, 'chromium-profile')}`, `--screenshot=${shot}`, '--window-size=1400,2400', `file://${join(out, 'report.html')}`], { timeout: 90_000 });
    const png = PNG.sync.read(readFileSync(shot));
    expect(png.width).toBe(1400);
    const colours = new Set<number>();
    let nonWhite = 0;
    let plotBlue = 0; // Vega's first category colour #4c78a8: the learning curves were drawn
    for (let i = 0; i < png.data.length; i += 4) {
      const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
      colours.add((r << 16) | (g << 8) | b);
      if (r < 245 || g < 245 || b < 245) nonWhite++;
      if (Math.abs(r - 0x4c) < 12 && Math.abs(g - 0x78) < 12 && Math.abs(b - 0xa8) < 12) plotBlue++;
    }
    const pixels = png.width * png.height;
    expect(colours.size).toBeGreaterThan(100);
    expect(nonWhite / pixels).toBeGreaterThan(0.02);
    expect(plotBlue).toBeGreaterThan(200);
  }, 120_000);

  it('fails with an error naming the directory when it holds no run directory', async () => {
    const empty = join(root, 'empty');
    mkdirSync(join(empty, 'sub'), { recursive: true });
    const r = spawnSync(process.execPath, [cli, 'report', empty], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${empty} holds no run directory`);
    const missing = spawnSync(process.execPath, [cli, 'report', join(root, 'nope')], { encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`${join(root, 'nope')} does not exist`);
    const onlyRunning = spawnSync(process.execPath, [cli, 'report', join(sweep, 'in-progress')], { encoding: 'utf8' });
    expect(onlyRunning.status).toBe(1);
    expect(onlyRunning.stderr).toMatch(/no run to report .*r1 \(status running/);
    const withIncomplete = spawnSync(process.execPath, [cli, 'report', join(sweep, 'in-progress'), '--include-incomplete', '--reps', '100', '--out', join(root, 'inc')], { encoding: 'utf8' });
    expect(withIncomplete.status, withIncomplete.stderr).toBe(0);
    expect(withIncomplete.stdout).toContain('1 run(s) in 1 method × env group(s), 0 excluded');
  });
});
