import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry } from '../../src/plugin/plugin-registry.js';
import { testSparsifier } from '../../src/testing/index.js';
import { packageRoot } from '../../src/util/paths.js';
import { sparseRlVersion } from '../../src/util/version.js';
import { expectEveryRun } from '../testing/helpers.js';

const root = packageRoot();
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const run = (args: string[], cwd: string) => spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8' });

describe('sparse-rl new sparsifier (the built CLI)', () => {
  let tmp: string;
  let dir: string;

  beforeAll(() => {
    for (const f of [cli, join(root, 'dist', 'src', 'index.js'), join(root, 'dist', 'src', 'testing', 'index.js')]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: run npm run build first`);
    }
    tmp = mkdtempSync(join(tmpdir(), 'sparse-rl-new-'));
    dir = join(tmp, 'sparse-rl-sparsifier-demo');
    // the generated code imports 'sparse-rl' and 'sparse-rl/testing': resolve them to this checkout (a link in the temporary folder only)
    mkdirSync(join(tmp, 'node_modules'));
    symlinkSync(root, join(tmp, 'node_modules', 'sparse-rl'), 'dir');
    const r = run(['new', 'sparsifier', 'demo', '--dir', dir], tmp);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^wrote sparsifier\.demo to sparse-rl-sparsifier-demo\//);
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('writes a plugin package: ESM package.json with sparse-rl as peer and node --test, manifest, options, sparsifier, test, config, README', () => {
    const files = (d: string, p = ''): string[] => readdirSync(join(d, p), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(d, join(p, e.name)) : [join(p, e.name)]));
    expect(files(dir).sort()).toEqual(['.gitignore', 'README.md', 'config.json', 'index.js', 'options.js', 'package.json', 'sparsifier.js', 'test/sparsifier.test.js']);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({ name: 'sparse-rl-sparsifier-demo', type: 'module', scripts: { test: 'node --test' }, peerDependencies: { 'sparse-rl': `>=${sparseRlVersion()}` } });
    expect(pkg.peerDependencies['sparse-rl']).toBe('>=0.1.0');
    const index = readFileSync(join(dir, 'index.js'), 'utf8');
    expect(index).toMatch(/import \{ definePlugin, Sparsifier \} from 'sparse-rl';/);
    expect(index).toContain("id: 'sparsifier.demo'");
    expect(index).toMatch(/@type \{import\('sparse-rl'\)\.PluginManifest<DemoSparsifierOptions>\}/);
    const sparsifier = readFileSync(join(dir, 'sparsifier.js'), 'utf8');
    expect(sparsifier).toMatch(/export class DemoSparsifier extends BaseSparsifier/);
    for (const hook of ['needsDenseGradient', 'beforeOptimizerStep', 'afterOptimizerStep', 'afterTargetUpdate', 'targetMasks', 'onEvaluation', 'metrics', 'state', 'loadState']) {
      expect(sparsifier).toMatch(new RegExp(`// (get )?${hook}\\(`));
    }
    expect(readFileSync(join(dir, 'test', 'sparsifier.test.js'), 'utf8')).toMatch(/from 'node:test'[\s\S]*from 'sparse-rl\/testing'/);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toMatchObject({ sparsifier: { type: 'demo' }, plugins: ['./index.js'] });
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toMatch(/^# sparse-rl-sparsifier-demo/);
    for (const f of files(dir)) expect(readFileSync(join(dir, f), 'utf8'), f).not.toMatch(/__[A-Z_]+__/);
  });

  it('loads as a run loads it: by module path (with the package version) and by package name', async () => {
    const byPath = await PluginRegistry.load(['./index.js'], dir);
    expect(byPath.get('sparsifier.demo').kind).toBe('sparsifier');
    expect(byPath.source('sparsifier.demo')).toMatchObject({ specifier: './index.js', file: join(dir, 'index.js'), version: '0.1.0' });
    symlinkSync(dir, join(tmp, 'node_modules', 'sparse-rl-sparsifier-demo'), 'dir');
    const byName = await PluginRegistry.load(['sparse-rl-sparsifier-demo'], tmp);
    expect(byName.source('sparsifier.demo').version).toBe('0.1.0');
    const validate = run(['validate', 'config.json'], dir);
    expect(validate.stdout + validate.stderr).toMatch(/config\.json: valid/);
  });

  it('keeps the sparsifier contract: the tester passes on TD3 and SAC, native and tfjs', async () => {
    const plugin = (await import(pathToFileURL(join(dir, 'index.js')).href)).default;
    const report = await testSparsifier(plugin, { options: { actorSparsity: 0.8, criticSparsity: 0.7 }, updates: 20 });
    expect(report.plugin).toBe('sparsifier.demo');
    for (const r of expectEveryRun(report)) expect(r.checks.find((c) => c.check === 'sparsity')?.status).toBe('passed');
  });

  it("its own test passes under plain Node: npm test's node --test", () => {
    const out = execFileSync(process.execPath, ['--test'], { cwd: dir, encoding: 'utf8' });
    expect(out).toMatch(/# pass 1\n/);
    expect(out).toMatch(/# fail 0\n/);
    expect(out).toMatch(/# td3 × tfjs: passed/);
  });

  it('refuses a bad name, a built-in name and a non-empty folder; writes ./sparse-rl-sparsifier-NAME by default', () => {
    expect(run(['new', 'sparsifier', 'Demo'], tmp)).toMatchObject({ status: 1, stderr: expect.stringMatching(/invalid plugin name "Demo"/) });
    expect(run(['new', 'sparsifier', '9lives'], tmp)).toMatchObject({ status: 1, stderr: expect.stringMatching(/invalid plugin name/) });
    expect(run(['new', 'sparsifier', 'rigl'], tmp)).toMatchObject({ status: 1, stderr: expect.stringMatching(/sparsifier\.rigl is a built-in sparsifier/) });
    const before = readFileSync(join(dir, 'index.js'), 'utf8');
    expect(run(['new', 'sparsifier', 'other', '--dir', dir], tmp)).toMatchObject({ status: 1, stderr: expect.stringMatching(/is not empty; refusing to overwrite/) });
    expect(readFileSync(join(dir, 'index.js'), 'utf8')).toBe(before);
    writeFileSync(join(tmp, 'a-file'), '');
    expect(run(['new', 'sparsifier', 'other', '--dir', join(tmp, 'a-file')], tmp)).toMatchObject({ status: 1, stderr: expect.stringMatching(/is not a folder/) });
    mkdirSync(join(tmp, 'empty'));
    expect(run(['new', 'sparsifier', 'my-method-2', '--dir', join(tmp, 'empty')], tmp).status).toBe(0);
    expect(readFileSync(join(tmp, 'empty', 'sparsifier.js'), 'utf8')).toMatch(/class MyMethod2Sparsifier/);
    const cwd = join(tmp, 'cwd');
    mkdirSync(cwd);
    expect(run(['new', 'sparsifier', 'third'], cwd).status).toBe(0);
    expect(existsSync(join(cwd, 'sparse-rl-sparsifier-third', 'index.js'))).toBe(true);
  });
});
