#!/usr/bin/env node
// `npm pack` / `npm publish` (prepack): compiles the TypeScript into dist/ and removes compiled
// files whose source is gone (left over from renamed or deleted modules), so the tarball holds
// exactly the current build. Files are only removed, never the folder: a concurrent user of dist/
// keeps working.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
try {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
} catch (err) {
  process.stderr.write('[prepack] tsc failed: nothing packed\n');
  process.exit(typeof err.status === 'number' && err.status !== 0 ? err.status : 1);
}

const OUTPUT = /(\.d\.ts|\.js\.map|\.js)$/;
function* walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}
let removed = 0;
for (const file of existsSync(dist) ? walk(dist) : []) {
  const m = OUTPUT.exec(file);
  if (!m) continue;
  const source = join(root, relative(dist, file)).slice(0, -m[1].length) + '.ts';
  if (!existsSync(source)) {
    rmSync(file);
    removed++;
  }
}
if (removed) process.stderr.write(`[prepack] removed ${removed} compiled file(s) of deleted sources from dist/\n`);
