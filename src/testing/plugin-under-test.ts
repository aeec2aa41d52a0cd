import { pathToFileURL } from 'node:url';
import type { PluginSource } from '../plugin/plugin-checks.js';
import { assertManifest, type PluginManifest } from '../plugin/plugin-manifest.js';
import { moduleSource, PluginRegistry, resolvePlugin } from '../plugin/plugin-registry.js';

/** What `testSparsifier` accepts as the plugin: a manifest, a module namespace with a default export, or a module path / package name. */
export type PluginUnderTest = string | PluginManifest<never> | { readonly default: PluginManifest<never> };

/**
 * Loads the plugin under test with the built-ins, with the checks a run makes (manifest shape,
 * options schema, defaults). A module path or package name resolves as a config's `plugins`
 * entry does; a manifest (or module namespace) is taken as given; either replaces a built-in of
 * the same id (a built-in's own manifest object is the built-in itself).
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
    origin = moduleSource(plugin, file);
  } else {
    manifest = isNamespace(plugin) ? plugin.default : plugin;
    origin = { specifier: '(manifest given to testSparsifier)' };
  }
  assertManifest(manifest, origin.file ? `"${origin.specifier}" (${origin.file})` : origin.specifier);
  if (manifest.kind !== 'sparsifier') throw new Error(`sparse-rl/testing: plugin ${manifest.id} is a ${manifest.kind} plugin; testSparsifier tests sparsifiers`);
  const base = await PluginRegistry.load([], baseDir);
  if (base.all().includes(manifest)) return { registry: base, manifest };
  return { registry: base.with(manifest, origin), manifest };
}

function isNamespace(p: Exclude<PluginUnderTest, string>): p is { readonly default: PluginManifest<never> } {
  return !('id' in p) && 'default' in p;
}
