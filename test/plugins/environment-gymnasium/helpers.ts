/** Shared helpers of the bridge tests (real Python bridge, real MuJoCo). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { packageRoot } from '../../../src/util/paths.js';

export const ROOT = packageRoot();
export const VENV_PYTHON = join(ROOT, '.venv', 'bin', 'python');
export const HAS_VENV = existsSync(VENV_PYTHON);

export { uniformStream } from '../../helpers/random.js';

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
