/**
 * Learning check (outside CI): trains recipes for several seeds at one equal budget and prints
 * final returns (mean ± std over seeds of each run's mean of its last 3 evaluations) and the FLOPs
 * summary. A recipe written for `totalSteps` T is shrunk to `--steps` S by scaling its schedule
 * constants by S/T (every integer option of the sparsifier, replay buffer and n-step target whose
 * name says interval, step, delay, warm-up, ramp end, minimum size or stop; GST's `cooldown` counts
 * evaluations and is kept), so every method keeps the same schedule *shape* as in its paper. The
 * table also gives the compression ratio (1 − stored weights / dense weights of the online
 * networks) at the end and averaged over training iterations (GST's headline metric), mean over seeds.
 *
 * Usage: node dist/bench/learning-check.js --steps 60000 --learning-starts 5000 --seeds 1,2,3 \
 *          configs/dense-td3/halfcheetah-v5.json configs/rlx2-td3/halfcheetah-v5.json
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Command } from 'commander';
import { loadConfig, readConfigFile } from '../src/config/validate.js';
import { RunContainer } from '../src/plugin/run-container.js';
import { train } from '../src/train/trainer.js';

const program = new Command()
  .argument('<recipes...>')
  .option('--steps <n>', 'env steps per run', '60000')
  .option('--learning-starts <n>', 'random warm-up steps', '5000')
  .option('--seeds <list>', 'comma-separated seeds', '1,2,3')
  .option('--eval-interval <n>', 'env steps between evaluations', '5000')
  .option('--eval-episodes <n>', 'episodes per evaluation', '5')
  .parse();
const o = program.opts<{ steps: string; learningStarts: string; seeds: string; evalInterval: string; evalEpisodes: string }>();
const steps = Number(o.steps);
const seeds = o.seeds.split(',').map(Number);

type Json = Record<string, any>;
function shrink(raw: Json): Json {
  const c = structuredClone(raw);
  const f = steps / (c.totalSteps ?? steps);
  // every integer schedule constant (intervals, start/end steps, delays, warm-ups, cooldowns,
  // minimum sizes) of the method's sections is scaled by f
  const schedule = /(interval|step|delay|warm|rampend|minsize|stopat)/i;
  const scaleAll = (obj: unknown, inherited = false) => {
    if (!obj || typeof obj !== 'object') return;
    for (const [k, v] of Object.entries(obj as Json)) {
      const hit = inherited || schedule.test(k); // e.g. endStep: { actor, critic }
      if (typeof v === 'number' && Number.isInteger(v) && hit) (obj as Json)[k] = Math.max(1, Math.round(v * f));
      else if (v && typeof v === 'object') scaleAll(v, hit);
    }
  };
  scaleAll(c.sparsifier);
  scaleAll(c.replayBuffer);
  scaleAll(c.agent?.nStep);
  c.totalSteps = steps;
  c.agent = { ...c.agent, learningStarts: Number(o.learningStarts) };
  c.evaluation = { ...c.evaluation, interval: Number(o.evalInterval), episodes: Number(o.evalEpisodes) };
  c.checkpoint = { interval: steps };
  c.output = { progress: 'none' };
  delete c.$schema;
  return c;
}

const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-learning-'));
const rows: string[] = [];
for (const recipe of program.args) {
  const finals: number[] = [];
  const compression: number[][] = [];
  let summary: Json = {};
  for (const seed of seeds) {
    const cfg = { ...shrink(readConfigFile(recipe) as Json), seed };
    const file = join(dir, `${basename(dirname(recipe))}-${basename(recipe, '.json')}-s${seed}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    const { config, registry } = await loadConfig(file);
    const runDir = file.replace(/\.json$/, '');
    const t0 = Date.now();
    await train(new RunContainer(config, registry), { runDir });
    const evals = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => 'eval/mean_return' in m);
    const last = evals.slice(-3).map((m) => m['eval/mean_return'] as number);
    finals.push(last.reduce((a, b) => a + b, 0) / last.length);
    summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
    compression.push([summary.flops?.['compression/ratio'], summary.flops?.['compression/average_ratio']]);
    console.error(`${recipe} seed ${seed}: last-3 eval mean ${finals.at(-1)!.toFixed(1)} (${((Date.now() - t0) / 1000).toFixed(0)} s) ${runDir}`);
  }
  const mean = finals.reduce((a, b) => a + b, 0) / finals.length;
  const std = Math.sqrt(finals.reduce((a, b) => a + (b - mean) ** 2, 0) / finals.length);
  const fl = (summary.flops ?? {}) as Json;
  const fmt = (x: unknown) => (typeof x === 'number' ? x.toFixed(3) : '-');
  const meanOf = (k: number) => compression.reduce((a, c) => a + c[k], 0) / compression.length;
  rows.push(`| ${recipe} | ${mean.toFixed(1)} ± ${std.toFixed(1)} | ${finals.map((x) => x.toFixed(0)).join(', ')} | ${fmt(summary.finalSparsity?.['sparsity/actor'])} / ${fmt(summary.finalSparsity?.['sparsity/critic'])} | ${fmt(fl['flops/params_with_targets_ratio'])} | ${fmt(fl['flops/train_ratio'])} | ${fmt(fl['flops/inference_ratio'])} | ${fmt(meanOf(0))} | ${fmt(meanOf(1))} |`);
}
console.log(`\n${steps} env steps (warm-up ${o.learningStarts}), seeds ${seeds.join(', ')}; final = mean of each run's last 3 evaluations (${o.evalEpisodes} episodes each)`);
console.log('| recipe | final return mean ± std | per seed | sparsity actor / critic | size (with targets) | train FLOPs | inference FLOPs | compression final | compression average |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
