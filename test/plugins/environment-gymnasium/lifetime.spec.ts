/**
 * Clean-up on every exit path: when the Node process that started a GymnasiumEnvironment is
 * SIGKILLed (no exit hook runs), the bridge notices its parent died, removes the private folder of
 * its `ipc://` socket and exits.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { HAS_VENV, ROOT, alive, waitGone } from './helpers.js';

/** Pids whose parent is `pid` (the async bridge's env workers). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function waitMissing(path: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!existsSync(path)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !existsSync(path);
}

describe.skipIf(!HAS_VENV)('socket folder clean-up', () => {
  it.each(['sync', 'async'] as const)('a SIGKILLed Node parent leaves no socket folder and no bridge process behind (%s)', async (vectorization) => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-sigkill-'));
    try {
      const script = join(dir, 'parent.ts');
      writeFileSync(
        script,
        `import { readFileSync } from 'node:fs';\n` +
          `import { GymnasiumEnvironment } from ${JSON.stringify(join(ROOT, 'plugins', 'environment-gymnasium', 'gymnasium-environment.ts'))};\n` +
          `const env = await GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5', numEnvs: 2, vectorization: '${vectorization}' });\n` +
          `await env.reset(0);\n` +
          `const cmd = readFileSync('/proc/' + env.pid + '/cmdline', 'utf8').split('\\0');\n` +
          `process.stdout.write(JSON.stringify({ pid: env.pid, endpoint: cmd[cmd.indexOf('--connect') + 1] }) + '\\n');\n` +
          `setInterval(() => {}, 1000);\n`,
      );
      const child = spawn(join(ROOT, 'node_modules', '.bin', 'vite-node'), [script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`parent script exited (${code}) before starting the env: ${err}`)));
      });
      const { pid, endpoint } = JSON.parse(line) as { pid: number; endpoint: string };
      expect(endpoint).toMatch(/^ipc:\/\//);
      const socketDir = dirname(endpoint.slice('ipc://'.length));
      expect(existsSync(socketDir)).toBe(true);
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--cleanup-ipc');
      const workers = childrenOf(pid);
      expect(workers).toHaveLength(vectorization === 'async' ? 2 : 0);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      expect(await waitGone(pid, 10_000)).toBe(true);
      expect(await waitMissing(socketDir, 10_000)).toBe(true);
      expect(alive(pid)).toBe(false);
      for (const w of workers) expect(await waitGone(w, 10_000)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
