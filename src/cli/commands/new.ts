import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { PluginRegistry } from '../../plugin/plugin-registry.js';
import { packageRoot } from '../../util/paths.js';
import { sparseRlVersion } from '../../util/version.js';
import { reporting } from '../fail.js';

/** What a scaffolded plugin name must look like: the config `type` and the id's part after `sparsifier.`. */
export const PLUGIN_NAME = /^[a-z][a-z0-9-]*$/;

/** What `scaffoldSparsifier` wrote. */
export interface ScaffoldResult {
  /** Absolute path of the package folder. */
  readonly dir: string;
  /** The plugin id, `sparsifier.<name>`. */
  readonly id: string;
  /** Files written, relative to `dir`, sorted. */
  readonly files: readonly string[];
}

/** The template files of a kind under `templates/<kind>/`, relative paths, sorted. */
function templateFiles(root: string, dir = root): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? templateFiles(root, p) : [relative(root, p)];
    });
}

/** `demo-method` → `DemoMethodSparsifier`. */
function className(name: string): string {
  return `${name.split('-').filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join('')}Sparsifier`;
}

/**
 * Writes a sparsifier plugin package from `templates/sparsifier/`: `package.json` (ESM, sparse-rl
 * as peer dependency, `npm test` = `node --test`), `index.js` (the manifest, `definePlugin`),
 * `options.js` (schema with defaults), `sparsifier.js` (a working `BaseSparsifier`: static random
 * masks), `test/sparsifier.test.js` (`sparse-rl/testing`), `config.json`, `README.md`, `.gitignore`.
 * Template files end in `.tmpl` (dropped); `gitignore` becomes `.gitignore`; `__NAME__`,
 * `__CLASS__` and `__SPARSE_RL_VERSION__` are replaced.
 * @param dir the package folder (created); default `./sparse-rl-sparsifier-<name>`
 * @throws Error for a name not matching `PLUGIN_NAME` or taken by a built-in sparsifier, or when
 *   `dir` is a file or a non-empty folder (nothing is overwritten)
 */
export async function scaffoldSparsifier(name: string, dir?: string): Promise<ScaffoldResult> {
  if (!PLUGIN_NAME.test(name)) throw new Error(`invalid plugin name ${JSON.stringify(name)}: use lowercase letters, digits and dashes, starting with a letter (${PLUGIN_NAME.source})`);
  const id = `sparsifier.${name}`;
  const builtins = await PluginRegistry.load([]);
  if (builtins.all().some((m) => m.id === id)) throw new Error(`${id} is a built-in sparsifier; choose another name`);
  const target = resolve(dir ?? `sparse-rl-sparsifier-${name}`);
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new Error(`${target} exists and is not a folder`);
    if (readdirSync(target).length > 0) throw new Error(`${target} is not empty; refusing to overwrite (choose another --dir)`);
  }
  const templates = join(packageRoot(), 'templates', 'sparsifier');
  const values: Record<string, string> = { __NAME__: name, __CLASS__: className(name), __SPARSE_RL_VERSION__: sparseRlVersion() };
  const files: string[] = [];
  for (const file of templateFiles(templates)) {
    const out = file.replace(/\.tmpl$/, '').replace(/(^|\/)gitignore$/, '$1.gitignore');
    const text = readFileSync(join(templates, file), 'utf8').replace(/__NAME__|__CLASS__|__SPARSE_RL_VERSION__/g, (k) => values[k]);
    mkdirSync(dirname(join(target, out)), { recursive: true });
    writeFileSync(join(target, out), text, { flag: 'wx' });
    files.push(out);
  }
  return { dir: target, id, files: files.sort() };
}

/** `sparse-rl new sparsifier NAME [--dir D]`: scaffolds a plugin package. */
export function register(program: Command): void {
  const command = program.command('new').description('scaffold a plugin package');
  command
    .command('sparsifier')
    .description('write a sparsifier plugin package: manifest, options schema, a working method, a node:test test with sparse-rl/testing, an example config, a README')
    .argument('<name>', 'plugin name ([a-z][a-z0-9-]*): the config type; the plugin id is sparsifier.<name>')
    .option('--dir <dir>', 'folder to write (must be absent or empty); default ./sparse-rl-sparsifier-<name>')
    .action(reporting(async (name: string, opts: { dir?: string }) => {
      const r = await scaffoldSparsifier(name, opts.dir);
      const shown = relative(process.cwd(), r.dir) || '.';
      process.stdout.write(
        `wrote ${r.id} to ${shown}/\n${r.files.map((f) => `  ${f}\n`).join('')}` +
          `next:\n  cd ${shown}\n  npm test           # the sparsifier contract (sparse-rl/testing); sparse-rl resolves from the enclosing project's\n                     # node_modules — outside such a project first: npm install <sparse-rl tarball or folder>\n  npx sparse-rl train config.json\n`,
      );
    }));
}
