import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/util/paths.js';

/**
 * The house rules, checked on the repository itself: the dependency arrows (src never imports
 * plugins; plugins import src only through the public API and never each other), one spec and
 * one README per plugin, and nothing machine-local or outside the repository committed.
 */
const root = packageRoot();
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|mts|js|mjs)$/.test(f) ? [p] : [];
  });
/** Every relative module a file imports, re-exports or dynamically imports, resolved to an absolute path. */
const imports = (file: string): string[] => {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.[^'"]+)['"]/g)].map((m) => m[1]);
  return specs.map((s) => resolve(dirname(file), s));
};
const inside = (path: string, dir: string) => !relative(dir, path).startsWith('..');
const pluginDirs = readdirSync(join(root, 'plugins')).filter((d) => statSync(join(root, 'plugins', d)).isDirectory());

describe('the house', () => {
  it('nothing in src/ imports plugins/', () => {
    const offenders = files(join(root, 'src')).flatMap((f) => imports(f).filter((i) => inside(i, join(root, 'plugins'))).map((i) => `${relative(root, f)} → ${relative(root, i)}`));
    expect(offenders).toEqual([]);
  });

  it('no plugin imports another plugin\'s folder, and plugins reach src/ only through src/index.ts', () => {
    const offenders: string[] = [];
    for (const d of pluginDirs) {
      const own = join(root, 'plugins', d);
      for (const f of files(own)) {
        for (const i of imports(f)) {
          if (inside(i, join(root, 'plugins')) && !inside(i, own)) offenders.push(`${relative(root, f)} → ${relative(root, i)} (another plugin)`);
          if (inside(i, join(root, 'src')) && relative(join(root, 'src'), i) !== 'index.js') offenders.push(`${relative(root, f)} → ${relative(root, i)} (not the public API)`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('every plugin folder has index.ts, a README.md and at least one spec under test/plugins/<folder>/', () => {
    const missing = pluginDirs.flatMap((d) => {
      const out: string[] = [];
      if (!existsSync(join(root, 'plugins', d, 'index.ts'))) out.push(`plugins/${d}/index.ts`);
      if (!existsSync(join(root, 'plugins', d, 'README.md'))) out.push(`plugins/${d}/README.md`);
      const specs = join(root, 'test', 'plugins', d);
      if (!existsSync(specs) || !readdirSync(specs).some((f) => f.endsWith('.spec.ts'))) out.push(`test/plugins/${d}/*.spec.ts`);
      return out;
    });
    expect(missing).toEqual([]);
  });

  it('every built-in plugin folder is discovered through package.json, and only those', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { 'sparse-rl': { plugins: string[] } };
    expect(pkg['sparse-rl'].plugins.map((p) => p.split('/')[2]).sort()).toEqual([...pluginDirs].sort());
  });

  it('commits no symbolic link, and nothing refers to files outside the repository', () => {
    const tracked = execFileSync('git', ['ls-files', '-s'], { cwd: root }).toString().trim().split('\n');
    expect(tracked.filter((l) => l.startsWith('120000'))).toEqual([]);
    let referring = '';
    try {
      referring = execFileSync('git', ['grep', '-lE', String.raw`\.\./shared/|/work/(main|shared)`, '--', '.', ':!test/repository.spec.ts'], { cwd: root, encoding: 'utf8' }).trim();
    } catch (e) {
      if ((e as { status?: number }).status !== 1) throw e; // 1: no match
    }
    expect(referring).toBe('');
  });

  it('every docs/<file>.md §N citation in the code resolves to a section of the project\'s own documents', () => {
    execFileSync(process.execPath, [join(root, 'docs', 'check-citations.mjs'), '--quiet'], { cwd: root, stdio: 'pipe' });
  });

  it('inversify is on its current major (8)', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies.inversify).toMatch(/^\^?8\./);
  });
});
