/**
 * sparse-rl as a package others install and build on (end to end, real npm, pip, g++ and MuJoCo):
 * `npm pack` the repository into a temporary folder outside it, install the tarball into an empty
 * project, `npx sparse-rl setup` there, then install a third-party plugin package into that
 * project — MEST (Yuan et al., NeurIPS 2021), a dynamic sparse method sparse-rl does not ship,
 * written in plain ESM JavaScript against the public API only (source:
 * test/fixtures/sdk-plugin/sparse-rl-sparsifier-mest/) — and train Hopper-v5 with it, naming it
 * by package name in the config.
 *
 * Slow-ish (about 45 s on 2 cores with warm npm and pip caches: the default ~/.npm and
 * ~/.cache/pip are reused; a cold pip cache downloads MuJoCo, Gymnasium, NumPy and pyzmq). The
 * temporary folder is removed afterwards unless SPARSE_RL_KEEP_E2E=1.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/paths.js';

const root = packageRoot();
const fixture = join(root, 'test', 'fixtures', 'sdk-plugin', 'sparse-rl-sparsifier-mest');
const PLUGIN = 'sparse-rl-sparsifier-mest';

/** The environment of the child commands: this one without what an enclosing `npm run`/`npm test` exported about the repository's own package. */
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^npm_(package|lifecycle)_|^npm_config_(prefix|global|local_prefix)$|^INIT_CWD$/.test(k)),
);
Object.assign(childEnv, { npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' });

const timings: [string, number][] = [];

/**
 * Runs `cmd args` in `cwd` (asynchronously: a long npm install must not block the test worker's
 * event loop, which vitest's RPC needs), records its wall time under `label`; returns status and output.
 */
function exec(label: string, cmd: string, args: readonly string[], cwd: string, timeoutMs = 240_000): Promise<{ status: number | null; stdout: string; stderr: string; error?: Error }> {
  const t0 = Date.now();
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd, env: childEnv, timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let error: Error | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => (error = e));
    child.on('close', (status) => {
      timings.push([label, (Date.now() - t0) / 1000]);
      done({ status, stdout, stderr, error });
    });
  });
}

/** Like `exec`, failing the test with the command's output when it exits non-zero. */
async function ok(label: string, cmd: string, args: readonly string[], cwd: string, timeoutMs?: number): Promise<string> {
  const r = await exec(label, cmd, args, cwd, timeoutMs);
  if (r.status !== 0) {
    throw new Error(`${label}: \`${cmd} ${args.join(' ')}\` in ${cwd} exited ${r.status}${r.error ? ` (${r.error.message})` : ''}\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-6000)}`);
  }
  return r.stdout;
}

const readJsonl = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

/** The object somewhere in `node` whose `properties.type.const` is `type` (a plugin's section in a composed schema). */
function sectionOf(node: unknown, type: string): { properties: Record<string, unknown> } | undefined {
  if (node === null || typeof node !== 'object') return undefined;
  const props = (node as { properties?: { type?: { const?: unknown } } }).properties;
  if (props?.type?.const === type) return node as { properties: Record<string, unknown> };
  for (const v of Object.values(node)) {
    const found = sectionOf(v, type);
    if (found) return found;
  }
  return undefined;
}

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

