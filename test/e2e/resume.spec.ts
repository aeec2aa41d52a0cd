import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/train/safetensors.js';
import { packageRoot } from '../../src/util/paths.js';
import { merge, readJsonl, type Json } from '../helpers/recipe-run.js';

const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A recipe of configs/ shrunk to 3 000 env steps of HalfCheetah-v5 on 2 envs: checkpoints every 1 000 (steps 1000 and 3000 fall mid-episode). */
function shrunk(recipe: string, overrides: Json): Json {
  const base = JSON.parse(readFileSync(join(packageRoot(), 'configs', recipe), 'utf8')) as Json;
  delete base.$schema;
  return merge(base, merge({
    totalSteps: 3000, environment: { numEnvs: 2 }, evaluation: { interval: 1000, episodes: 1, seedOffset: 100 },
    checkpoint: { interval: 1000, keep: 5 }, output: { progress: 'none' },
    agent: { learningStarts: 400, batchSize: 32, hiddenSizes: [32, 32] },
  }, overrides));
}

function writeConfig(dir: string, config: Json): string {
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

function trainSync(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, 'train', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Starts `train`, waits until checkpoint `step-<afterStep>` is complete, waits `delayMs` more, SIGKILLs it.
 * @returns false when the run completed within the delay (nothing was killed)
 */
async function trainAndKill(args: string[], runDir: string, afterStep: number, delayMs: number): Promise<boolean> {
  const child = spawn(process.execPath, [cli, 'train', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const marker = join(runDir, 'checkpoints', `step-${String(afterStep).padStart(9, '0')}`, 'state.json');
  let done = false;
  void exited.then(() => (done = true));
  while (!existsSync(marker) && !done) await sleep(20);
  if (done) throw new Error(`train exited before checkpoint ${afterStep}:\n${stderr}`);
  await sleep(delayMs);
  if (done) return false;
  child.kill('SIGKILL');
  await exited;
  return true;
}

/** Every `eval/*` and `losses/*` value by step. */
function learningValues(runDir: string): Record<string, number>[] {
  return readJsonl(join(runDir, 'metrics.jsonl')).map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k === 'step' || k.startsWith('eval/') || k.startsWith('losses/') || k.startsWith('charts/')))).filter((r) => Object.keys(r).length > 1);
}

/** Final checkpoint tensors (weights, biases, masks, Adam moments) as raw bytes. */
function finalTensors(runDir: string, step: number): Map<string, Buffer> {
  const { tensors } = readSafetensors(join(runDir, 'checkpoints', `step-${String(step).padStart(9, '0')}`, 'model.safetensors'));
  return new Map([...tensors].map(([k, t]) => [k, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}

const cases: [string, string, Json][] = [
  ['TD3 + static ERK', 'static-erk-td3/halfcheetah-v5.json', {}],
  ['RLx2 (TD3, RigL topology updates, 3-step target, dynamic buffer)', 'rlx2-td3/halfcheetah-v5.json', {
    agent: { nStep: { delayIterations: 800 } },
    sparsifier: { topologyUpdate: { interval: 250, endStep: { actor: 1800, critic: 2400 } } },
    replayBuffer: { capacity: 5000, minSize: 300, checkInterval: 500, oldestK: 64, threshold: 0 },
  }],
  ['SAC (RLx2-SAC recipe)', 'rlx2-sac/halfcheetah-v5.json', {
    agent: { nStep: { delayIterations: 800 } },
    sparsifier: { topologyUpdate: { interval: 250, endStep: { actor: 2400, critic: 2400 } } },
    replayBuffer: { capacity: 5000, minSize: 300, checkInterval: 500, oldestK: 64, threshold: 0 },
  }],
];

describe('train --resume after SIGKILL is bit-identical to a run that never stopped (real MuJoCo HalfCheetah-v5 through the bridge)', () => {
  for (const [label, recipe, overrides] of cases) {
    it(label, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-resume-'));
      const config = writeConfig(dir, shrunk(recipe, overrides));
      const reference = join(dir, 'reference');
      const ref = trainSync([config, '--run-dir', reference]);
      expect(ref.status, ref.stderr).toBe(0);

      // kill at a random moment before the next checkpoint: within 80 % of the time the reference
      // took for 1 000 steps (its eval records' wall times)
      const evalWall = readJsonl(join(reference, 'metrics.jsonl')).filter((x) => 'eval/mean_return' in x).map((x) => x.wall_time);
      const per1000 = (evalWall[2] - evalWall[0]) / 2;
      const resumed = join(dir, 'resumed');
      const afterStep = 1000 + 1000 * Math.floor(Math.random() * 2);
      // The run may go faster than the reference did (the machine's load changes): when it
      // completes within the delay, start again with half the delay.
      let delayMs = Math.floor(Math.random() * 800 * per1000);
      while (!(await trainAndKill([config, '--run-dir', resumed], resumed, afterStep, delayMs))) {
        expect(delayMs, 'the run completed before it could be killed, even without delay').toBeGreaterThan(0);
        rmSync(resumed, { recursive: true, force: true });
        delayMs = Math.floor(delayMs / 2);
      }
      const killed = JSON.parse(readFileSync(join(resumed, 'metadata.json'), 'utf8'));
      expect(killed.status).toBe('running');
      const r = trainSync(['--resume', resumed]);
      expect(r.status, `${r.stderr} (killed ${delayMs} ms after checkpoint ${afterStep})`).toBe(0);
      expect(r.stderr).toContain('warning: taking over the stale lock');

      const meta = JSON.parse(readFileSync(join(resumed, 'metadata.json'), 'utf8'));
      expect(meta.status).toBe('completed');
      expect(meta.resumes).toHaveLength(1);
      expect(meta.resumes[0]).toMatchObject({ exact: true });
      expect(meta.resumes[0].fromStep).toBeGreaterThanOrEqual(afterStep);

      expect(learningValues(resumed)).toEqual(learningValues(reference));
      const [a, b] = [finalTensors(reference, 3000), finalTensors(resumed, 3000)];
      expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
      const differing = [...a.keys()].filter((k) => !a.get(k)!.equals(b.get(k)!));
      expect(differing).toEqual([]);
      expect([...a.keys()].some((k) => k.endsWith('.mask'))).toBe(true);
      expect([...a.keys()].some((k) => k.startsWith('optimizer.'))).toBe(true);
      // one CSV header; no temporary files left
      const csv = readFileSync(join(resumed, 'metrics.csv'), 'utf8').split('\n');
      expect(csv.filter((l) => l.startsWith('step,')).length).toBe(1);
      expect(readdirSync(join(resumed, 'checkpoints')).filter((f) => f.includes('.tmp'))).toEqual([]);
    });
  }
});

describe('train --resume where an environment cannot restore its state (Gymnasium Pendulum-v1, not MuJoCo)', () => {
  it('resets the envs with a seed derived from the run seed, finishes the run, and says what was lost in metadata.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-resume-fallback-'));
    const config = writeConfig(dir, merge(shrunk('static-erk-td3/halfcheetah-v5.json', {}), { environment: { id: 'Pendulum-v1', numEnvs: 1 }, totalSteps: 2000 }));
    const runDir = join(dir, 'run');
    await trainAndKill([config, '--run-dir', runDir], runDir, 1000, 0);
    const state = JSON.parse(readFileSync(join(runDir, 'checkpoints', 'step-000001000', 'state.json'), 'utf8'));
    expect(state.environments.train).toMatchObject({ saved: false });
    expect(state.environments.train.reason).toBeTruthy();
    expect(state.replayBuffer.saved).toBe(true);
    const r = trainSync(['--resume', runDir]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: resume: training envs reset with seed 7919012 \(.+\)/);
    const meta = JSON.parse(readFileSync(join(runDir, 'metadata.json'), 'utf8'));
    expect(meta.status).toBe('completed');
    expect(meta.resumes[0].exact).toBe(false);
    expect(meta.resumes[0].lost.join('\n')).toContain('training envs reset with seed 7919012');
    expect(meta.resumes[0].lost.join('\n')).toContain('evaluation env re-seeded with 101');
  });
});
