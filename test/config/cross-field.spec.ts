import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  crossFieldIssues, estimateEnvironmentSizes, formatBytes, MAX_ASYNC_ENVS, machineFacts, MUJOCO_V5_SIZES, replayBytesPerTransition, replayMemoryIssues,
  startedEnvironmentIssues, type MachineFacts,
} from '../../src/config/cross-field.js';
import type { ExperimentConfig } from '../../src/config/experiment-config.js';
import { ConfigError, ConfigValidator, formatIssue, loadConfig, type ConfigIssue } from '../../src/config/validate.js';
import { PluginRegistry } from '../../src/plugin/plugin-registry.js';

const GiB = 2 ** 30;
/** A machine with 16 GiB (8 free), 4 cores and Node.js 20's typed-array limit. */
const machine: MachineFacts = { totalMemory: 16 * GiB, freeMemory: 8 * GiB, cores: 4, maxTypedArrayLength: 2 ** 32 };

type Json = Record<string, any>;
const base = (): Json => ({
  name: 'cross-field',
  totalSteps: 100000,
  environment: { type: 'gymnasium', id: 'HalfCheetah-v5' },
  agent: { type: 'td3', learningStarts: 1000 },
  replayBuffer: { type: 'uniform', capacity: 100000 },
});

let validator: ConfigValidator;
beforeAll(async () => {
  validator = new ConfigValidator(await PluginRegistry.load());
});

/** `mutate(base())`, validated against the schema (must pass). */
function config(mutate: (c: Json) => void = () => {}): ExperimentConfig {
  const c = base();
  mutate(c);
  const { config: v, issues } = validator.validate(c);
  expect(issues.map(formatIssue)).toEqual([]);
  return v!;
}

const check = (c: ExperimentConfig, facts: Parameters<typeof crossFieldIssues>[1] = {}) => crossFieldIssues(c, { ...facts, machine: { ...machine, ...facts.machine } });
const at = (issues: readonly ConfigIssue[], path: string) => issues.filter((i) => i.path === path);
const text = (issues: readonly ConfigIssue[]) => issues.map(formatIssue).join('\n');

