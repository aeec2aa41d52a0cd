import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readConfigFile } from '../../src/config/validate.js';
import { PluginRegistry } from '../../src/plugin/plugin-registry.js';
import { packageRoot } from '../../src/util/paths.js';
import { merge, runRecipe, withoutWallClock, type Json } from '../helpers/recipe-run.js';
import { methodRecipes, structuredRecipes, tiny } from '../helpers/recipes.js';

/**
 * Behaviour guard for restructurings: every recipe, seeded, on the portable tfjs `cpu` engine
 * (plain JS float32, identical on every x86-64 machine, unlike the -march=native addon), through
 * real MuJoCo, must produce the metrics recorded in `test/fixtures/metrics-trace/` before the
 * restructuring. Wall-clock keys are dropped. Re-record (only for an intended change of
 * behaviour) with `SPARSE_RL_RECORD_TRACE=1 npx vitest run test/e2e/metrics-trace.spec.ts`.
 */
const record = process.env.SPARSE_RL_RECORD_TRACE === '1';
const traceDir = join(packageRoot(), 'test', 'fixtures', 'metrics-trace');
const cpu = { runtime: { engine: 'tfjs', backend: 'cpu' } };
const cases: [string, string, Json][] = [
  ...methodRecipes.map(([m, o]): [string, string, Json] => [m, `${m}/hopper-v5.json`, o]),
  ...structuredRecipes.map(([f, o]): [string, string, Json] => [f.replace('/', '-').replace('.json', ''), f, o]),
];

const deterministic = withoutWallClock;

describe('seeded metrics trace of every recipe is unchanged (tfjs cpu engine, real MuJoCo)', async () => {
  const registry = await PluginRegistry.load();

  it.each(cases)('%s', async (name, file, overrides) => {
    const raw = merge(merge(merge(readConfigFile(join(packageRoot(), 'configs', file)) as Json, tiny), overrides), cpu);
    const { records } = await runRecipe(registry, raw, `trace-${name}`);
    const trace = deterministic(records);
    const fixture = join(traceDir, `${name}.json`);
    if (record || !existsSync(fixture)) {
      expect(record, `no recorded trace ${fixture}; record it with SPARSE_RL_RECORD_TRACE=1`).toBe(true);
      writeFileSync(fixture, `${JSON.stringify(trace)}\n`);
      return;
    }
    const expected = JSON.parse(readFileSync(fixture, 'utf8')) as Json[];
    expect(trace.length).toBe(expected.length);
    trace.forEach((r, i) => {
      expect(Object.keys(r).sort(), `record ${i} keys`).toEqual(Object.keys(expected[i]).sort());
      for (const [k, v] of Object.entries(expected[i])) {
        if (typeof v === 'number' && v !== 0) expect(Math.abs((r[k] - v) / v), `record ${i} (step ${r.step}) ${k}: ${r[k]} vs ${v}`).toBeLessThan(1e-9);
        else expect(r[k], `record ${i} (step ${r.step}) ${k}`).toEqual(v);
      }
    });
  });
});
