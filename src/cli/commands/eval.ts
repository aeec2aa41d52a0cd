import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/validate.js';
import { evaluatePolicy, findSavedPolicy } from '../../train/evaluate-policy.js';
import { writeJsonAtomic } from '../../train/run-directory.js';
import { compileCPolicy } from '../../export/c-runner.js';
import { loadOnnxPolicy } from '../../export/onnx.js';
import type { EnvPolicy } from '../../train/evaluator.js';
import { reporting } from '../fail.js';

/**
 * An exported policy for `eval --policy`: `*.onnx` runs in ONNX Runtime; `policy.c` (or a folder
 * holding it) is compiled with gcc -O2 and run as a child process.
 * @throws Error naming the file when it is neither
 */
async function loadExportedPolicy(path: string): Promise<{ act: EnvPolicy; file: string; close(): Promise<void> }> {
  const file = resolve(path);
  if (!existsSync(file)) throw new Error(`--policy ${path}: no such file`);
  if (file.endsWith('.onnx')) {
    const p = await loadOnnxPolicy(file);
    return { act: (o, n) => p.act(o, n), file, close: () => p.close() };
  }
  const dir = statSync(file).isDirectory() ? file : dirname(file);
  if (!existsSync(join(dir, 'policy.c'))) throw new Error(`--policy ${path}: expected a .onnx file, a policy.c or a folder holding policy.c (sparse-rl export --format onnx|c)`);
  const p = await compileCPolicy(dir);
  return { act: (o, n) => p.act(o, n), file: join(dir, 'policy.c'), close: () => p.close() };
}

const integer = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
};

/**
 * `sparse-rl eval RUN_DIR|CHECKPOINT_DIR [--episodes N] [--seed S] [--env ID] [--video DIR]`:
 * deterministic evaluation of a saved policy through the bridge; prints mean ± std over the
 * episodes and writes `eval.json` (into the checkpoint folder unless `--output`).
 */
export function register(program: Command): void {
  program
    .command('eval')
    .description("evaluate a saved policy (a run's latest checkpoint, or a checkpoint folder) deterministically; prints mean ± std and writes eval.json")
    .argument('<path>', 'a run directory (its latest checkpoint) or a checkpoint folder runs/…/checkpoints/step-…')
    .option('--episodes <n>', "episodes to run (default: the run's evaluation.episodes)", integer('--episodes'))
    .option('--seed <s>', "seed of the evaluation env's reset (default: the run's seed + evaluation.seedOffset, its evaluation seed)", integer('--seed'))
    .option('--env <id>', "Gymnasium env id to evaluate on instead of the run's (same observation and action sizes)")
    .option('--video <dir>', "record every episode as MP4 into this folder (Gymnasium RecordVideo; MuJoCo offscreen rendering: MUJOCO_GL=egl or osmesa)")
    .option('--output <file>', 'write the result here (default: <checkpoint>/eval.json)')
    .option('--policy <file>', 'evaluate an exported policy instead of the checkpoint: policy.onnx (ONNX Runtime) or policy.c / its folder (compiled with gcc -O2)')
    .action(reporting(async (path: string, opts: { episodes?: number; seed?: number; env?: string; video?: string; output?: string; policy?: string }) => {
      const saved = findSavedPolicy(path);
      const overrides = [
        ...(opts.env ? [{ set: `environment.id=${JSON.stringify(opts.env)}`, source: `--env ${opts.env}` }] : []),
        ...(opts.video ? [{ set: `environment.video.dir=${JSON.stringify(resolve(opts.video))}`, source: `--video ${opts.video}` }] : []),
      ];
      // no cross-field rules: evaluation builds no replay buffer and no training envs
      const { config, registry } = await loadConfig(join(saved.runDir, 'config.json'), { overrides, crossField: false });
      const episodes = opts.episodes ?? config.evaluation.episodes;
      if (episodes < 1) throw new Error('--episodes must be >= 1');
      const seed = opts.seed ?? config.seed + config.evaluation.seedOffset;
      process.stderr.write(`evaluating ${saved.checkpoint} on ${config.environment.id as string}: ${episodes} episode(s), seed ${seed}, deterministic policy\n`);
      const exported = opts.policy ? await loadExportedPolicy(opts.policy) : null;
      let result;
      try {
        result = await evaluatePolicy(config, registry, saved, { episodes, seed, videoDir: opts.video && resolve(opts.video), ...(exported ? { policy: exported } : {}) });
      } finally {
        await exported?.close();
      }
      const output = resolve(opts.output ?? (exported ? join(dirname(exported.file), 'eval.json') : join(saved.checkpoint, 'eval.json')));
      writeJsonAtomic(output, result);
      process.stdout.write(
        `${result.envId} step ${result.step}: mean return ${result.meanReturn.toFixed(2)} ± ${result.stdReturn.toFixed(2)} over ${result.episodes} episodes (lengths ${Math.min(...result.lengths)}–${Math.max(...result.lengths)})\n` +
          `wrote ${output}${result.videoDir ? `\nvideos in ${result.videoDir}` : ''}\n`,
      );
    }));
}