describe('cross-field rules', () => {
  it('passes a sane config with no errors and no warnings', () => {
    expect(check(config())).toEqual({ errors: [], warnings: [] });
  });

  it.each(['td3', 'sac'])('agent.learningStarts >= totalSteps is an error (%s), naming both', (type) => {
    const { errors } = check(config((c) => (c.agent = { type, learningStarts: 100000 })));
    expect(errors.map((e) => e.path)).toEqual(['agent.learningStarts']);
    expect(formatIssue(errors[0])).toBe('agent.learningStarts: must be < totalSteps (100000): the agent acts uniformly at random for its first learningStarts env steps and would never learn, got 100000');
    expect(check(config((c) => (c.agent = { type, learningStarts: 99999 }))).errors).toEqual([]);
  });

  it('the default learningStarts (25000) against a short run is an error', () => {
    const { errors } = check(config((c) => { c.totalSteps = 5000; c.agent = { type: 'td3' }; }));
    expect(text(errors)).toContain('agent.learningStarts: must be < totalSteps (5000)');
  });

  it('agent.batchSize > replayBuffer.capacity is an error', () => {
    const { errors } = check(config((c) => { c.agent.batchSize = 512; c.replayBuffer.capacity = 300; c.agent.learningStarts = 100; }));
    expect(errors.map((e) => e.path)).toEqual(['agent.batchSize']);
    expect(formatIssue(errors[0])).toContain('agent.batchSize: must be <= replayBuffer.capacity (300)');
    expect(check(config((c) => { c.agent.batchSize = 300; c.replayBuffer.capacity = 300; })).errors).toEqual([]);
  });

  it('evaluation.seedOffset < environment.numEnvs is an error (default seedOffset 100)', () => {
    const { errors } = check(config((c) => (c.environment.numEnvs = 200)));
    expect(errors.map((e) => e.path)).toEqual(['evaluation.seedOffset']);
    expect(formatIssue(errors[0])).toMatch(/^evaluation\.seedOffset: must be >= environment\.numEnvs \(200\): .*seed \+ 0 … seed \+ 199.*, got 100$/);
    expect(check(config((c) => { c.environment.numEnvs = 200; c.evaluation = { seedOffset: 200 }; })).errors).toEqual([]);
  });

  it('seedOffset uses the started env numEnvs when given', () => {
    expect(at(check(config(), { numEnvs: 150 }).errors, 'evaluation.seedOffset')[0].message).toContain('(150, of the started environment)');
  });

  it(`async numEnvs above ${MAX_ASYNC_ENVS} is an error, even with seedOffset large enough`, () => {
    const { errors, warnings } = check(config((c) => { c.environment.numEnvs = 300; c.environment.vectorization = 'async'; c.evaluation = { seedOffset: 1000 }; }));
    expect(errors.map((e) => e.path)).toEqual(['environment.numEnvs']);
    expect(formatIssue(errors[0])).toContain(`environment.numEnvs: must be <= ${MAX_ASYNC_ENVS} with vectorization "async"`);
    expect(warnings).toEqual([]);
    // sync: one process, no such limit (the schema's maximum 1024 applies)
    expect(check(config((c) => { c.environment.numEnvs = 300; c.evaluation = { seedOffset: 1000 }; })).errors).toEqual([]);
  });

  it('async numEnvs above the core count is a warning naming the cores; not for sync or a remote bridge', () => {
    const { errors, warnings } = check(config((c) => { c.environment.numEnvs = 8; c.environment.vectorization = 'async'; }));
    expect(errors).toEqual([]);
    expect(warnings.map((w) => w.path)).toEqual(['environment.numEnvs']);
    expect(formatIssue(warnings[0])).toContain('8 async worker processes on the 4 core(s) of this machine');
    expect(check(config((c) => { c.environment.numEnvs = 4; c.environment.vectorization = 'async'; })).warnings).toEqual([]);
    expect(check(config((c) => (c.environment.numEnvs = 8))).warnings).toEqual([]);
    expect(check(config((c) => { c.environment.numEnvs = 8; c.environment.vectorization = 'async'; c.environment.remote = { endpoint: 'tcp://gpu-box:5555' }; })).warnings).toEqual([]);
  });

  it('dynamic-capacity minSize >= capacity is a warning', () => {
    const { warnings } = check(config((c) => (c.replayBuffer = { type: 'dynamic-capacity', capacity: 50000 })));
    expect(warnings.map(formatIssue)).toEqual(['replayBuffer.minSize: is >= replayBuffer.capacity (50000): the buffer never shrinks, so it acts as a uniform buffer, got 100000']);
  });

  it('skips the rules that read the options of plugin types it does not know', () => {
    const c = config((x) => { x.agent.learningStarts = 1000; x.replayBuffer.capacity = 1e12; x.environment.numEnvs = 200; });
    const external = { ...c, agent: { type: 'ppo', learningStarts: 1e9, batchSize: 1e9 }, replayBuffer: { type: 'prioritized', capacity: 1e12 }, environment: { type: 'dm-control', numEnvs: 5000 } } as ExperimentConfig;
    expect(check(external)).toEqual({ errors: [], warnings: [] });
  });
});

