import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigValidator } from '../../config/validate.js';
import { nativeAddonPath } from '../../nn/native-engine.js';
import { PluginRegistry } from '../../plugin/plugin-registry.js';
import { packageRoot, venvDir } from '../../util/paths.js';
import { reporting } from '../fail.js';
import { COMPOSED_SCHEMA } from './schema.js';

/** Options of `sparse-rl setup`. */
export interface SetupOptions {
  /**
   * Base interpreter for creating `.venv` (default: the first of python3, python3.13 … python3.10,
   * python that is >= 3.10 with venv). Used when `.venv` is missing, broken or `force`d.
   */
  readonly python?: string;
  /** Leave the Python environment alone. */
  readonly skipPython?: boolean;
  /** Do not build the native engine (runs then use the tfjs engine). */
  readonly skipNative?: boolean;
  /** Redo every step even when it is up to date. */
  readonly force?: boolean;
  /** Progress lines (default: stdout). */
  readonly log?: (line: string) => void;
}

/** What `setup` found or made. */
export interface SetupResult {
  readonly root: string;
  readonly python?: { readonly executable: string; readonly versions: Record<string, string>; readonly installed: boolean };
  readonly native?: { readonly addon: string; readonly built: boolean };
  readonly schema: string;
}

const MIN_PYTHON: readonly [number, number] = [3, 10];
/** Modules the bridge needs at run time; importing them is the venv's health check. */
const BRIDGE_MODULES = ['gymnasium', 'mujoco', 'zmq', 'numpy', 'sparse_rl_bridge'];
const STAMP = 'sparse-rl-setup.json';

const sha256 = (parts: readonly (string | Buffer)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
};

function readStamp(file: string): string | null {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { key?: string }).key ?? null;
  } catch {
    return null;
  }
}

/** stdout of `cmd args`, or null when it cannot run or exits non-zero. */
function probe(cmd: string, args: readonly string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Runs `cmd args`, echoing its output. @throws Error naming `what` and the exit status */
function run(what: string, cmd: string, args: readonly string[], cwd: string): void {
  try {
    execFileSync(cmd, args, { cwd, stdio: 'inherit' });
  } catch (e) {
    const status = (e as { status?: number | null }).status;
    throw new Error(`${what} failed (${cmd} ${args.join(' ')}: ${status != null ? `exit ${status}` : (e as Error).message})`);
  }
}

// --- Python -------------------------------------------------------------------------------

const VERSION_PROBE = `import sys; print('%d.%d.%d' % sys.version_info[:3])`;

/** A base interpreter >= 3.10 with `venv` and `ensurepip`. @throws Error saying what was found and how to install one */
function findPython(explicit?: string): { exe: string; version: string } {
  const candidates = explicit ? [explicit] : ['python3', 'python3.13', 'python3.12', 'python3.11', 'python3.10', 'python'];
  const seen: string[] = [];
  for (const exe of candidates) {
    const version = probe(exe, ['-c', VERSION_PROBE]);
    if (version === null) continue;
    const [major, minor] = version.split('.').map(Number);
    if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
      seen.push(`${exe} is ${version}`);
      continue;
    }
    if (probe(exe, ['-c', 'import venv, ensurepip']) === null) {
      seen.push(`${exe} (${version}) lacks the venv/ensurepip modules`);
      continue;
    }
    return { exe, version };
  }
  const found = seen.length ? `found: ${seen.join('; ')}` : explicit ? `${explicit} does not run` : 'no python3 on PATH';
  throw new Error(
    `Python >= ${MIN_PYTHON.join('.')} with the venv module is required for the Gymnasium bridge (${found}). ` +
      'Install it (Debian/Ubuntu: apt-get install python3 python3-venv) or name one with --python <exe>.',
  );
}

function setupPython(root: string, opts: SetupOptions, log: (l: string) => void): NonNullable<SetupResult['python']> {
  const venv = venvDir();
  const py = join(venv, 'bin', 'python');
  const bridge = join(root, 'bridge-python');
  const requirements = join(bridge, 'requirements.txt');
  const key = sha256([readFileSync(requirements), readFileSync(join(bridge, 'pyproject.toml')), bridge]);
  const stampFile = join(venv, STAMP);
  const importCheck = () => probe(py, ['-c', `import ${BRIDGE_MODULES.join(', ')}`]) !== null;

  let installed = false;
  const venvWorks = existsSync(py) && probe(py, ['-c', VERSION_PROBE]) !== null;
  if (opts.force || !venvWorks || readStamp(stampFile) !== key || !importCheck()) {
    if (!venvWorks || opts.force) {
      const base = findPython(opts.python);
      log(`creating ${venv} with ${base.exe} (Python ${base.version})`);
      run('creating the virtual environment', base.exe, ['-m', 'venv', ...(existsSync(venv) ? ['--clear'] : []), venv], root);
    }
    log('installing the Gymnasium bridge and its pinned dependencies into .venv (pip; gymnasium, mujoco, pyzmq, numpy)');
    const pip = ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet'];
    run('pip install -r bridge-python/requirements.txt', py, [...pip, '-r', requirements], root);
    run('pip install of the bridge package', py, [...pip, '--no-deps', '-e', bridge], root);
    if (!importCheck()) throw new Error(`.venv cannot import ${BRIDGE_MODULES.join(', ')} after pip install`);
    writeFileSync(stampFile, `${JSON.stringify({ key, requirements: readFileSync(requirements, 'utf8') }, null, 2)}\n`);
    installed = true;
  } else {
    log(`.venv is up to date (${venv})`);
  }
  const versions = JSON.parse(
    probe(py, ['-c', `import json, sys, importlib.metadata as m; print(json.dumps({'python': sys.version.split()[0], **{p: m.version(p) for p in ('gymnasium', 'mujoco', 'pyzmq', 'numpy', 'sparse-rl-bridge')}}))`]) ?? '{}',
  ) as Record<string, string>;
  return { executable: py, versions, installed };
}

