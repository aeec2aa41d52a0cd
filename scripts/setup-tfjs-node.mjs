#!/usr/bin/env node
// Opt-in: the tfjs engine's `tensorflow` backend (@tensorflow/tfjs-node), built against the
// TensorFlow C library shipped in the `tensorflow-cpu` wheel from PyPI.
//
// package.json declares tfjs-node as a devDependency (and, for programs that install sparse-rl,
// an optional peer dependency), with `"allowScripts": { "@tensorflow/tfjs-node": false }`: npm
// ci / npm install put the package in node_modules but never run its install script, which would
// download libtensorflow from a Google bucket that answers 403. This script only supplies what
// that install script would have: the TensorFlow library and the addon. A later `npm install`
// leaves them in place; `npm ci` (which recreates node_modules) removes them: re-run this then.
//
// Steps (each skipped when already done, so re-running is cheap):
//   1. a check that `npm install` put `@tensorflow/tfjs-node@TFJS_NODE_VERSION` in node_modules;
//   2. `.venv-tf/` with `tensorflow-cpu==TF_VERSION` (~800 MB; the main `.venv` is not touched);
//   3. `deps/lib` links to the wheel's libraries and `deps/include` to its headers;
//   4. the addon built from source with tfjs-node's own node-pre-gyp (`--nodedir`, no download);
//   5. a check that `require('@tensorflow/tfjs-node')` gives backend `tensorflow`.
// Needs python3 (venv + pip), a C++ toolchain and the Node headers (`<nodedir>/include/node`;
// nodedir from `npm_config_nodedir`, else the prefix of this `node` binary).
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TF_VERSION = '2.21.0';
const TFJS_NODE_VERSION = '4.22.0';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(root, '.venv-tf');
const py = join(venv, 'bin', 'python');
const pkgDir = join(root, 'node_modules', '@tensorflow', 'tfjs-node');

const step = (msg) => console.log(`[setup:tfjs-node] ${msg}`);
function die(msg) {
  console.error(`[setup:tfjs-node] ERROR: ${msg}`);
  process.exit(1);
}
function run(cmd, args, opts = {}) {
  try {
    execFileSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  } catch (err) {
    die(`\`${cmd} ${args.join(' ')}\` failed (${err.status != null ? `exit ${err.status}` : err.message})`);
  }
}
function capture(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts }).trim();
}
function tryCapture(cmd, args, opts) {
  try {
    return capture(cmd, args, opts);
  } catch {
    return null;
  }
}

// -- prerequisites --------------------------------------------------------------------------------
const nodedir = process.env.npm_config_nodedir || resolve(dirname(process.execPath), '..');
if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) {
  die(`Node headers not found at ${join(nodedir, 'include', 'node')} (set npm_config_nodedir to the folder holding include/node)`);
}
if (process.platform !== 'linux') die(`only Linux is supported (the wheel's libtensorflow_cc.so.2), not ${process.platform}`);