describe('the replay-memory rule', () => {
  it('capacity 1e12 names replayBuffer.capacity with the byte estimate, the env sizes and the machine', () => {
    const { errors } = check(config((c) => (c.replayBuffer.capacity = 1e12)));
    expect(errors.map((e) => e.path)).toEqual(['replayBuffer.capacity', 'replayBuffer.capacity']);
    const memory = errors.find((e) => e.message.includes('bytes'))!;
    // 1e12 × (2·17 + 6 + 3) · 4 bytes
    expect(formatIssue(memory)).toBe(
      'replayBuffer.capacity: 1e12 transitions need ≈ 1.72e14 bytes (156 TiB) for HalfCheetah-v5 (obs 17, act 6), 172 bytes per transition in a uniform buffer: ' +
        "more than this machine's 16 GiB of memory; at most ≈ 9.99e7 transitions fit, got 1000000000000",
    );
    // the array that would fail as a bare "Invalid typed array length"
    expect(text(errors)).toContain('1e12 transitions need Float32Arrays of capacity × 17 = 1.70e13 elements for HalfCheetah-v5 (obs 17, act 6), more than the 4294967296 one array can hold');
  });

  it('a capacity that fits in memory but not in one Float32Array is an error of its own', () => {
    const { errors, warnings } = check(config((c) => { c.environment.id = 'Humanoid-v5'; c.replayBuffer.capacity = 2e7; c.checkpoint = { replayBuffer: false }; }), { machine: { totalMemory: 1024 * GiB, freeMemory: 1000 * GiB } });
    expect(errors.map(formatIssue)).toEqual([
      `replayBuffer.capacity: 2e7 transitions need Float32Arrays of capacity × 348 = 6.96e9 elements for Humanoid-v5 (obs 348, act 17), more than the 4294967296 one array can hold in Node.js ${process.version}; at most 12341860 transitions fit, got 20000000`,
    ]);
    expect(warnings).toEqual([]);
  });

  it('more than the free memory (twice the buffer while a checkpoint copies it) is a warning', () => {
    // Humanoid-v5: 2e6 × (2·348 + 17 + 3) · 4 = 5.73e9 bytes (5.33 GiB); 8 GiB free
    const humanoid = (checkpointBuffer: boolean) => config((c) => { c.environment.id = 'Humanoid-v5'; c.replayBuffer.capacity = 2e6; c.checkpoint = { replayBuffer: checkpointBuffer }; });
    const { errors, warnings } = check(humanoid(true));
    expect(errors).toEqual([]);
    expect(warnings.map(formatIssue)).toEqual([
      'replayBuffer.capacity: 2e6 transitions need ≈ 5.73e9 bytes (5.33 GiB) for Humanoid-v5 (obs 348, act 17), 2864 bytes per transition in a uniform buffer, ' +
        'and as much again while a checkpoint copies it (checkpoint.replayBuffer): more than the 8 GiB free now (of 16 GiB); the run may swap or be killed when the buffer fills, got 2000000',
    ]);
    expect(check(humanoid(false)).warnings).toEqual([]);
  });

  it('unknown envs and shape-changing kwargs use the lower bound obs 1, act 1, and say so', () => {
    const unknown = check(config((c) => { c.environment.id = 'MyRobot-v0'; c.replayBuffer.capacity = 1e12; }));
    expect(text(unknown.errors)).toContain('≈ 2.40e13 bytes (21.8 TiB) for MyRobot-v0 (obs ≥ 1, act ≥ 1: a lower bound, its sizes are known only once it runs)');
    const ant = estimateEnvironmentSizes(config((c) => { c.environment.id = 'Ant-v5'; c.environment.kwargs = { include_cfrc_ext_in_observation: false, ctrl_cost_weight: 0.1 }; }).environment);
    expect(ant).toMatchObject({ observationSize: 1, actionSize: 1, exact: false });
    expect(ant.description).toContain('environment.kwargs include_cfrc_ext_in_observation');
    const neutral = estimateEnvironmentSizes(config((c) => { c.environment.id = 'Ant-v5'; c.environment.kwargs = { ctrl_cost_weight: 0.1, healthy_z_range: [0.2, 1], reset_noise_scale: 0.1 }; }).environment);
    expect(neutral).toMatchObject({ observationSize: 105, actionSize: 8, exact: true });
  });

  it('dynamic-capacity also stores actionMean', () => {
    expect(replayBytesPerTransition('uniform', MUJOCO_V5_SIZES['HalfCheetah-v5'])).toBe(172);
    expect(replayBytesPerTransition('dynamic-capacity', MUJOCO_V5_SIZES['HalfCheetah-v5'])).toBe(196);
    expect(replayBytesPerTransition('prioritized', MUJOCO_V5_SIZES['HalfCheetah-v5'])).toBeUndefined();
    const { errors } = check(config((c) => (c.replayBuffer = { type: 'dynamic-capacity', capacity: 1e12, minSize: 100 })));
    expect(text(errors)).toContain('196 bytes per transition in a dynamic-capacity buffer');
  });

  it('the trainer re-checks with the started env: same messages, real sizes, real numEnvs', () => {
    const c = config((x) => { x.environment.id = 'Ant-v5'; x.environment.kwargs = { include_cfrc_ext_in_observation: false }; x.replayBuffer.capacity = 1e8; });
    const { errors } = startedEnvironmentIssues(c, { observationSize: 27, actionSize: 8, numEnvs: 101 }, machine);
    expect(errors.map((e) => e.path)).toEqual(['evaluation.seedOffset', 'replayBuffer.capacity']);
    expect(formatIssue(errors[1])).toContain('1e8 transitions need ≈ 2.60e10 bytes (24.2 GiB) for Ant-v5 (obs 27, act 8), 260 bytes per transition');
    expect(replayMemoryIssues(c, { observationSize: 27, actionSize: 8 }, machine).errors).toEqual([errors[1]]);
    expect(startedEnvironmentIssues(config(), { observationSize: 17, actionSize: 6, numEnvs: 1 }, machine)).toEqual({ errors: [], warnings: [] });
  });

  it('MuJoCo v5 sizes table (verified with gymnasium 1.2.3)', () => {
    expect(Object.fromEntries(Object.entries(MUJOCO_V5_SIZES).map(([k, v]) => [k, [v.observationSize, v.actionSize]]))).toEqual({
      'HalfCheetah-v5': [17, 6], 'Hopper-v5': [11, 3], 'Walker2d-v5': [17, 6], 'Ant-v5': [105, 8], 'Humanoid-v5': [348, 17], 'HumanoidStandup-v5': [348, 17],
      'InvertedPendulum-v5': [4, 1], 'InvertedDoublePendulum-v5': [9, 1], 'Reacher-v5': [10, 2], 'Swimmer-v5': [8, 2], 'Pusher-v5': [23, 7],
    });
  });

  it('formats bytes in binary units and reads this machine', () => {
    expect([512, 1536, 16 * GiB, 1.72e14].map(formatBytes)).toEqual(['512 B', '1.5 KiB', '16 GiB', '156 TiB']);
    const m = machineFacts();
    expect(m.cores).toBeGreaterThanOrEqual(1);
    expect(m.totalMemory).toBeGreaterThan(0);
    expect(m.maxTypedArrayLength).toBeGreaterThanOrEqual(2 ** 31);
  });
});

