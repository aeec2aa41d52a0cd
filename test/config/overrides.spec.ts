import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { overridesFrom } from '../../src/cli/overrides.js';
import { applyOverrides, attributeIssues, parseOverride, seedOverride, totalStepsOverride, type Override } from '../../src/config/overrides.js';
import { ConfigError, formatIssue, loadConfig } from '../../src/config/validate.js';

type Json = Record<string, any>;
const raw = (): Json => ({
  name: 'overrides',
  seed: 1,
  totalSteps: 100000,
  environment: { type: 'gymnasium', id: 'InvertedPendulum-v5' },
  agent: { type: 'td3', learningStarts: 1000, hiddenSizes: [256, 256] },
  loggers: [{ type: 'tensorboard' }],
});
const apply = (...o: Override[]) => applyOverrides(raw(), o);
const applied = (...o: Override[]) => {
  const r = apply(...o);
  expect(r.issues.map(formatIssue)).toEqual([]);
  return r.raw as Json;
};
const problems = (...o: Override[]) => apply(...o).issues.map(formatIssue);

describe('applyOverrides', () => {
  it('parses numbers, booleans, null, arrays, JSON objects and quoted strings as JSON; anything else is a string', () => {
    const c = applied('agent.batchSize=128', 'agent.gamma=0.98', 'totalSteps=1e6', 'runtime.overlapEnvStep=false', 'agent.nStep=null', 'agent.hiddenSizes=[64,64]',
      'replayBuffer={"type":"dynamic-capacity","capacity":5000}', 'environment.id=Hopper-v5', 'name="123"', 'output.dir=', 'environment.kwargs.xml_file=a=b.xml');
    expect(c.agent).toMatchObject({ batchSize: 128, gamma: 0.98, nStep: null, hiddenSizes: [64, 64] });
    expect(c.totalSteps).toBe(1000000);
    expect(c.runtime).toEqual({ overlapEnvStep: false });
    expect(c.replayBuffer).toEqual({ type: 'dynamic-capacity', capacity: 5000 });
    expect(c.environment).toEqual({ type: 'gymnasium', id: 'Hopper-v5', kwargs: { xml_file: 'a=b.xml' } });
    expect(c.name).toBe('123');
    expect(c.output).toEqual({ dir: '' });
  });

  it('creates missing objects on a nested path and leaves the input untouched', () => {
    const input = raw();
    const { raw: out } = applyOverrides(input, ['agent.nStep.n=3', 'evaluation.seedOffset=200']);
    expect((out as Json).agent.nStep).toEqual({ n: 3 });
    expect((out as Json).evaluation).toEqual({ seedOffset: 200 });
    expect(input).toEqual(raw());
  });

  it('array items as [i] or as a numeric key; [i] on a missing value creates an array; the index may append', () => {
    expect(applied('loggers[0].type=x').loggers).toEqual([{ type: 'x' }]);
    expect(applied('loggers.0.flushSeconds=5').loggers).toEqual([{ type: 'tensorboard', flushSeconds: 5 }]);
    expect(applied('agent.hiddenSizes[1]=32', 'agent.hiddenSizes.2=16').agent.hiddenSizes).toEqual([256, 32, 16]);
    expect(applied('plugins[0]=./my-plugin.js').plugins).toEqual(['./my-plugin.js']);
    expect(applied('environment.kwargs.0=x').environment.kwargs).toEqual({ 0: 'x' }); // a numeric key of an object
    expect(parseOverride('loggers[0].type=x')).toMatchObject({ path: 'loggers[0].type', segments: ['loggers', 0, 'type'], value: 'x', source: '--set loggers[0].type=x' });
  });

  it('a top-level section an override creates starts from the given defaults; issues inside a created container are the override\'s', () => {
    const { raw: out, applied } = applyOverrides(raw(), ['replayBuffer.capacity=5000', 'evaluation.interval=10', 'loggers[1].type=x'], { defaults: { replayBuffer: { type: 'uniform' }, evaluation: {}, loggers: [] } });
    expect((out as Json).replayBuffer).toEqual({ type: 'uniform', capacity: 5000 });
    expect((out as Json).evaluation).toEqual({ interval: 10 });
    expect(applied.map((a) => a.created)).toEqual([['replayBuffer'], ['evaluation'], ['loggers[1]']]);
    expect(attributeIssues([{ path: 'loggers[1].flushSeconds', message: 'is required' }, { path: 'name', message: 'is required' }], applied).map(formatIssue)).toEqual([
      '--set loggers[1].type=x: loggers[1].flushSeconds: is required', 'name: is required',
    ]);
  });

  it('later overrides win', () => {
    expect(applied('seed=2', 'seed=3').seed).toBe(3);
  });

  it('a path through a non-object, a bad index or a malformed override is an error naming the --set', () => {
    expect(problems('seed.x=1')).toEqual(['--set seed.x=1: seed.x: cannot set seed.x: seed is a number (1), not an object or array, got 1']);
    expect(problems('environment.id.x=1')[0]).toContain('environment.id is a string ("InvertedPendulum-v5")');
    expect(problems('loggers[3].type=x')).toEqual(['--set loggers[3].type=x: loggers[3].type: cannot set loggers[3].type: loggers has 1 item(s); the index may be at most 1 (appends), got "x"']);
    expect(problems('loggers.type=x')[0]).toContain('loggers is an array; name an item as loggers[i]');
    expect(problems('agent[0]=x')[0]).toContain('agent is an object, not an array');
    expect(problems('agent.batchSize')).toEqual(['--set agent.batchSize: (root): expected PATH=VALUE, e.g. agent.batchSize=128 (no "=" found)']);
    for (const bad of ['a..b=1', '.a=1', 'a.=1', 'a[x]=1', 'a[0]b=1', '[0]=1', '=1', 'agent.__proto__.x=1']) expect(problems(bad), bad).toHaveLength(1);
    expect(problems('a..b=1')[0]).toMatch(/^--set a\.\.b=1: a\.\.b: malformed path "a\.\.b" at character 2/);
    expect(applyOverrides(5, ['seed=1']).issues.map(formatIssue)).toEqual(['--set seed=1: seed: cannot set seed: the config is a number (5), not an object, got 1']);
  });

  it('--seed and --total-steps are sets, applied after every --set and named as typed', () => {
    expect(seedOverride(7)).toEqual({ set: 'seed=7', source: '--seed 7' });
    expect(totalStepsOverride('5000')).toEqual({ set: 'totalSteps=5000', source: '--total-steps 5000' });
    const o = overridesFrom({ set: ['seed=4', 'agent.batchSize=64'], seed: '5', totalSteps: '2000' });
    expect(o).toEqual(['seed=4', 'agent.batchSize=64', { set: 'seed=5', source: '--seed 5' }, { set: 'totalSteps=2000', source: '--total-steps 2000' }]);
    const c = applied(...o);
    expect([c.seed, c.totalSteps, c.agent.batchSize]).toEqual([5, 2000, 64]);
    expect(overridesFrom({})).toEqual([]);
  });
});

