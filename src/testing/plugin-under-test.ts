import { pathToFileURL } from 'node:url';
import { checkOptionsSchema, type PluginSource } from '../plugin/plugin-checks.js';
import { assertManifest, type PluginKind, type PluginManifest } from '../plugin/plugin-manifest.js';
import { PluginRegistry, resolvePlugin } from '../plugin/plugin-registry.js';

/** What `testSparsifier` accepts as the plugin: a manifest, a module namespace with a default export, or a module path / package name. */
export type PluginUnderTest = string | PluginManifest<never> | { readonly default: PluginManifest<never> };

/**
 * A registry = the built-ins plus one manifest given as an object (it replaces a built-in of the
 * same id): what `PluginRegistry.load` gives for a module path, for a manifest the caller already
 * imported. Same public surface as `PluginRegistry` (what `ConfigValidator` and `RunContainer` use).
 */
class OverlayRegistry {
  constructor(
    private readonly base: PluginRegistry,
    private readonly manifest: PluginManifest,
    private readonly origin: PluginSource,
  ) {}

  ofKind(kind: PluginKind): PluginManifest[] {
    const others = this.base.ofKind(kind).filter((m) => m.id !== this.manifest.id);
    return (this.manifest.kind === kind ? [...others, this.manifest] : others).sort((a, b) => a.id.localeCompare(b.id));
  }

  get(id: string): PluginManifest {
    return id === this.manifest.id ? this.manifest : this.base.get(id);
  }

  source(id: string): PluginSource {
    return id === this.manifest.id ? this.origin : this.base.source(id);
  }

  all(): PluginManifest[] {
    return [...this.base.all().filter((m) => m.id !== this.manifest.id), this.manifest];
  }

  external(): PluginSource[] {
    return [...this.base.external().filter((s) => s.id !== this.manifest.id), this.origin];
  }

  referencesFrom(dir: string): string[] {
    return this.base.referencesFrom(dir);
  }
}

/**
 * Loads the plugin under test with the built-ins: a module path or package name goes through
 * `PluginRegistry.load` (the checks a run makes: manifest shape, options schema, defaults), unless
 * its id is a built-in's (then, as a manifest object, it replaces that built-in). A manifest object
 * gets the same load-time checks.
 * @param baseDir where relative paths and package names resolve from
 * @throws Error when the plugin cannot be loaded, fails the load-time checks, or is not a sparsifier
 */
export async function loadPluginUnderTest(plugin: PluginUnderTest, baseDir: string): Promise<{ registry: PluginRegistry; manifest: PluginManifest }> {
  let manifest: unknown;
  let origin: Omit<PluginSource, 'id'>;
  if (typeof plugin === 'string') {
    let file: string;
    try {
      file = resolvePlugin(plugin, [baseDir, process.cwd()]);
      manifest = ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
    } catch (e) {
      throw new Error(`sparse-rl/testing: cannot load plugin "${plugin}": ${(e as Error).message}`, { cause: e });
    }
    assertManifest(manifest, `"${plugin}" (${file})`);
    const builtins = await PluginRegistry.load([], baseDir);
    if (!builtins.all().some((m) => m.id === (manifest as PluginManifest).id)) {
      const registry = await PluginRegistry.load([plugin], baseDir);
      return { registry, manifest: checkKind(registry.get((manifest as PluginManifest).id)) };
    }
    origin = { specifier: plugin, file };
  } else {
    manifest = isNamespace(plugin) ? plugin.default : plugin;
    assertManifest(manifest, 'the manifest given to testSparsifier');
    origin = { specifier: '(manifest given to testSparsifier)' };
  }
  const m = checkKind(manifest as PluginManifest);
  const base = await PluginRegistry.load([], baseDir);
  if (base.all().includes(m)) return { registry: base, manifest: m };
  const source: PluginSource = { id: m.id, ...origin };
  checkOptionsSchema(m, source);
  return { registry: new OverlayRegistry(base, m, source) as unknown as PluginRegistry, manifest: m };
}

function isNamespace(p: Exclude<PluginUnderTest, string>): p is { readonly default: PluginManifest<never> } {
  return !('id' in p) && 'default' in p;
}

function checkKind(m: PluginManifest): PluginManifest {
  if (m.kind !== 'sparsifier') throw new Error(`sparse-rl/testing: plugin ${m.id} is a ${m.kind} plugin; testSparsifier tests sparsifiers`);
  return m;
}
