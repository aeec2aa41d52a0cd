import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigValidator, formatIssue, loadConfig } from '../../src/config/validate.js';
import type { ExperimentConfig } from '../../src/config/experiment-config.js';
import { Sparsifier } from '../../src/core/sparsifier.js';
import { PluginError } from '../../src/plugin/plugin-checks.js';
import { PluginRegistry } from '../../src/plugin/plugin-registry.js';
import { RunContainer } from '../../src/plugin/run-container.js';
import { train } from '../../src/train/trainer.js';

const broken = (name: string) => resolve('test/fixtures/plugins/broken', `${name}.ts`);
const spec = {
  envId: 'fixture', observationSize: 4, actionSize: 1, numEnvs: 1,
  observationSpace: { type: 'box', shape: [4], dtype: 'float32', low: [-1, -1, -1, -1], high: [1, 1, 1, 1] },
  actionSpace: { type: 'box', shape: [1], dtype: 'float32', low: [-1], high: [1] },
} as const;

/** A validated tiny TD3 config on InvertedPendulum-v5 with sparsifier `type`. */
function config(registry: PluginRegistry, type: string, extra: Record<string, unknown> = {}): ExperimentConfig {
  const { config: c, issues } = new ConfigValidator(registry).validate({
    name: 'plugin-checks', seed: 3, totalSteps: 40,
    environment: { type: 'gymnasium', id: 'InvertedPendulum-v5' },
    agent: { type: 'td3', learningStarts: 10, batchSize: 8, hiddenSizes: [8] },
    sparsifier: { type }, replayBuffer: { type: 'uniform', capacity: 1000 },
    evaluation: { interval: 40, episodes: 1 }, checkpoint: { interval: 40 },
    runtime: { engine: 'tfjs', backend: 'cpu' }, output: { progress: 'none' }, ...extra,
  });
  expect(issues.map(formatIssue)).toEqual([]);
  return c!;
}

/** The error `promise` rejects with. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('load-time checks name the plugin, its file and the member', () => {
  /** Composes a run and resolves its sparsifier: a constant binding is checked as it is bound, a resolved one as it is resolved. */
  const resolveSparsifier = (registry: PluginRegistry, type: string) =>
    rejection((async () => new RunContainer(config(registry, type), registry, { environmentSpec: spec }).get(Sparsifier))());

  it('a bound service missing a required member fails before the run starts', async () => {
    const registry = await PluginRegistry.load([broken('missing-member')]);
    const e = await resolveSparsifier(registry, 'missing-member');
    expect(e).toBeInstanceOf(PluginError);
    expect(e.message).toContain('plugin sparsifier.missing-member');
    expect(e.message).toContain(broken('missing-member'));
    expect(e.message).toContain('lacks required member "initialize"');
    expect((e as PluginError).member).toBe('initialize');
  });

  it('a hook that is not a function fails at load', async () => {
    const registry = await PluginRegistry.load([broken('bad-hook-type')]);
    const e = await resolveSparsifier(registry, 'bad-hook-type');
    expect(e.message).toMatch(/plugin sparsifier\.bad-hook-type \(.*bad-hook-type\.ts\): member "metrics" of the bound Sparsifier must be a function, got number/);
  });

  it('an optionsSchema that is not valid JSON Schema fails when the plugin is loaded', async () => {
    const e = await rejection(PluginRegistry.load([broken('invalid-schema')]));
    expect(e).toBeInstanceOf(PluginError);
    expect(e.message).toContain('plugin sparsifier.invalid-schema');
    expect(e.message).toContain(broken('invalid-schema'));
    expect(e.message).toContain('optionsSchema is not a valid JSON Schema');
    expect(e.message).toContain('minimum');
  });

  it('a default that violates the plugin\'s own schema is the plugin\'s error, not the user\'s', async () => {
    const e = await rejection(PluginRegistry.load([broken('bad-default')]));
    expect(e.message).toContain('plugin sparsifier.bad-default');
    expect(e.message).toContain(broken('bad-default'));
    expect(e.message).toContain('the default of option "dropFraction" (1.5) violates the plugin\'s own schema');
    expect((e as PluginError).member).toBe('optionsSchema.properties.dropFraction');
  });

  it('a register that binds nothing fails when the run is composed', async () => {
    const registry = await PluginRegistry.load([broken('binds-nothing')]);
    expect(() => new RunContainer(config(registry, 'binds-nothing'), registry, { environmentSpec: spec })).toThrow(
      /plugin sparsifier\.binds-nothing \(.*binds-nothing\.ts\): register must bind the sparsifier token \(sparse-rl\.Sparsifier\); it bound nothing/,
    );
  });

  it('a built-in plugin is checked the same way (all built-ins load cleanly)', async () => {
    const registry = await PluginRegistry.load();
    expect(registry.all().length).toBeGreaterThanOrEqual(12);
    expect(registry.source('sparsifier.rigl').specifier).toBe('built-in');
  });
});

describe('an exception inside a plugin hook during training (real MuJoCo through the bridge)', () => {
  it('is reported with the plugin id and the original stack, and the run is recorded as failed', async () => {
    const registry = await PluginRegistry.load([broken('throws-in-hook')]);
    const runDir = join(mkdtempSync(join(tmpdir(), 'sparse-rl-hook-error-')), 'run');
    const e = await rejection(train(new RunContainer(config(registry, 'throws-in-hook'), registry), { runDir }));
    expect(e).toBeInstanceOf(PluginError);
    expect(e.message).toContain('plugin sparsifier.throws-in-hook');
    expect(e.message).toContain('afterOptimizerStep threw: deliberate failure inside the plugin');
    expect((e.cause as Error).stack).toContain('explode');
    const metadata = JSON.parse(readFileSync(join(runDir, 'metadata.json'), 'utf8'));
    expect(metadata.status).toBe('failed');
    expect(metadata.error.pluginId).toBe('sparsifier.throws-in-hook');
    expect(metadata.error.member).toBe('afterOptimizerStep');
    expect(metadata.error.stack).toContain('throws-in-hook.ts');
    expect(metadata.plugins.find((p: { id: string }) => p.id === 'sparsifier.throws-in-hook')).toMatchObject({ specifier: broken('throws-in-hook'), file: broken('throws-in-hook') });
    expect(metadata.plugins.find((p: { id: string }) => p.id === 'sparsifier.throws-in-hook').sha256).toMatch(/^[0-9a-f]{64}$/);
    // the run's config.json names the plugin so that it resolves from the run directory
    const saved = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
    expect(saved.plugins).toEqual([relative(runDir, broken('throws-in-hook'))]);
    const reloaded = await loadConfig(join(runDir, 'config.json'));
    expect(reloaded.registry.source('sparsifier.throws-in-hook').file).toBe(broken('throws-in-hook'));
  });
});
