#!/usr/bin/env node
// Benchmark-only Python environment (.venv-bench) with the PyTorch reference (PyPI wheel, ~5 GB
// with its CUDA libraries; the benchmark runs it on CPU) and Gymnasium/MuJoCo for its in-process loop.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = join(root, '.venv-bench', 'bin', 'python');
const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit', cwd: root });
if (!existsSync(py)) run('python3', ['-m', 'venv', join(root, '.venv-bench')]);
try {
  execFileSync(py, ['-c', 'import torch, gymnasium, mujoco'], { stdio: 'ignore' });
} catch {
  run(py, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', 'torch', '-r', join(root, 'bridge-python', 'requirements.txt')]);
}