describe('loadConfig with overrides', () => {
  const write = (c: Json = raw()) => {
    const file = join(mkdtempSync(join(tmpdir(), 'sparse-rl-overrides-')), 'config.json');
    writeFileSync(file, JSON.stringify(c));
    return file;
  };
  const issues = async (file: string, overrides: Override[]) => {
    const e = await loadConfig(file, { overrides }).catch((x) => x);
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues.map(formatIssue);
  };

  it('validates the overridden config like the file and fills in defaults (what a run records)', async () => {
    const file = write();
    const before = readFileSync(file, 'utf8');
    const { config } = await loadConfig(file, { overrides: ['agent.batchSize=128', 'environment.id=Hopper-v5', ...overridesFrom({ seed: '9', totalSteps: '20000' })] });
    expect(config).toMatchObject({ seed: 9, totalSteps: 20000, environment: { id: 'Hopper-v5', numEnvs: 1 }, agent: { batchSize: 128, gamma: 0.99 } });
    expect(Object.isFrozen(config.agent)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('a bad value names the --set', async () => {
    expect(await issues(write(), ['agent.batchSize=abc'])).toEqual(['--set agent.batchSize=abc: agent.batchSize: must be integer, got "abc"']);
    expect(await issues(write(), overridesFrom({ seed: 'abc' }))).toEqual(['--seed abc: seed: must be integer, got "abc"']);
    // the schema issue is on the ancestor the override made an object
    const noSeed = raw();
    delete noSeed.seed;
    expect(await issues(write(noSeed), ['seed.x=1'])).toEqual(['--set seed.x=1: seed: must be integer, got {"x":1}']);
    // an issue that no override caused has no source
    expect(await issues(write(), ['agent.batchSize=abc', 'agent.gamma=2'])).toEqual(['--set agent.batchSize=abc: agent.batchSize: must be integer, got "abc"', '--set agent.gamma=2: agent.gamma: must be <= 1, got 2']);
  });

  it('an unknown top-level key or an unknown plugin type names the --set', async () => {
    const [unknown] = await issues(write(), ['totalstep=5']);
    expect(unknown).toMatch(/^--set totalstep=5: totalstep: unknown property; allowed: \$schema, name, seed, totalSteps/);
    expect((await issues(write(), ['agent.type=ppo']))[0]).toMatch(/^--set agent\.type=ppo: agent\.type: unknown agent type; installed: sac, td3/);
    expect((await issues(write(), ['agent={"type":"sac","policyNoise":0.2}']))[0]).toMatch(/^--set agent=\{"type":"sac","policyNoise":0\.2\}: agent\.policyNoise: unknown property/);
  });

  it('an issue in an object the override created names it', async () => {
    expect((await issues(write(), ['sparsifier.actorSparsity=0.9']))[0]).toMatch(/^--set sparsifier\.actorSparsity=0\.9: sparsifier\.actorSparsity: unknown property/); // default dense
    expect(await issues(write(), ['replayBuffer={"capacity":10}'])).toEqual(['--set replayBuffer={"capacity":10}: replayBuffer.type: must be a string naming the replay-buffer plugin; installed: dynamic-capacity, uniform']);
  });

  it('malformed overrides fail before anything loads, all of them', async () => {
    expect(await issues(write(), ['seed.x=1', 'loggers[5]=1'])).toHaveLength(2);
  });

  it('cross-field issues name the override that set a field they read', async () => {
    expect(await issues(write(), overridesFrom({ totalSteps: '500' }))).toEqual([
      '--total-steps 500: agent.learningStarts: must be < totalSteps (500): the agent acts uniformly at random for its first learningStarts env steps and would never learn, got 1000',
    ]);
    expect((await issues(write(), ['environment.numEnvs=300']))[0]).toMatch(/^--set environment\.numEnvs=300: evaluation\.seedOffset: must be >= environment\.numEnvs \(300\)/);
    // replayBuffer is not in the file: the override keeps its default type (uniform)
    expect((await issues(write(), ['replayBuffer.capacity=1e12']))[0]).toMatch(/^--set replayBuffer\.capacity=1e12: replayBuffer\.capacity: 1e12 transitions need .* InvertedPendulum-v5 \(obs 4, act 1\)/);
  });
});