describe('loadConfig runs the cross-field rules', () => {
  const write = (c: Json) => {
    const file = join(mkdtempSync(join(tmpdir(), 'sparse-rl-cross-')), 'config.json');
    writeFileSync(file, JSON.stringify(c));
    return file;
  };

  it('throws every cross-field error as a ConfigError with its path', async () => {
    const c = base();
    c.agent.learningStarts = 200000;
    c.replayBuffer.capacity = 1e12;
    c.environment.numEnvs = 150;
    const e = await loadConfig(write(c), { facts: { machine } }).catch((x) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).issues.map((i) => i.path)).toEqual(['agent.learningStarts', 'evaluation.seedOffset', 'replayBuffer.capacity', 'replayBuffer.capacity']);
    expect((e as ConfigError).message).toContain('replayBuffer.capacity: 1e12 transitions need ≈ 1.72e14 bytes (156 TiB)');
  });

  it('returns warnings, and skips the rules with crossField: false', async () => {
    const c = base();
    c.environment.numEnvs = 8;
    c.environment.vectorization = 'async';
    const { warnings } = await loadConfig(write(c), { facts: { machine } });
    expect(warnings.map((w) => w.path)).toEqual(['environment.numEnvs']);
    c.agent.learningStarts = 1e6;
    await expect(loadConfig(write(c), { facts: { machine } })).rejects.toThrow(/agent\.learningStarts: must be < totalSteps/);
    expect((await loadConfig(write(c), { crossField: false })).warnings).toEqual([]);
  });
});