// -- 1. @tensorflow/tfjs-node, installed by npm without its install script ---------------------------
const installedVersion = () => {
  try {
    return JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
};
if (installedVersion() !== TFJS_NODE_VERSION) {
  die(
    `node_modules/@tensorflow/tfjs-node is ${installedVersion() ?? 'missing'}, expected ${TFJS_NODE_VERSION}: run \`npm install\` first ` +
      '(package.json declares it; its install script stays skipped by "allowScripts")',
  );
}
// tfjs-node must register its backend with the project's own tfjs-core, not a nested copy.
if (existsSync(join(pkgDir, 'node_modules', '@tensorflow', 'tfjs-core'))) {
  die('tfjs-node got its own nested @tensorflow/tfjs-core (version mismatch with the project\'s); its backend would be invisible to the engine');
}

// -- 2. tensorflow-cpu wheel in .venv-tf ------------------------------------------------------------
if (!existsSync(py)) {
  step('creating .venv-tf');
  run('python3', ['-m', 'venv', venv]);
}
const versionProbe = "import importlib.metadata as m; print(m.version('tensorflow-cpu'))";
if (tryCapture(py, ['-c', versionProbe]) !== TF_VERSION) {
  step(`pip install tensorflow-cpu==${TF_VERSION} into .venv-tf (about 800 MB)`);
  run(py, ['-m', 'pip', 'install', '--disable-pip-version-check', `tensorflow-cpu==${TF_VERSION}`]);
}
// find_spec locates the package without importing TensorFlow (which takes seconds).
const tfDir = tryCapture(py, ['-c', "import importlib.util as u; print(u.find_spec('tensorflow').submodule_search_locations[0])"]);
if (!tfDir) die('.venv-tf has no importable `tensorflow` package after pip install');
for (const f of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2', 'include/tensorflow/c/c_api.h', 'include/tensorflow/c/eager/c_api.h']) {
  if (!existsSync(join(tfDir, f))) die(`the tensorflow-cpu wheel lacks ${f} (in ${tfDir}); this recipe was verified with ${TF_VERSION}`);
}

// -- 3. deps/lib and deps/include -------------------------------------------------------------
/** Makes `path` a symlink to `target`, replacing a different link; refuses to replace a real file. */
function link(target, path) {
  let st = null;
  try {
    st = lstatSync(path);
  } catch {
    /* absent */
  }
  if (st !== null) {
    if (!st.isSymbolicLink()) die(`${path} exists and is not a symlink; remove node_modules/@tensorflow/tfjs-node/deps and re-run`);
    if (readlinkSync(path) === target) return;
    unlinkSync(path);
  }
  symlinkSync(target, path);
}
const libDir = join(pkgDir, 'deps', 'lib');
mkdirSync(libDir, { recursive: true });
const cc = join(tfDir, 'libtensorflow_cc.so.2');
const fw = join(tfDir, 'libtensorflow_framework.so.2');
// libtensorflow.so[.2]: what the addon links against (-ltensorflow); libtensorflow_cc.so.2: the
// library's SONAME, looked up at load time; libtensorflow.so.2.9.1: the file whose presence
// makes tfjs-node's install script skip its download (should it ever run, e.g. `npm rebuild`).
for (const name of ['libtensorflow.so', 'libtensorflow.so.2', 'libtensorflow.so.2.9.1', 'libtensorflow_cc.so.2']) link(cc, join(libDir, name));
for (const name of ['libtensorflow_framework.so', 'libtensorflow_framework.so.2']) link(fw, join(libDir, name));
link(join(tfDir, 'include'), join(pkgDir, 'deps', 'include'));

// -- 4. build the addon ------------------------------------------------------------------------
const probe = "const tf = require('@tensorflow/tfjs-node'); process.stdout.write(tf.getBackend() + ' ' + tf.version.tfjs)";
const check = () => {
  try {
    return { out: capture(process.execPath, ['-e', probe]) };
  } catch (err) {
    return { out: null, err: String(err.stderr || err.message).trim() };
  }
};
let result = check();
if (!(result.out ?? '').startsWith('tensorflow ')) {
  let preGyp;
  try {
    // tfjs-node's own dependency (hoisted or nested), resolved from its package folder
    preGyp = join(dirname(createRequire(join(pkgDir, 'package.json')).resolve('@mapbox/node-pre-gyp/package.json')), 'bin', 'node-pre-gyp');
  } catch {
    die('@mapbox/node-pre-gyp (a dependency of tfjs-node) is not installed; delete node_modules/@tensorflow/tfjs-node and re-run');
  }
  step(`building the addon from source against TensorFlow ${TF_VERSION} (about a minute)`);
  run(process.execPath, [preGyp, 'rebuild', '--build-from-source', `--nodedir=${nodedir}`], { cwd: pkgDir });
  result = check();
}

// -- 5. verify ----------------------------------------------------------------------------------
if (!(result.out ?? '').startsWith('tensorflow ')) {
  die(`require('@tensorflow/tfjs-node') does not give backend 'tensorflow': ${result.out ?? result.err}`);
}
step(`OK: @tensorflow/tfjs-node ${TFJS_NODE_VERSION} on TensorFlow ${TF_VERSION} (backend ${result.out}); use runtime.backend "tensorflow" or "auto"`);
