import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExperimentConfig } from '../../src/config/experiment-config.js';
import { RunDirectory } from '../../src/train/run-directory.js';
import { packageRoot } from '../../src/util/paths.js';
import { merge, type Json } from '../helpers/recipe-run.js';

const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A run long enough to be interrupted (InvertedPendulum-v5, 20 000 steps, checkpoints every 5 000). */
function writeConfig(dir: string, overrides: Json = {}): string {
  const config = merge({
    name: 'interrupt', seed: 3, totalSteps: 20000,
    environment: { type: 'gymnasium', id: 'InvertedPendulum-v5' },
    agent: { type: 'td3', learningStarts: 200, batchSize: 32, hiddenSizes: [32, 32] },
    sparsifier: { type: 'static', actorSparsity: 0.8, criticSparsity: 0.8 },
    replayBuffer: { type: 'uniform', capacity: 20000 },
    evaluation: { interval: 5000, episodes: 1 }, checkpoint: { interval: 5000 }, output: { progress: 'none' },
  }, overrides);
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly stderr: () => string;
}

/** Starts `sparse-rl train` as the leader of its own process group (as a shell does), so `-pid` signals reach the whole group like Ctrl-C. */
function start(args: string[]): Running {
  const child = spawn(process.execPath, [cli, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, exited, stderr: () => err };
}

/** Waits until the run has logged a record at or after `step`. */
async function waitForStep(runDir: string, step: number, running: Running): Promise<void> {
  const file = join(runDir, 'metrics.jsonl');
  for (;;) {
    if (running.child.exitCode !== null) throw new Error(`train exited early:\n${running.stderr()}`);
    if (existsSync(file)) {
      const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
      const last = lines.length ? (JSON.parse(lines[lines.length - 1]) as { step: number }).step : 0;
      if (last >= step) return;
    }
    await sleep(20);
  }
}

const metadata = (runDir: string) => JSON.parse(readFileSync(join(runDir, 'metadata.json'), 'utf8')) as Json;

describe('interrupting a run (real MuJoCo through the bridge)', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} to the process group finishes the step, writes a checkpoint, sets status interrupted and exits ${code}; --resume completes the run`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-signal-'));
      const runDir = join(dir, 'run');
      const running = start([writeConfig(dir), '--run-dir', runDir]);
      await waitForStep(runDir, 1500, running);
      process.kill(-running.child.pid!, signal);
      const exit = await running.exited;
      expect(exit.code, running.stderr()).toBe(code);
      const meta = metadata(runDir);
      expect(meta).toMatchObject({ status: 'interrupted', interruptedBy: signal, checkpointedAtInterrupt: true });
      const at = meta.interruptedAtStep as number;
      expect(at).toBeGreaterThanOrEqual(1500);
      expect(at).toBeLessThan(20000);
      const ck = join(runDir, 'checkpoints', `step-${String(at).padStart(9, '0')}`);
      expect(existsSync(join(ck, 'state.json'))).toBe(true);
      expect(JSON.parse(readFileSync(join(ck, 'state.json'), 'utf8')).step).toBe(at);
      expect(running.stderr()).toContain(`sparse-rl train --resume ${runDir}`);
      expect(existsSync(join(runDir, '.lock'))).toBe(false);

      const r = spawnSync(process.execPath, [cli, 'train', '--resume', runDir], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).not.toContain('stale lock');
      expect(metadata(runDir)).toMatchObject({ status: 'completed', resumes: [{ fromStep: at }] });
    });
  }

  it('a second SIGINT exits at once, still writing the status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-signal2-'));
    const runDir = join(dir, 'run');
    const running = start([writeConfig(dir), '--run-dir', runDir]);
    await waitForStep(runDir, 1500, running);
    process.kill(running.child.pid!, 'SIGINT');
    process.kill(running.child.pid!, 'SIGINT');
    const exit = await running.exited;
    expect(exit.code, running.stderr()).toBe(130);
    const meta = metadata(runDir);
    expect(meta).toMatchObject({ status: 'interrupted', interruptedBy: 'SIGINT' });
    if (meta.checkpointedAtInterrupt === false) {
      expect(running.stderr()).toContain('again: exiting now');
      expect(existsSync(join(runDir, 'checkpoints', `step-${String(meta.interruptedAtStep).padStart(9, '0')}`))).toBe(false);
    }
    expect(existsSync(join(runDir, '.lock'))).toBe(false);
  });

  it('a full disk (ENOSPC on a small tmpfs) sets status failed, names the file and leaves no temporary files', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip(); // mounting a tmpfs needs root (CI runs as root)
    const mnt = mkdtempSync(join(tmpdir(), 'sparse-rl-enospc-'));
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=160k', 'tmpfs', mnt], { encoding: 'utf8' });
    if (mount.status !== 0) ctx.skip();
    try {
      const runDir = join(mnt, 'run');
      const cfg = writeConfig(mkdtempSync(join(tmpdir(), 'sparse-rl-enospc-cfg-')), { totalSteps: 3000, checkpoint: { interval: 1000 }, evaluation: { interval: 3000 }, agent: { hiddenSizes: [64, 64] } });
      const r = spawnSync(process.execPath, [cli, 'train', cfg, '--run-dir', runDir], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/writing \S+ failed: ENOSPC/);
      const meta = metadata(runDir);
      expect(meta.status).toBe('failed');
      expect(meta.error).toMatchObject({ name: 'RunWriteError', code: 'ENOSPC' });
      expect(meta.error.file).toContain(runDir);
      const leftovers = [runDir, join(runDir, 'checkpoints')].filter(existsSync).flatMap((d) => readdirSync(d).filter((f) => f.includes('.tmp')));
      expect(leftovers).toEqual([]);
      expect(existsSync(join(runDir, '.lock'))).toBe(false);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});

describe('one writer per run directory', () => {
  it('a second run into the same --run-dir refuses, naming the holder pid; a finished run directory refuses a new run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-lock-'));
    const runDir = join(dir, 'run');
    const cfg = writeConfig(dir);
    const running = start([cfg, '--run-dir', runDir]);
    await waitForStep(runDir, 300, running);
    const second = spawnSync(process.execPath, [cli, 'train', cfg, '--run-dir', runDir], { encoding: 'utf8' });
    expect(second.status).toBe(1);
    expect(second.stderr).toContain(`holds a run; continue it with \`sparse-rl train --resume ${runDir}\``);
    const resume = spawnSync(process.execPath, [cli, 'train', '--resume', runDir], { encoding: 'utf8' });
    expect(resume.status).toBe(1);
    expect(resume.stderr).toContain(`is in use by pid ${running.child.pid}`);
    process.kill(running.child.pid!, 'SIGTERM');
    expect((await running.exited).code).toBe(143);
    expect(metadata(runDir).status).toBe('interrupted'); // the second and third attempts changed nothing
  });

  it('run directories are created exclusively: two runs started in the same millisecond get two directories', () => {
    const out = mkdtempSync(join(tmpdir(), 'sparse-rl-excl-'));
    const config = { name: 'same', seed: 1, evaluation: { seedOffset: 100 }, output: { dir: out } } as unknown as ExperimentConfig;
    const t = Date.now();
    const a = RunDirectory.create(config, t);
    const b = RunDirectory.create(config, t);
    try {
      expect(b.path).not.toBe(a.path);
      expect(b.path).toBe(`${a.path}-1`);
    } finally {
      a.release();
      b.release();
    }
  });

  it('a stale lock (dead pid) is taken over with a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-stale-'));
    mkdirSync(join(dir, 'run'));
    writeFileSync(join(dir, 'run', 'metadata.json'), '{"status":"running"}');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(join(dir, 'run', '.lock'), JSON.stringify({ pid: Number(dead), hostname: hostname(), startedAt: 'then' }));
    const warnings: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (warnings.push(String(s)), true)) as typeof process.stderr.write;
    let run: RunDirectory;
    try {
      run = RunDirectory.open(join(dir, 'run'));
    } finally {
      process.stderr.write = orig;
    }
    expect(warnings.join('')).toContain(`taking over the stale lock of ${join(dir, 'run')} (pid ${dead}`);
    expect(JSON.parse(readFileSync(join(dir, 'run', '.lock'), 'utf8')).pid).toBe(process.pid);
    run!.release();
  });
});
