import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/**
 * Absolute path of the sparse-rl package root (the folder holding its `package.json`), found by
 * walking up from this module. Works both from `src/` (tests) and from `dist/src/` (built CLI).
 */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bridge-python'))) {
      cachedRoot = dir;
      return dir;
    }
    const parent = resolve(dir, '..');
    if (parent === dir) throw new Error(`sparse-rl package root not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The project-local Python interpreter made by `npm run setup` (`<root>/.venv/bin/python`). */
export function defaultPython(): string {
  return process.env.SPARSE_RL_PYTHON ?? join(packageRoot(), '.venv', 'bin', 'python');
}
