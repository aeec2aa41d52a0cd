import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_ASYNC_ENVS } from '../../src/config/cross-field.js';
import { packageRoot } from '../../src/util/paths.js';

const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'validate', ...args], { encoding: 'utf8' });

function write(config: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sparse-rl-validate-')), 'config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

const base = {
  name: 'validate-cli',
  totalSteps: 100000,
  environment: { type: 'gymnasium', id: 'Hopper-v5' },
  agent: { type: 'td3', learningStarts: 1000 },
};

describe('sparse-rl validate (the built CLI)', () => {
  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  });

  it('prints a valid config as valid, with nothing on stderr', () => {
    const r = run(write(base));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/config\.json: valid\n$/);
  });

  it.skipIf(availableParallelism() >= MAX_ASYNC_ENVS)('prints a cross-field warning as "warning: path: message" and still exits 0', () => {
    const numEnvs = availableParallelism() + 1;
    const r = run(write({ ...base, environment: { ...base.environment, numEnvs, vectorization: 'async' }, evaluation: { seedOffset: 1000 } }));
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`warning: environment.numEnvs: ${numEnvs} async worker processes on the ${availableParallelism()} core(s) of this machine: the workers compete for the cores and each step waits for the slowest; numEnvs <= ${availableParallelism()} or vectorization "sync" is usually faster, got ${numEnvs}\n`);
    expect(r.stdout).toMatch(/: valid \(1 warning\(s\)\)\n$/);
  });

  it('reports cross-field errors with their paths and exits 1', () => {
    const r = run(write({ ...base, replayBuffer: { type: 'uniform', capacity: 1e12 } }));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/config\.json: 2 problem\(s\)\n {2}replayBuffer\.capacity: 1e12 transitions need Float32Arrays/);
    expect(r.stderr).toContain('  replayBuffer.capacity: 1e12 transitions need ≈ 1.12e14 bytes (102 TiB) for Hopper-v5 (obs 11, act 3), 112 bytes per transition in a uniform buffer');
  });

  it('accepts --set, --seed and --total-steps; --print shows the result with defaults', () => {
    const file = write(base);
    const ok = run(file, '--set', 'agent.batchSize=128', '--set', 'loggers[0].type=tensorboard', '--seed', '4', '--total-steps', '20000', '--print');
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const config = JSON.parse(ok.stdout);
    expect(config).toMatchObject({ seed: 4, totalSteps: 20000, agent: { batchSize: 128, gamma: 0.99 }, loggers: [{ type: 'tensorboard' }], replayBuffer: { type: 'uniform', capacity: 1000000 } });
    expect(run(file, '--seed', '4').stdout).toMatch(/: valid \(1 override\(s\)\)\n$/);

    const bad = run(file, '--set', 'agent.batchSize=abc', '--total-steps', '500');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('  --set agent.batchSize=abc: agent.batchSize: must be integer, got "abc"\n');
    const cross = run(file, '--total-steps', '500');
    expect(cross.stderr).toContain('  --total-steps 500: agent.learningStarts: must be < totalSteps (500)');
    const path = run(file, '--set', 'totalSteps.x=1');
    expect(path.stderr).toContain('  --set totalSteps.x=1: totalSteps.x: cannot set totalSteps.x: totalSteps is a number (100000), not an object or array, got 1\n');
  });
});
