import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { builtinPlugins } from './builtin-plugins.js';
import { assertManifest, type PluginKind, type PluginManifest } from './plugin-manifest.js';

/** The plugins available to a run: the built-ins plus the external ones its config names. */
export class PluginRegistry {
  private constructor(private readonly manifests: ReadonlyMap<string, PluginManifest>) {}

  /**
   * Loads every built-in plugin and the external `specifiers` (paths relative to `baseDir`, or
   * package names resolved by Node).
   * @throws Error naming the specifier when a module cannot be imported, is not a manifest, or
   *   reuses an id
   */
  static async load(specifiers: readonly string[] = [], baseDir = process.cwd()): Promise<PluginRegistry> {
    const manifests = new Map<string, PluginManifest>();
    const add = (m: unknown, source: string) => {
      assertManifest(m, source);
      if (manifests.has(m.id)) throw new Error(`plugin ${source}: id ${m.id} is already registered`);
      manifests.set(m.id, m);
    };
    for (const [id, load] of Object.entries(builtinPlugins)) add((await load()).default, `built-in ${id}`);
    for (const spec of specifiers) {
      const isPath = spec.startsWith('.') || isAbsolute(spec);
      const target = isPath ? pathToFileURL(resolve(baseDir, spec)).href : spec;
      let mod: { default?: unknown };
      try {
        mod = (await import(target)) as { default?: unknown };
      } catch (e) {
        throw new Error(`plugins: cannot load "${spec}" (${isPath ? resolve(baseDir, spec) : 'package'}): ${(e as Error).message}`);
      }
      add(mod.default, `"${spec}"`);
    }
    return new PluginRegistry(manifests);
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

  all(): PluginManifest[] {
    return [...this.manifests.values()];
  }
}