// --- native engine ------------------------------------------------------------------------

/** `--nodedir` for node-gyp: the headers of this Node (its prefix, else /usr), so nothing is downloaded. */
function nodedirArgs(): string[] {
  if (process.env.npm_config_nodedir) return []; // node-gyp reads it itself
  for (const dir of [resolve(dirname(process.execPath), '..'), '/usr']) {
    if (existsSync(join(dir, 'include', 'node', 'node.h'))) return [`--nodedir=${dir}`];
  }
  return [];
}

function loads(addon: string): boolean {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(addon)})`], { stdio: 'ignore' });
  return r.status === 0;
}

function setupNative(root: string, opts: SetupOptions, log: (l: string) => void): NonNullable<SetupResult['native']> {
  const native = join(root, 'native');
  const addon = nativeAddonPath();
  const sources = readdirSync(join(native, 'src')).sort().map((f) => join(native, 'src', f));
  const march = process.env.SPARSE_RL_MARCH ?? 'native';
  const key = sha256([process.version, process.arch, march, readFileSync(join(native, 'binding.gyp')), ...sources.flatMap((f) => [f, readFileSync(f)])]);
  const stampFile = join(native, 'build', STAMP);
  if (!opts.force && readStamp(stampFile) === key && existsSync(addon) && loads(addon)) {
    log(`native engine is up to date (${addon})`);
    return { addon, built: false };
  }
  const cxx = process.env.CXX ?? 'g++';
  const missing = [probe(cxx, ['--version']) === null ? `a C++ compiler (${cxx})` : null, probe('make', ['--version']) === null ? 'make' : null].filter(Boolean);
  if (missing.length) {
    throw new Error(
      `building the native engine needs ${missing.join(' and ')} (Debian/Ubuntu: apt-get install g++ make). ` +
        'Install it and re-run, or run `sparse-rl setup --skip-native` to train with the slower tfjs engine.',
    );
  }
  let nodeGyp: string;
  try {
    nodeGyp = createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    throw new Error('node-gyp (a dependency of sparse-rl) is not installed; reinstall sparse-rl with npm');
  }
  log(`building the native engine with ${cxx} (node-gyp, -march=${march}; about 15 s)`);
  run('building the native engine', process.execPath, [nodeGyp, 'rebuild', '--loglevel=warn', '--jobs=max', '-C', native, ...nodedirArgs()], root);
  if (!loads(addon)) throw new Error(`the native engine was built but ${addon} does not load`);
  mkdirSync(dirname(stampFile), { recursive: true });
  writeFileSync(stampFile, `${JSON.stringify({ key, node: process.version, march }, null, 2)}\n`);
  return { addon, built: true };
}

// --- the command ---------------------------------------------------------------------------

/**
 * Prepares this sparse-rl install (a clone or `node_modules/sparse-rl`): `<root>/.venv` with the
 * bridge's pinned Python dependencies and the bridge package, the native engine addon (node-gyp
 * with the machine's g++), and the composed config schema. Idempotent: a step whose inputs are
 * unchanged (stamps in `.venv/` and `native/build/`) and whose result works is skipped.
 * @throws Error with a message for a person when a tool is missing or a step fails
 */
export async function setup(opts: SetupOptions = {}): Promise<SetupResult> {
  const log = opts.log ?? ((line: string) => process.stdout.write(`[setup] ${line}\n`));
  const root = packageRoot();
  log(`preparing sparse-rl in ${root}`);
  const python = opts.skipPython ? undefined : setupPython(root, opts, log);
  const native = opts.skipNative ? undefined : setupNative(root, opts, log);
  const validator = new ConfigValidator(await PluginRegistry.load([]));
  writeFileSync(COMPOSED_SCHEMA, `${JSON.stringify(validator.schema, null, 2)}\n`);
  log(`wrote ${COMPOSED_SCHEMA}`);
  return { root, ...(python ? { python } : {}), ...(native ? { native } : {}), schema: COMPOSED_SCHEMA };
}

/** `sparse-rl setup [--python EXE] [--skip-native] [--skip-python] [--force]`. */
export function register(program: Command): void {
  program
    .command('setup')
    .description(
      'prepare this install: .venv with Gymnasium/MuJoCo and the bridge (pip), the native engine (node-gyp, g++), the composed schema; re-running redoes only what changed',
    )
    .option('--python <exe>', 'base interpreter when .venv is created (Python >= 3.10 with venv; default: python3)')
    .option('--skip-native', 'do not build the native engine (runs use the tfjs engine)')
    .option('--skip-python', 'leave the Python environment alone')
    .option('--force', 'redo every step (recreates .venv, rebuilds the addon)')
    .action(reporting(async (o: { python?: string; skipNative?: boolean; skipPython?: boolean; force?: boolean }) => {
      const result = await setup(o);
      const v = result.python?.versions;
      const python = v ? `Python ${v.python} with gymnasium ${v.gymnasium}, mujoco ${v.mujoco} (${result.python!.installed ? 'installed' : 'up to date'})` : 'Python skipped';
      const native = result.native ? `native engine ${result.native.built ? 'built' : 'up to date'}` : 'native engine skipped (runs use the tfjs engine)';
      process.stdout.write(`[setup] done: ${python}; ${native}. Next: \`npx sparse-rl train\` trains the bundled quickstart.\n`);
    }));
}
