import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve as resolveModule } from 'import-meta-resolve';
import { sparseRlVersion } from '../util/version.js';
import { checkOptionsSchema, type PluginSource } from './plugin-checks.js';
import { assertManifest, type PluginKind, type PluginManifest } from './plugin-manifest.js';

/**
 * The folder that holds this build's `src/` and `plugins/` (the repository root when running
 * from source, `dist/` when built): built-in plugins are found relative to it.
 */
const layoutRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The built-in plugin modules, discovered (as Theia discovers extensions) through the
 * `"sparse-rl": { "plugins": [...] }` key of the package's `package.json`: module paths relative
 * to the layout root. The core never imports `plugins/` statically.
 */
function builtinModules(): string[] {
  let dir = layoutRoot;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const json = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; 'sparse-rl'?: { plugins?: string[] } };
      if (json.name === 'sparse-rl') return (json['sparse-rl']?.plugins ?? []).map((p) => resolve(layoutRoot, p));
    }
    const parent = resolve(dir, '..');
    if (parent === dir) throw new Error(`sparse-rl: package.json not found above ${layoutRoot}`);
    dir = parent;
  }
}

/** Source path of a built module when running from source (`plugins/x/index.js` → `.ts` under vitest). */
function existingModule(file: string): string {
  if (existsSync(file)) return file;
  const ts = file.replace(/\.js$/, '.ts');
  if (existsSync(ts)) return ts;
  throw new Error(`sparse-rl: built-in plugin module ${file} is missing (run npm run build)`);
}

/** The nearest package.json above `file` with its version (the plugin's version), if any. */
function packageVersion(file: string): string | undefined {
  let dir = dirname(file);
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) return (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version;
    const parent = resolve(dir, '..');
    if (parent === dir || dir.endsWith('/node_modules')) return undefined;
    dir = parent;
  }
}

/**
 * Where `specifier` resolves: a path (starting with `.` or `/`) relative to `baseDirs[0]`; a
 * package name from the first of `baseDirs` where Node's ESM resolution finds it (the config's
 * folder, then the working directory), then from sparse-rl's own install.
 * @throws Error listing the folders searched
 */
export function resolvePlugin(specifier: string, baseDirs: readonly string[]): string {
  if (specifier.startsWith('.') || isAbsolute(specifier)) {
    const path = resolve(baseDirs[0], specifier);
    return existsSync(path) && statSync(path).isDirectory() ? packageEntry(path) : path;
  }
  const tried: string[] = [];
  for (const dir of [...baseDirs, layoutRoot]) {
    try {
      return fileURLToPath(resolveModule(specifier, pathToFileURL(join(dir, 'noop.js')).href));
    } catch (e) {
      tried.push(`${dir} (${(e as Error).message.split('\n')[0]})`);
    }
  }
  throw new Error(`cannot resolve package "${specifier}" from ${tried.join('; ')}`);
}

/**
 * The module a plugin folder stands for: its package.json's `exports` (`.` → `import` /
 * `default`) or `main`, else `index.js`.
 * @throws Error naming the folder when there is no such file
 */
function packageEntry(dir: string): string {
  const pkgFile = join(dir, 'package.json');
  let entry = 'index.js';
  if (existsSync(pkgFile)) {
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { main?: string; exports?: unknown };
    const dot = typeof pkg.exports === 'string' ? pkg.exports : (pkg.exports as Record<string, unknown> | undefined)?.['.'] ?? pkg.exports;
    const conditional = dot && typeof dot === 'object' ? ((dot as Record<string, unknown>).import ?? (dot as Record<string, unknown>).default) : dot;
    entry = typeof conditional === 'string' ? conditional : (pkg.main ?? entry);
  }
  const file = resolve(dir, entry);
  if (!existsSync(file)) throw new Error(`plugin folder ${dir} has no entry module (${entry})`);
  return file;
}