describe('the packed sparse-rl SDK in an empty project, with a third-party plugin package (real npm, pip, g++, MuJoCo)', () => {
  let work: string;
  let project: string;
  let pack: PackResult;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'sparse-rl-sdk-'));
    expect(relative(root, work).startsWith('..')).toBe(true); // outside the repository
    // prepack compiles the TypeScript (tsc) so dist/ is in the tarball
    const out = await ok('npm pack (with prepack: tsc)', 'npm', ['pack', '--json', '--pack-destination', work], root);
    pack = (JSON.parse(out.slice(out.indexOf('['))) as PackResult[])[0];
    project = join(work, 'project');
    mkdirSync(project);
    await ok('npm init -y', 'npm', ['init', '-y'], project);
    await ok('npm install <tarball>', 'npm', ['install', '--prefer-offline', join(work, pack.filename)], project);
    await ok('npx sparse-rl setup', 'npx', ['sparse-rl', 'setup'], project, 400_000);
    // the plugin package, from its own folder in the project
    const pluginDir = join(project, 'plugins-src', PLUGIN);
    cpSync(fixture, pluginDir, { recursive: true });
    await ok('npm install ./plugins-src/<plugin>', 'npm', ['install', '--prefer-offline', `./plugins-src/${PLUGIN}`], project);
  }, 600_000);

  afterAll(() => {
    const lines = timings.map(([label, s]) => `  ${s.toFixed(1).padStart(6)} s  ${label}`);
    const keep = process.env.SPARSE_RL_KEEP_E2E === '1';
    console.log(`packed-sdk timings (total ${timings.reduce((a, [, s]) => a + s, 0).toFixed(1)} s), work folder ${work}${keep ? '' : ' (removed; SPARSE_RL_KEEP_E2E=1 keeps it)'}:\n${lines.join('\n')}`);
    // the project holds a whole .venv (~400 MB): removed unless asked to keep it
    if (work && !keep) rmSync(work, { recursive: true, force: true });
  });

  it('the tarball holds the built code, the bridge, the native sources, schemas, configs and docs, and nothing of the development tree', async () => {
    const files = pack.files.map((f) => f.path);
    for (const f of [
      'package.json', 'README.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/src/cli/commands/setup.js',
      'dist/plugins/sparsifier-rigl/index.js', 'dist/plugins/environment-gymnasium/index.js',
      'bridge-python/pyproject.toml', 'bridge-python/requirements.txt', 'bridge-python/src/sparse_rl_bridge/server.py',
      'native/binding.gyp', 'native/src/addon.cc', 'schemas/experiment.schema.json', 'schemas/bridge-protocol.schema.json',
      'configs/quickstart.json', 'docs/methods.md',
    ]) expect(files, f).toContain(f);
    const unwanted = files.filter((f) =>
      /^(src|plugins|test|bench|scripts|node_modules|\.venv|runs)\/|^dist\/(bench|test)\/|\.map$|\.ts$(?<!\.d\.ts)|__pycache__|\.egg-info|\/tests\/|^native\/build\/|^schemas\/sparse-rl\.schema\.json$/.test(f),
    );
    expect(unwanted).toEqual([]);
    console.log(`tarball ${pack.filename}: ${pack.files.length} files, ${(pack.size / 1024).toFixed(0)} KiB packed, ${(pack.unpackedSize / 1024).toFixed(0)} KiB unpacked`);
  });

  it('setup prepared the installed copy and is idempotent', async () => {
    const installed = join(project, 'node_modules', 'sparse-rl');
    expect(existsSync(join(installed, '.venv', 'bin', 'python'))).toBe(true);
    expect(existsSync(join(installed, 'native', 'build', 'Release', 'sparse_rl_native.node'))).toBe(true);
    expect(existsSync(join(installed, 'schemas', 'sparse-rl.schema.json'))).toBe(true);
    // the plugin's `npm install` kept what setup made; a second setup redoes nothing
    const again = await ok('npx sparse-rl setup (again)', 'npx', ['sparse-rl', 'setup'], project);
    expect(again).toContain('.venv is up to date');
    expect(again).toContain('native engine is up to date');
  });

  it('the plugin is plain ESM importing only from sparse-rl', async () => {
    for (const f of readdirSync(fixture).filter((n) => n.endsWith('.js'))) {
      const specifiers = [...readFileSync(join(fixture, f), 'utf8').matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
      expect(specifiers.length).toBeGreaterThan(0);
      for (const s of specifiers) expect(s === 'sparse-rl' || s.startsWith('./'), `${f} imports ${s}`).toBe(true);
    }
  });

  it('validates and trains Hopper-v5 with the MEST plugin named by package name', async () => {
    const config = {
      name: 'sdk-mest-hopper',
      seed: 3,
      totalSteps: 2000,
      environment: { type: 'gymnasium', id: 'Hopper-v5' },
      agent: { type: 'td3', learningStarts: 500, batchSize: 64, hiddenSizes: [64, 64] },
      sparsifier: { type: 'mest', actorSparsity: 0.8, criticSparsity: 0.8, interval: 100, dropFraction: 0.3, lambda: 1 },
      replayBuffer: { type: 'uniform', capacity: 10000 },
      evaluation: { interval: 1000, episodes: 2 },
      checkpoint: { interval: 1000 },
      output: { progress: 'lines' },
      plugins: [PLUGIN],
    };
    writeFileSync(join(project, 'config.json'), JSON.stringify(config, null, 2));
    expect(await ok('npx sparse-rl validate', 'npx', ['sparse-rl', 'validate', 'config.json'], project)).toContain('config.json: valid');

    const out = await ok('npx sparse-rl train (Hopper-v5, 2000 steps)', 'npx', ['sparse-rl', 'train', 'config.json', '--run-dir', 'R'], project);
    expect(out).toContain('steps 2000');
    const runDir = join(project, 'R');

    const meta = JSON.parse(readFileSync(join(runDir, 'metadata.json'), 'utf8'));
    expect(meta.status).toBe('completed');
    expect(meta.engine).toMatch(/^native/); // setup built the addon
    const mest = (meta.plugins as Record<string, unknown>[]).find((p) => p.id === 'sparsifier.mest');
    expect(mest).toMatchObject({ id: 'sparsifier.mest', specifier: PLUGIN, version: '1.2.0' });
    // the run's config refers to the plugin by package name (it resolves from the run directory)
    expect(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')).plugins).toEqual([PLUGIN]);

    const records = readJsonl(join(runDir, 'metrics.jsonl'));
    // topology updates: every 100 optimizer steps of a group; 1500 critic steps, 750 actor steps (policy delay 2)
    const updates = records.filter((r) => 'mest/critic_dropped' in r);
    expect(updates.length).toBe(15);
    expect(records.filter((r) => 'mest/actor_dropped' in r).length).toBe(7);
    for (const g of ['actor', 'critic']) {
      for (const r of records.filter((x) => `mest/${g}_dropped` in x)) {
        expect(r[`mest/${g}_dropped`]).toBeGreaterThan(0);
        expect(r[`mest/${g}_grown`]).toBe(r[`mest/${g}_dropped`]); // as many grown as dropped
      }
    }
    // sparsity kept at every evaluation while the masks moved
    const evals = records.filter((r) => 'eval/mean_return' in r);
    expect(evals.map((r) => r.step)).toEqual([0, 1000, 2000]);
    const first = records.find((r) => 'sparsity/actor' in r)!;
    for (const r of evals) {
      expect(r['sparsity/actor']).toBeCloseTo(first['sparsity/actor'], 10);
      expect(r['sparsity/critic']).toBeCloseTo(first['sparsity/critic'], 10);
      expect(r['sparsity/actor']).toBeGreaterThan(0.79);
      expect(r['sparsity/critic']).toBeGreaterThan(0.79);
    }
    const last = evals[evals.length - 1];
    expect(last['mest/critic_updates']).toBe(15);
    expect(last['mest/actor_updates']).toBe(7);
    expect(last['mest/critic_mask_change']).toBeGreaterThan(0.1);
    expect(last['mest/actor_mask_change']).toBeGreaterThan(0.1);
  });

  it('plugins -p and schema -p show the plugin and its options', async () => {
    const list = await ok('npx sparse-rl plugins -p', 'npx', ['sparse-rl', 'plugins', '-p', PLUGIN], project);
    const line = list.split('\n').find((l) => l.startsWith('sparsifier.mest'));
    expect(line).toBeDefined();
    expect(line).toContain(`[${PLUGIN}@1.2.0:`);

    await ok('npx sparse-rl schema -p', 'npx', ['sparse-rl', 'schema', '-p', PLUGIN, '-o', 's.json'], project);
    const section = sectionOf(JSON.parse(readFileSync(join(project, 's.json'), 'utf8')), 'mest');
    expect(section).toBeDefined();
    expect(Object.keys(section!.properties)).toEqual(
      expect.arrayContaining(['actorSparsity', 'criticSparsity', 'sparsityDistribution', 'interval', 'endStep', 'dropFraction', 'dropFractionSchedule', 'lambda', 'resetOptimizerStateOnGrow']),
    );
  });

  it('the scaffold of the installed CLI passes its own generated test and trains Hopper-v5', async () => {
    await ok('npx sparse-rl new sparsifier demo', 'npx', ['sparse-rl', 'new', 'sparsifier', 'demo'], project);
    const dir = join(project, 'sparse-rl-sparsifier-demo');
    // its test (node --test with sparse-rl/testing) resolves sparse-rl from the project's install
    const test = await exec('npm test (generated plugin)', 'npm', ['test'], dir);
    expect(test.status, `${test.stdout}\n${test.stderr}`).toBe(0);
    const generated = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'short.json'), JSON.stringify({
      ...generated, totalSteps: 1000, agent: { ...generated.agent, learningStarts: 300, hiddenSizes: [64, 64], batchSize: 64 },
      evaluation: { interval: 1000, episodes: 2 }, output: { progress: 'none' },
    }));
    const out = await ok('npx sparse-rl train (generated plugin, 1000 steps)', 'npx', ['sparse-rl', 'train', 'short.json', '--run-dir', 'R'], dir);
    expect(out).toContain('steps 1000');
    const evals = readJsonl(join(dir, 'R', 'metrics.jsonl')).filter((r) => 'eval/mean_return' in r);
    expect(evals.at(-1)!['sparsity/actor']).toBeCloseTo(generated.sparsifier.actorSparsity, 2);
  });

  it('asking for the tensorflow backend without a working tfjs-node fails naming npm run setup:tfjs-node', async () => {
    const config = JSON.parse(readFileSync(join(project, 'config.json'), 'utf8'));
    writeFileSync(join(project, 'tf.json'), JSON.stringify({ ...config, runtime: { engine: 'tfjs', backend: 'tensorflow' } }));
    const r = await exec('npx sparse-rl train (backend tensorflow)', 'npx', ['sparse-rl', 'train', 'tf.json', '--run-dir', 'R-tf'], project);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("tfjs backend 'tensorflow' unavailable");
    expect(r.stderr).toContain('npm run setup:tfjs-node');
  });
});
