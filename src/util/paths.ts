import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/**
 * Absolute path of the sparse-rl package root (the folder holding its `package.json`), found by
 * walking up from this module. Works from `src/` (tests), from `dist/src/` (built CLI) and from an
 * installed copy (`node_modules/sparse-rl/dist/src/`).
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

/** The project-local Python environment made by `sparse-rl setup` (`<root>/.venv`). */
export function venvDir(): string {
  return join(packageRoot(), '.venv');
}

/** The interpreter of the bridge: `$SPARSE_RL_PYTHON`, else `<root>/.venv/bin/python` (made by `sparse-rl setup`). */
export function defaultPython(): string {
  return process.env.SPARSE_RL_PYTHON ?? join(venvDir(), 'bin', 'python');
}
