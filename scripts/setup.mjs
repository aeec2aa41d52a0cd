#!/usr/bin/env node
// One-time set-up of a clone (`npm run setup`, after `npm ci`): compiles the TypeScript, then runs
// `sparse-rl setup` — the same command an installed package runs with `npx sparse-rl setup`
// (src/cli/commands/setup.ts: `.venv` with the Gymnasium bridge, the native engine addon, the
// composed schema). Idempotent; arguments are passed on (`npm run setup -- --force`).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc)) {
  console.error('[setup] TypeScript is not installed: run `npm ci` (or `npm install`) first.');
  process.exit(1);
}
const run = (args) => {
  try {
    execFileSync(process.execPath, args, { stdio: 'inherit', cwd: root });
  } catch (err) {
    process.exit(typeof err.status === 'number' && err.status !== 0 ? err.status : 1);
  }
};
process.stdout.write('[setup] compiling TypeScript (tsc)\n');
run([tsc, '-p', 'tsconfig.json']);
run([join(root, 'dist', 'src', 'cli', 'main.js'), 'setup', ...process.argv.slice(2)]);
