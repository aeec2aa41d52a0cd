import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PluginRegistry, resolvePlugin } from '../../src/plugin/plugin-registry.js';

/** A dependency-free plugin module (binds by the token's registered symbol, as a JS plugin may). */
const manifest = (name: string) => `export default {
  id: 'sparsifier.${name}', kind: 'sparsifier', description: '${name}',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  register: ({ bind }) => bind(Symbol.for('sparse-rl.Sparsifier')).toConstantValue({ initialize() {} }),
};\n`;

describe('plugin resolution', () => {
  it('a package name resolves from the config\'s folder (not from sparse-rl\'s install), with its version recorded', async () => {
    const project = mkdtempSync(join(tmpdir(), 'sparse-rl-resolve-'));
    const pkg = join(project, 'node_modules', 'sparse-rl-sparsifier-local');
    mkdirSync(join(pkg, 'lib'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'sparse-rl-sparsifier-local', version: '1.2.3', type: 'module', exports: { '.': { import: './lib/main.js' } } }));
    writeFileSync(join(pkg, 'lib', 'main.js'), manifest('local'));
    const configDir = join(project, 'experiments');
    mkdirSync(configDir);
    expect(resolvePlugin('sparse-rl-sparsifier-local', [configDir])).toBe(join(pkg, 'lib', 'main.js'));
    const registry = await PluginRegistry.load(['sparse-rl-sparsifier-local'], configDir);
    expect(registry.source('sparsifier.local')).toMatchObject({ specifier: 'sparse-rl-sparsifier-local', file: join(pkg, 'lib', 'main.js'), version: '1.2.3' });
    // from a run directory below the project the name still resolves, so config.json keeps it
    expect(registry.referencesFrom(join(project, 'runs', 'x', 'stamp'))).toEqual(['sparse-rl-sparsifier-local']);
    // from elsewhere the reference becomes a path to the loaded file
    const elsewhere = mkdtempSync(join(tmpdir(), 'sparse-rl-elsewhere-'));
    expect(registry.referencesFrom(elsewhere)[0]).toMatch(/^\.\.\/.*lib\/main\.js$/);
  });

  it('an unresolvable package name names the folders searched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-missing-'));
    await expect(PluginRegistry.load(['sparse-rl-no-such-plugin'], dir)).rejects.toThrow(/cannot load "sparse-rl-no-such-plugin".*cannot resolve package "sparse-rl-no-such-plugin" from .*sparse-rl-missing-/);
  });

  it('a plugin folder given by path loads its package entry (main / exports) or index.js', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-folder-'));
    mkdirSync(join(dir, 'with-main'));
    writeFileSync(join(dir, 'with-main', 'package.json'), JSON.stringify({ type: 'module', main: 'entry.js' }));
    writeFileSync(join(dir, 'with-main', 'entry.js'), manifest('with-main'));
    mkdirSync(join(dir, 'bare'));
    writeFileSync(join(dir, 'bare', 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(dir, 'bare', 'index.js'), manifest('bare'));
    const registry = await PluginRegistry.load(['./with-main', './bare'], dir);
    expect(registry.source('sparsifier.with-main').file).toBe(join(dir, 'with-main', 'entry.js'));
    expect(registry.source('sparsifier.bare').file).toBe(join(dir, 'bare', 'index.js'));
  });
});
