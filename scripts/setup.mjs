#!/usr/bin/env node
// One-time set-up of a fresh clone (run after `npm install`): the project-local Python
// environment for the Gymnasium bridge, the native engine addon, the TypeScript build, and the
// composed config schema for editors. Idempotent: re-running only redoes what is missing or stale.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venvPython = join(root, '.venv', 'bin', 'python');
const step = (msg) => process.stdout.write(`\n[setup] ${msg}\n`);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });

function havePython() {
  for (const py of ['python3', 'python']) {
    try {
      execFileSync(py, ['-c', 'import sys, venv; assert sys.version_info >= (3, 10)'], { stdio: 'ignore' });
      return py;
    } catch {}
  }
  return null;
}

// 1. Python virtual environment with the bridge and its pinned dependencies
if (!existsSync(venvPython)) {
  const py = havePython();
  if (!py) {
    console.error('[setup] Python >= 3.10 with the venv module is required (Debian: apt-get install python3 python3-venv).');
    process.exit(1);
  }
  step(`creating .venv with ${py}`);
  run(py, ['-m', 'venv', join(root, '.venv')]);
}
step('installing the Gymnasium bridge and its dependencies into .venv (pip)');
run(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', join(root, 'bridge-python', 'requirements.txt')]);
run(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '-e', join(root, 'bridge-python')]);

// 2. Native engine (Node-API addon, compiled with the machine's g++)
step('building the native engine (node-gyp)');
run(process.execPath, [join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), 'rebuild', '--loglevel=warn', '-C', 'native', '--nodedir=/usr'].filter((a) => a !== '--nodedir=/usr' || existsSync('/usr/include/node/node.h')));

// 3. TypeScript build and the composed schema for editors
step('compiling TypeScript');
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
run(process.execPath, [join(root, 'dist', 'src', 'cli', 'main.js'), 'schema']);
step('done');
