/** Shared helpers of the bridge tests (real Python bridge, real MuJoCo). */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { packageRoot } from '../../../src/util/paths.js';

export const ROOT = packageRoot();
export const VENV_PYTHON = join(ROOT, '.venv', 'bin', 'python');
export const HAS_VENV = existsSync(VENV_PYTHON);

export { uniformStream } from '../../helpers/random.js';

/** The environment of a bridge started from this checkout (its package first on PYTHONPATH). */
export const BRIDGE_ENV = { ...process.env, PYTHONPATH: join(ROOT, 'bridge-python', 'src') };

/** A running `sparse-rl-bridge serve`: its process, the endpoint it listens on, its stderr lines (growing). */
export interface ServeProcess {
  readonly proc: ChildProcess;
  readonly endpoint: string;
  readonly log: string[];
}

/**
 * Starts `python -m sparse_rl_bridge serve <args>` with `env` added to BRIDGE_ENV and resolves
 * once it prints `listening on tcp://…`. @throws when it exits first or does not listen within 30 s
 */
export async function startServe(args: readonly string[], env: Record<string, string> = {}): Promise<ServeProcess> {
  const proc = spawn(VENV_PYTHON, ['-m', 'sparse_rl_bridge', 'serve', ...args], { env: { ...BRIDGE_ENV, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  const lines = createInterface({ input: proc.stderr! });
  lines.on('line', (l) => log.push(l));
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${log.join('\n')}`)), 30_000);
    lines.on('line', (l) => {
      const m = /listening on (tcp:\/\/\S+)/.exec(l);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once('exit', (code) => reject(new Error(`serve exited with code ${code}:\n${log.join('\n')}`)));
  });
  return { proc, endpoint, log };
}

/** `sparse-rl-bridge keygen --dir <dir> --name <name>`; returns the printed Z85 public key. @throws when keygen fails */
export function keygen(dir: string, name: string): string {
  const k = spawnSync(VENV_PYTHON, ['-m', 'sparse_rl_bridge', 'keygen', '--dir', dir, '--name', name], { encoding: 'utf8', env: BRIDGE_ENV });
  if (k.status !== 0) throw new Error(`keygen ${name} failed: ${k.stderr}`);
  return /public key: (\S{40})/.exec(k.stdout)![1];
}

/** Uniform float32 actions in [-1, 1). */
export function randomActions(rand: () => number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * rand() - 1;
  return a;
}

/** The compiled bridge-protocol schema (ajv 2020-12, strict). */
export function protocolValidator() {
  const schema = JSON.parse(readFileSync(join(ROOT, 'schemas', 'bridge-protocol.schema.json'), 'utf8')) as object;
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  return ajv.compile(schema);
}

/** Whether process `pid` is running (a zombie, exited but not yet reaped, counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Polls until `pid` is gone; returns whether it went within `ms`. */
export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !alive(pid);
}
