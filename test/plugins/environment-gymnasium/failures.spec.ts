/**
 * Failure modes of the Gymnasium bridge, against the real Python process: friendly start-up
 * errors, remote errors that leave the env usable, a killed or silent child, and cleanup.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GymnasiumEnvironment } from '../../../plugins/environment-gymnasium/gymnasium-environment.js';
import { EnvironmentError } from '../../../src/core/environment.js';
import { HAS_VENV, ROOT, VENV_PYTHON, alive, uniformStream, randomActions, waitGone } from './helpers.js';

async function startError(p: Promise<unknown>): Promise<EnvironmentError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(EnvironmentError);
    return e as EnvironmentError;
  }
  throw new Error('expected a rejection');
}

describe('start-up failures', () => {
  it('a missing interpreter gives one clear message naming the path and the fix', async () => {
    const python = '/nonexistent/dir/python3';
    const t0 = Date.now();
    const err = await startError(GymnasiumEnvironment.start({ envId: 'HalfCheetah-v5', python }));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err.message).toContain(python);
    expect(err.message).toMatch(/not found/i);
    expect(err.message).toContain('npm run setup');
    expect(err.message).toContain('SPARSE_RL_PYTHON');
    expect(err.message.split('\n')).toHaveLength(1);
  });

  describe.skipIf(!HAS_VENV)('an interpreter without gymnasium', () => {
    let dir = '';
    let python = '';
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'sparse-rl-nogym-'));
      // A fresh venv without pip and without system site-packages: nothing but the stdlib.
      const made = spawnSync(VENV_PYTHON, ['-m', 'venv', '--without-pip', join(dir, 'venv')], { encoding: 'utf8' });
      if (made.status === 0) {
        python = join(dir, 'venv', 'bin', 'python');
      } else {
        // Fallback: the base interpreter with `-S` (no site-packages at all).
        const base = spawnSync(VENV_PYTHON, ['-c', 'import sys; print(sys._base_executable)'], { encoding: 'utf8' }).stdout.trim();
        python = join(dir, 'python-nosite');
        writeFileSync(python, `#!/bin/sh\nexec "${base}" -S "$@"\n`);
        chmodSync(python, 0o755);
      }
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('gymnasium is really absent there (same PYTHONPATH the bridge gets)', () => {
      const bridgeSrc = join(ROOT, 'bridge-python', 'src');
      const env = { ...process.env, PYTHONPATH: process.env.PYTHONPATH ? `${bridgeSrc}${delimiter}${process.env.PYTHONPATH}` : bridgeSrc };
      const r = spawnSync(python, ['-c', 'import gymnasium'], { encoding: 'utf8', env });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain("No module named 'gymnasium'");
      const ok = spawnSync(python, ['-c', 'import sparse_rl_bridge'], { encoding: 'utf8', env });
      expect(ok.status, ok.stderr).toBe(0);
    });

    it('names the missing module, the interpreter and the fix', async () => {
      const err = await startError(GymnasiumEnvironment.start({ envId: 'HalfCheetah-v5', python }));
      expect(err.message).toMatch(/Python modules? .*gymnasium.* not importable by /);
      expect(err.message).toContain(python);
      expect(err.message).toContain('npm run setup');
      expect(err.message).toContain('SPARSE_RL_PYTHON');
      expect(err.message.split('\n')).toHaveLength(1);
    });
  });

  it.skipIf(!HAS_VENV)("an unknown env id is rejected with Gymnasium's own message", async () => {
    const err = await startError(GymnasiumEnvironment.start({ envId: 'NoSuchEnv' }));
    expect(err.message).toContain("Environment `NoSuchEnv` doesn't exist.");
    expect(err.details.exceptionType).toBe('gymnasium.error.NameNotFound');
    expect(err.details.remoteTraceback).toContain('Traceback');
  });

  it.skipIf(!HAS_VENV)('bad gymnasium.make kwargs are reported by Gymnasium', async () => {
    const err = await startError(GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5', kwargs: { no_such_option: 1 } }));
    expect(err.message).toContain('no_such_option');
  });
});

describe.skipIf(!HAS_VENV)('a running bridge', () => {
  it('remote request errors (NaN actions) leave the env usable', async () => {
    const env = await GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5', numEnvs: 2, seed: 3 });
    try {
      await env.reset();
      const bad = new Float32Array([0, Number.NaN]);
      const err = await startError(env.step(bad));
      expect(err.message).toMatch(/finite/);
      expect(err.details.exceptionType).toContain('RequestError');
      await expect(env.step(new Float32Array([1, -0.5]))).resolves.toBeDefined();
      await expect(env.step(new Float32Array(3))).rejects.toThrow(/numEnvs\*actDim/);
      await env.ping();
      const r = await env.step(new Float32Array([0, 0]));
      expect(r.observations).toHaveLength(2 * env.obsDim);
    } finally {
      await env.close();
    }
  });

  it('an exception inside an env names the env and its traceback; reset() recovers', async () => {
    const saved = process.env.PYTHONPATH;
    process.env.PYTHONPATH = join(ROOT, 'bridge-python', 'tests'); // test-only env module
    let env: GymnasiumEnvironment;
    try {
      env = await GymnasiumEnvironment.start({ envId: 'raising_env:Raising-v0', kwargs: { fail_at: 2, fail_env: 1 }, numEnvs: 2 });
    } finally {
      if (saved === undefined) delete process.env.PYTHONPATH;
      else process.env.PYTHONPATH = saved;
    }
    try {
      await env.reset(0);
      await env.step(new Float32Array(2));
      const err = await startError(env.step(new Float32Array(2)));
      expect(err.message).toBe('Gymnasium env 1 raised RuntimeError during STEP: boom at step 2 (call reset() before stepping again)');
      expect(err.details.envIndex).toBe(1);
      expect(err.details.remoteTraceback).toContain('raising_env.py');
      await expect(env.step(new Float32Array(2))).rejects.toThrow(/RESET/);
      await env.reset();
      await expect(env.step(new Float32Array(2))).resolves.toBeDefined();
    } finally {
      await env.close();
    }
  });

  it('a SIGKILLed child makes the next step reject promptly, with the stderr tail', async () => {
    const env = await GymnasiumEnvironment.start({ envId: 'HalfCheetah-v5' });
    const pid = env.pid;
    try {
      await env.reset(0);
      const rand = uniformStream(1);
      for (let i = 0; i < 5; i++) await env.step(randomActions(rand, 6));
      process.kill(pid, 'SIGKILL');
      const t0 = Date.now();
      const err = await startError(env.step(randomActions(rand, 6)));
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(err.message).toMatch(/SIGKILL/);
      expect(err.details.stderrTail).toContain('sparse-rl-bridge');
      expect(err.message).toContain('serving HalfCheetah-v5');
      // the env stays failed, with the same explanation
      await expect(env.step(randomActions(rand, 6))).rejects.toThrow(/SIGKILL/);
    } finally {
      await env.close();
    }
    expect(await waitGone(pid, 2000)).toBe(true);
  });

  it('a child killed while a request is pending rejects that request promptly', async () => {
    const env = await GymnasiumEnvironment.start({ envId: 'HalfCheetah-v5' });
    const pid = env.pid;
    try {
      await env.reset(0);
      process.kill(pid, 'SIGSTOP'); // the next request cannot be answered
      const pending = env.step(new Float32Array(6));
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      process.kill(pid, 'SIGKILL');
      const err = await startError(pending);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(err.message).toMatch(/SIGKILL while a request was pending/);
      expect(err.details.stderrTail).toContain('sparse-rl-bridge');
    } finally {
      await env.close();
    }
  });

  it('a silent child misses the deadline: the request rejects and the child is killed', async () => {
    const env = await GymnasiumEnvironment.start({ envId: 'HalfCheetah-v5', requestTimeoutMs: 1000 });
    const pid = env.pid;
    try {
      await env.reset(0);
      process.kill(pid, 'SIGSTOP');
      const t0 = Date.now();
      const err = await startError(env.step(new Float32Array(6)));
      const dt = Date.now() - t0;
      expect(dt).toBeGreaterThanOrEqual(900);
      expect(dt).toBeLessThan(3000);
      expect(err.message).toMatch(/did not answer STEP within 1000 ms/);
      expect(err.details.stderrTail).toContain('sparse-rl-bridge');
      expect(await waitGone(pid, 2000)).toBe(true);
    } finally {
      await env.close();
    }
  });

  it('close() stops the child, is idempotent, and later calls reject', async () => {
    const env = await GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5' });
    const pid = env.pid;
    expect(alive(pid)).toBe(true);
    await env.reset(1);
    await Promise.all([env.close(), env.close()]);
    expect(await waitGone(pid, 3000)).toBe(true);
    await expect(env.step(new Float32Array(1))).rejects.toThrow(/closed/);
    await env.close();
  });

  it('the child dies with the Node process that started it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-orphan-'));
    try {
      const script = join(dir, 'orphan.ts');
      writeFileSync(
        script,
        `import { GymnasiumEnvironment } from ${JSON.stringify(join(ROOT, 'plugins', 'environment-gymnasium', 'gymnasium-environment.ts'))};\n` +
          `const env = await GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5' });\n` +
          `process.stdout.write('PID ' + env.pid + '\\n');\n` +
          `process.exit(0);\n`,
      );
      const child = spawn(join(ROOT, 'node_modules', '.bin', 'vite-node'), [script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      const m = /PID (\d+)/.exec(out);
      expect(m, out).not.toBeNull();
      expect(code).toBe(0);
      expect(await waitGone(Number(m![1]), 3000)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
