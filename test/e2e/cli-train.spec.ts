import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/train/safetensors.js';
import { defaultPython, packageRoot } from '../../src/util/paths.js';

const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

function writeConfig(dir: string, overrides: Record<string, unknown> = {}): string {
  const config = {
    name: 'e2e',
    seed: 7,
    totalSteps: 600,
    environment: { type: 'gymnasium', id: 'InvertedPendulum-v5' },
    agent: { type: 'td3', learningStarts: 200, batchSize: 32, hiddenSizes: [32, 32] },
    sparsifier: { type: 'static', actorSparsity: 0.8, criticSparsity: 0.8 },
    replayBuffer: { type: 'uniform', capacity: 10000 },
    evaluation: { interval: 300, episodes: 2 },
    checkpoint: { interval: 300, keep: 5 },
    output: { progress: 'lines' },
    ...overrides,
  };
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

const readJsonl = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

describe('sparse-rl train (end to end, real MuJoCo through the bridge)', () => {
  it('trains and writes a complete run directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-e2e-'));
    const runDir = join(dir, 'run');
    const out = execFileSync(process.execPath, [cli, 'train', writeConfig(dir), '--run-dir', runDir], { encoding: 'utf8' });
    expect(out).toContain('steps 600');

    const config = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
    expect(config.agent).toMatchObject({ type: 'td3', gamma: 0.99, tau: 0.005, batchSize: 32 }); // defaults applied
    const meta = JSON.parse(readFileSync(join(runDir, 'metadata.json'), 'utf8'));
    expect(meta.status).toBe('completed');
    expect(meta.seeds).toEqual({ run: 7, trainEnv: 7, evalEnv: 107 });
    expect(meta.versions.node).toBe(process.version);
    expect(meta.engine).toMatch(/native|tfjs/);
    expect(Object.keys(meta.environment.versions)).toEqual(expect.arrayContaining(['python', 'gymnasium', 'mujoco']));

    const records = readJsonl(join(runDir, 'metrics.jsonl'));
    const evals = records.filter((r) => 'eval/mean_return' in r);
    expect(evals.map((r) => r.step)).toEqual([0, 300, 600]);
    expect(records.some((r) => 'charts/episodic_return' in r)).toBe(true);
    expect(evals[1]['sparsity/actor']).toBeGreaterThan(0.79);
    const csv = readFileSync(join(runDir, 'metrics.csv'), 'utf8').split('\n');
    expect(csv[0]).toBe('step,wall_time,key,value');
    expect(csv.some((l) => /^600,[\d.]+,eval\/mean_return,/.test(l))).toBe(true);

    const ckRoot = join(runDir, 'checkpoints');
    expect(readFileSync(join(ckRoot, 'latest'), 'utf8')).toBe('step-000000600');
    expect(readdirSync(ckRoot).filter((f) => f.startsWith('step-')).sort()).toEqual(['step-000000300', 'step-000000600']);
    const { tensors, metadata } = readSafetensors(join(ckRoot, 'step-000000600', 'model.safetensors'));
    expect(metadata.step).toBe('600');
    for (const net of ['actor', 'actorTarget', 'critic1', 'critic2', 'critic1Target', 'critic2Target']) {
      expect(tensors.has(`${net}.l1.weight`)).toBe(true);
    }
    // masked weights are zero in the online and target networks
    for (const name of ['actor.l2', 'actorTarget.l2', 'critic1.l2', 'critic2Target.l2']) {
      const w = tensors.get(`${name}.weight`)!.data;
      const m = tensors.get(`${name}.mask`)!.data;
      let zerosWhereMasked = true;
      for (let i = 0; i < w.length; i++) if (m[i] === 0 && w[i] !== 0) zerosWhereMasked = false;
      expect(zerosWhereMasked).toBe(true);
    }
    expect(tensors.has('optimizer.actor.l1.weight.m')).toBe(true);
    const state = JSON.parse(readFileSync(join(ckRoot, 'step-000000600', 'state.json'), 'utf8'));
    expect(state.step).toBe(600);
    const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
    expect(summary.steps).toBe(600);

    // the checkpoint format is readable from Python with plain numpy
    const py = spawnSync(defaultPython(), ['-c', `
import json, struct, sys, numpy as np
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
h = json.loads(raw[8:8 + n])
e = h['actor.l1.weight']; a, b = e['data_offsets']
w = np.frombuffer(raw[8 + n + a:8 + n + b], dtype='<f4').reshape(e['shape'])
print(w.shape[0], w.shape[1])
`, join(ckRoot, 'step-000000600', 'model.safetensors')], { encoding: 'utf8' });
    expect(py.stdout.trim()).toBe('32 4');
  });

  it('validate prints every problem with its path and exits non-zero', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-e2e-'));
    const file = writeConfig(dir, { seed: -3, agent: { type: 'td4' } });
    const r = spawnSync(process.execPath, [cli, 'validate', file], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('seed: must be >= 0, got -3');
    expect(r.stderr).toContain('agent.type: unknown agent type; installed: sac, td3');
  });

  it('an unknown env id fails with Gymnasium’s own message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-e2e-'));
    const file = writeConfig(dir, { environment: { type: 'gymnasium', id: 'NoSuchEnv-v9' } });
    const r = spawnSync(process.execPath, [cli, 'train', file, '--run-dir', join(dir, 'run')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Environment `?NoSuchEnv`? doesn't exist/);
  });

  it('a killed Python child stops the run with its stderr tail; metrics and last checkpoint stay readable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-e2e-'));
    const runDir = join(dir, 'run');
    const file = writeConfig(dir, { totalSteps: 1_000_000, checkpoint: { interval: 250, keep: 2 }, evaluation: { interval: 100000, episodes: 1 } });
    const child = spawn(process.execPath, [cli, 'train', file, '--run-dir', runDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    // wait until a checkpoint beyond the warm-up exists, then SIGKILL the bridge processes
    const deadline = Date.now() + 90_000;
    while (!existsSync(join(runDir, 'checkpoints', 'latest')) || readFileSync(join(runDir, 'checkpoints', 'latest'), 'utf8') < 'step-000000500') {
      if (Date.now() > deadline) throw new Error(`no checkpoint appeared; stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const pids = execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).trim().split('\n').map(Number);
    expect(pids.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const code = await exited;
    expect(Date.now() - killedAt).toBeLessThan(20_000);
    expect(code).toBe(1);
    expect(stderr).toMatch(/stderr/i);
    const meta = JSON.parse(readFileSync(join(runDir, 'metadata.json'), 'utf8'));
    expect(meta.status).toBe('failed');
    expect(meta.error.message).toBeTruthy();
    const records = readJsonl(join(runDir, 'metrics.jsonl')); // every line parses
    expect(records.length).toBeGreaterThan(0);
    const latest = readFileSync(join(runDir, 'checkpoints', 'latest'), 'utf8');
    const { tensors } = readSafetensors(join(runDir, 'checkpoints', latest, 'model.safetensors'));
    expect(tensors.get('actor.l1.weight')!.data.length).toBe(4 * 32);
    const state = JSON.parse(readFileSync(join(runDir, 'checkpoints', latest, 'state.json'), 'utf8'));
    expect(state.step).toBeGreaterThanOrEqual(500);
  });

  it('--set / --seed / --total-steps override the file, are validated like it (errors name the --set) and land in config.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-set-'));
    const file = writeConfig(dir);
    const runDir = join(dir, 'run');
    const ok = spawnSync(process.execPath, [cli, 'train', file, '--run-dir', runDir, '--set', 'agent.batchSize=16', '--set', 'sparsifier.actorSparsity=0.95', '--seed', '3', '--total-steps', '400'], { encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ seed: 3, totalSteps: 400, agent: { batchSize: 16 }, sparsifier: { actorSparsity: 0.95 } });
    expect(JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')).steps).toBe(400);

    const bad = spawnSync(process.execPath, [cli, 'train', file, '--run-dir', join(dir, 'bad'), '--set', 'agent.batchSize=abc'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--set agent.batchSize=abc: agent.batchSize: must be integer');
    const path = spawnSync(process.execPath, [cli, 'train', file, '--run-dir', join(dir, 'bad'), '--set', 'seed.x=1'], { encoding: 'utf8' });
    expect(path.status).toBe(1);
    expect(path.stderr).toContain('--set seed.x=1');
    expect(existsSync(join(dir, 'bad'))).toBe(false); // nothing was started
  });

  it('eval RUN_DIR evaluates the saved policy deterministically (same seed, same result) and writes eval.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-eval-'));
    const runDir = join(dir, 'run');
    expect(spawnSync(process.execPath, [cli, 'train', writeConfig(dir), '--run-dir', runDir], { encoding: 'utf8' }).status).toBe(0);
    const evalOnce = (args: string[]) => spawnSync(process.execPath, [cli, 'eval', ...args], { encoding: 'utf8' });
    const a = evalOnce([runDir, '--episodes', '3', '--seed', '11']);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/InvertedPendulum-v5 step 600: mean return [\d.]+ ± [\d.]+ over 3 episodes/);
    const file = join(runDir, 'checkpoints', 'step-000000600', 'eval.json');
    const first = JSON.parse(readFileSync(file, 'utf8'));
    expect(first).toMatchObject({ step: 600, episodes: 3, seed: 11, envId: 'InvertedPendulum-v5', deterministic: true });
    expect(first.returns).toHaveLength(3);
    const b = evalOnce([join(runDir, 'checkpoints', 'step-000000600'), '--episodes', '3', '--seed', '11', '--output', join(dir, 'again.json')]);
    expect(b.status, b.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'again.json'), 'utf8')).returns).toEqual(first.returns);
    // the run's own last evaluation used the same policy, env seed and episode count
    const lastEval = readJsonl(join(runDir, 'metrics.jsonl')).filter((r) => 'eval/mean_return' in r).at(-1)!;
    const c = evalOnce([runDir]);
    expect(c.status, c.stderr).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8')).meanReturn).toBeCloseTo(lastEval['eval/mean_return'], 6);
    const noCheckpoint = evalOnce([dir]); // holds a config.json, no checkpoints
    expect(noCheckpoint.status).toBe(1);
    expect(noCheckpoint.stderr).toContain('has no complete checkpoint yet');
    const wrong = evalOnce([mkdtempSync(join(tmpdir(), 'sparse-rl-empty-'))]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('is neither a run directory');
  });

  it('eval --video records every episode as MP4 (MuJoCo offscreen rendering)', (ctx) => {
    const probe = spawnSync(defaultPython(), ['-c', 'import mujoco; mujoco.GLContext(16, 16).make_current()'], { encoding: 'utf8', env: { ...process.env, MUJOCO_GL: process.env.MUJOCO_GL ?? 'egl' } });
    if (probe.status !== 0) ctx.skip(); // no GL backend on this machine (the bridge's own test checks the message then)
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-video-'));
    const runDir = join(dir, 'run');
    expect(spawnSync(process.execPath, [cli, 'train', writeConfig(dir, { totalSteps: 300, evaluation: { interval: 300, episodes: 1 } }), '--run-dir', runDir], { encoding: 'utf8' }).status).toBe(0);
    const videos = join(dir, 'videos');
    const r = spawnSync(process.execPath, [cli, 'eval', runDir, '--episodes', '2', '--video', videos], { encoding: 'utf8', env: { ...process.env, MUJOCO_GL: process.env.MUJOCO_GL ?? 'egl' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`videos in ${videos}`);
    const files = readdirSync(videos).filter((f) => f.endsWith('.mp4'));
    expect(files).toHaveLength(2);
    for (const f of files) expect(readFileSync(join(videos, f)).length).toBeGreaterThan(1000);
  });
});