/** The record of an external plugin module `file` named by `specifier`: its package version and the file's sha256. */
export function moduleSource(specifier: string, file: string): Omit<PluginSource, 'id'> {
  const version = packageVersion(file);
  return { specifier, file, ...(version ? { version } : {}), sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
}

/** The plugins available to a run: the built-ins plus the external ones its config names. */
export class PluginRegistry {
  private constructor(
    private readonly manifests: ReadonlyMap<string, PluginManifest>,
    private readonly sources: ReadonlyMap<string, PluginSource>,
  ) {}

  /**
   * Loads every built-in plugin and the external `specifiers` (paths relative to `baseDir`, or
   * package names resolved from `baseDir`, then the working directory), and checks each
   * manifest (shape, options schema, defaults).
   * @throws Error naming the specifier when a module cannot be resolved or imported, is not a
   *   manifest, or reuses an id; PluginError when its options schema is invalid
   */
  static async load(specifiers: readonly string[] = [], baseDir = process.cwd()): Promise<PluginRegistry> {
    const manifests = new Map<string, PluginManifest>();
    const sources = new Map<string, PluginSource>();
    const add = (m: unknown, source: Omit<PluginSource, 'id'>, label: string) => {
      assertManifest(m, label);
      if (manifests.has(m.id)) throw new Error(`plugin ${label}: id ${m.id} is already registered (by ${sources.get(m.id)!.specifier})`);
      const full = { id: m.id, ...source };
      checkOptionsSchema(m, full);
      manifests.set(m.id, m);
      sources.set(m.id, full);
    };
    for (const file of builtinModules()) {
      const mod = (await import(pathToFileURL(existingModule(file)).href)) as { default?: unknown };
      add(mod.default, { specifier: 'built-in', version: sparseRlVersion() }, `built-in ${file}`);
    }
    const baseDirs = [...new Set([resolve(baseDir), process.cwd()])];
    for (const spec of specifiers) {
      let file: string;
      let mod: { default?: unknown };
      try {
        file = resolvePlugin(spec, baseDirs);
        mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
      } catch (e) {
        throw new Error(`plugins: cannot load "${spec}" (${spec.startsWith('.') || isAbsolute(spec) ? resolve(baseDir, spec) : 'package'}): ${(e as Error).message}`);
      }
      add(mod.default, moduleSource(spec, file), `"${spec}" (${file})`);
    }
    return new PluginRegistry(manifests, sources);
  }

  /**
   * This registry plus `manifest` (replacing a plugin of the same id), given as an object rather
   * than by specifier — for a caller that imported it already (the sparsifier tester). The
   * manifest gets the same load-time checks as a loaded one.
   * @throws Error / PluginError as `load` does for a bad manifest or options schema
   */
  with(manifest: unknown, source: Omit<PluginSource, 'id'>): PluginRegistry {
    assertManifest(manifest, source.file ? `"${source.specifier}" (${source.file})` : source.specifier);
    const full = { id: manifest.id, ...source };
    checkOptionsSchema(manifest, full);
    return new PluginRegistry(new Map([...this.manifests, [manifest.id, manifest]]), new Map([...this.sources, [manifest.id, full]]));
  }

  /** Manifests of one kind, sorted by id. */
  ofKind(kind: PluginKind): PluginManifest[] {
    return [...this.manifests.values()].filter((m) => m.kind === kind).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** @throws Error listing the installed ids when `id` is unknown */
  get(id: string): PluginManifest {
    const m = this.manifests.get(id);
    if (!m) throw new Error(`unknown plugin ${id}; installed: ${[...this.manifests.keys()].sort().join(', ')}`);
    return m;
  }

  /** Where plugin `id` came from (for errors and the run's metadata). */
  source(id: string): PluginSource {
    this.get(id);
    return this.sources.get(id)!;
  }

  /** Every manifest, in load order (built-ins first). */
  all(): PluginManifest[] {
    return [...this.manifests.values()];
  }

  /** The external plugins (not built-in), in the config's order. */
  external(): PluginSource[] {
    return [...this.sources.values()].filter((s) => s.specifier !== 'built-in');
  }

  /**
   * The config's `plugins` list rewritten to resolve from `dir` (a run directory): a package name
   * stays when it resolves from `dir` to the same file, anything else becomes the path of the
   * loaded module relative to `dir`.
   */
  referencesFrom(dir: string): string[] {
    return this.external().map((s) => {
      if (!(s.specifier.startsWith('.') || isAbsolute(s.specifier))) {
        try {
          if (resolvePlugin(s.specifier, [dir]) === s.file) return s.specifier;
        } catch {
          // not resolvable from the run directory: refer to the file
        }
      }
      const rel = relative(dir, s.file!);
      return rel.startsWith('.') ? rel : `./${rel}`;
    });
  }
}
