import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigValidator, formatIssue, loadConfig } from '../../src/config/validate.js';
import { PluginRegistry } from '../../src/plugin/plugin-registry.js';

const base = () => ({
  name: 'test',
  environment: { type: 'gymnasium', id: 'InvertedPendulum-v5' },
  agent: { type: 'td3' },
  sparsifier: { type: 'static', actorSparsity: 0.9, criticSparsity: 0.8 },
});

/** [case, mutate, expected JSON path, fragment of the message] */
const invalid: [string, (c: Record<string, any>) => void, string, string][] = [
  ['missing name', (c) => delete c.name, 'name', 'is required'],
  ['unknown agent type', (c) => (c.agent = { type: 'ppo' }), 'agent.type', 'installed: sac, td3'],
  ['sparsity above 1', (c) => (c.sparsifier.actorSparsity = 1.3), 'sparsifier.actorSparsity', 'must be < 1'],
  ['missing critic sparsity', (c) => delete c.sparsifier.criticSparsity, 'sparsifier.criticSparsity', 'is required'],
  ['batch size 0', (c) => (c.agent.batchSize = 0), 'agent.batchSize', 'must be >= 1'],
  ['gamma as string', (c) => (c.agent.gamma = '0.99'), 'agent.gamma', 'must be number'],
  ['numEnvs 0', (c) => (c.environment.numEnvs = 0), 'environment.numEnvs', 'must be >= 1'],
  ['unknown top-level key', (c) => (c.totalstep = 5), 'totalstep', 'allowed: $schema, name, seed, totalSteps'],
  ['unknown backend', (c) => (c.runtime = { backend: 'webgl' }), 'runtime.backend', 'must be one of "auto", "tensorflow", "wasm", "cpu"'],
  ['negative eval episodes', (c) => (c.evaluation = { episodes: -1 }), 'evaluation.episodes', 'must be >= 1'],
  ['zero hidden width', (c) => (c.agent.hiddenSizes = [256, 0]), 'agent.hiddenSizes[1]', 'must be >= 1'],
  ['fractional capacity', (c) => (c.replayBuffer = { type: 'uniform', capacity: 1.5 }), 'replayBuffer.capacity', 'must be integer'],
  ['missing env id', (c) => delete c.environment.id, 'environment.id', 'is required'],
  ['negative seed', (c) => (c.seed = -1), 'seed', 'must be >= 0'],
  ['unknown distribution', (c) => (c.sparsifier.sparsityDistribution = 'erk'), 'sparsifier.sparsityDistribution', 'must be one of'],
  ['unknown agent option', (c) => (c.agent.lr = 1e-3), 'agent.lr', 'allowed: type, hiddenSizes, actorLr'],
  ['unknown sparsifier type', (c) => (c.sparsifier = { type: 'magic' }), 'sparsifier.type', 'installed: dense, '], // the list grows with plugins
  ['missing agent', (c) => delete c.agent, 'agent', 'is required'],
  ['GST block size 3', (c) => (c.sparsifier = { type: 'gst', blockSize: 3 }), 'sparsifier.blockSize', 'must be one of 2, 4, 8, 16, 32, 64'],
  ['GST unknown mode', (c) => (c.sparsifier = { type: 'gst', mode: 'circ-unstructured' }), 'sparsifier.mode', 'must be one of "circulant-only", "circ+blockprune", "circ→unstructured"'],
];

describe('config validation', () => {
  let validator: ConfigValidator;
  beforeAll(async () => {
    validator = new ConfigValidator(await PluginRegistry.load());
  });

  it.each(invalid)('%s → reports its JSON path', (_name, mutate, path, fragment) => {
    const config = base();
    mutate(config);
    const { issues } = validator.validate(config);
    const issue = issues.find((i) => i.path === path);
    expect(issue, `issues: ${issues.map(formatIssue).join(' | ')}`).toBeDefined();
    expect(formatIssue(issue!)).toContain(fragment);
  });

  it('reports the offending value', () => {
    const c = base();
    c.sparsifier.actorSparsity = 1.3;
    const { issues } = validator.validate(c);
    expect(issues.map(formatIssue)).toContain('sparsifier.actorSparsity: must be < 1, got 1.3');
  });

  it('reports every error, not just the first', () => {
    const c: Record<string, any> = base();
    c.agent.batchSize = 0;
    c.seed = -1;
    c.environment.numEnvs = 0;
    expect(validator.validate(c).issues.map((i) => i.path).sort()).toEqual(['agent.batchSize', 'environment.numEnvs', 'seed']);
  });

  it('applies defaults from the schemas and freezes the result, leaving the input untouched', () => {
    const raw = base();
    const { config } = validator.validate(raw);
    expect(config).toBeDefined();
    expect(config!.agent).toMatchObject({ type: 'td3', batchSize: 256, gamma: 0.99, tau: 0.005, policyNoise: 0.2, noiseClip: 0.5, policyDelay: 2, explorationNoise: 0.1, learningStarts: 25000, hiddenSizes: [256, 256] });
    expect(config!.replayBuffer).toEqual({ type: 'uniform', capacity: 1000000 });
    expect(config!.sparsifier).toMatchObject({ sparsityDistribution: 'erdos-renyi-kernel', maskInit: 'random' });
    expect(config!.evaluation).toEqual({ interval: 5000, episodes: 10, seedOffset: 100, reseed: 'every', atStart: true });
    expect(config!.runtime).toEqual({ engine: 'auto', backend: 'auto', threads: 2, overlapEnvStep: true });
    expect(Object.isFrozen(config!.agent)).toBe(true);
    expect(raw.agent).toEqual({ type: 'td3' });
  });

  it('defaults the sparsifier to dense', () => {
    const c: Record<string, any> = base();
    delete c.sparsifier;
    expect(validator.validate(c).config!.sparsifier).toEqual({ type: 'dense' });
  });

  it('every shipped config in configs/ (recursively) is valid', async () => {
    const dir = join(import.meta.dirname, '../../configs');
    const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(1);
    for (const f of files) await expect(loadConfig(join(dir, f)), f).resolves.toBeDefined();
  });

  it('loads an external plugin named in the config and validates with its schema', async () => {
    const registry = await PluginRegistry.load(['./test/fixtures/plugins/sparsifier-every-other.ts'], join(import.meta.dirname, '../..'));
    const v = new ConfigValidator(registry);
    const c: Record<string, any> = base();
    c.sparsifier = { type: 'every-other', layers: 'x' };
    expect(v.validate(c).issues.map((i) => i.path)).toEqual(['sparsifier.layers']);
    c.sparsifier = { type: 'every-other' };
    expect(v.validate(c).config!.sparsifier).toEqual({ type: 'every-other', layers: 'hidden' });
  });

  it('a bad external plugin path names the path', async () => {
    await expect(PluginRegistry.load(['./nope/missing-plugin.js'])).rejects.toThrow(/missing-plugin\.js/);
  });
});
