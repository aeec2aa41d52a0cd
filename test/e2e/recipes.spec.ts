import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readConfigFile } from '../../src/config/validate.js';
import { PluginRegistry } from '../../src/plugin/plugin-registry.js';
import { packageRoot } from '../../src/util/paths.js';
import { merge, runRecipe, type Json } from '../helpers/recipe-run.js';
import { methodRecipes as recipes, tiny } from '../helpers/recipes.js';

describe('recipes in configs/ run end to end (real MuJoCo through the bridge, tiny overrides)', async () => {
  const registry = await PluginRegistry.load();

  it.each(recipes)('%s', async (method, overrides) => {
    const raw = merge(merge(readConfigFile(join(packageRoot(), 'configs', method, 'hopper-v5.json')) as Json, tiny), overrides);
    const { result, records, summary } = await runRecipe(registry, raw, `recipe-${method}`);
    expect(result.steps).toBe(400);
    expect(summary.flops['flops/train_ratio']).toBeGreaterThan(0);
    expect(summary.flops['flops/inference_ratio']).toBeGreaterThan(0);
    const last = records.filter((r) => 'eval/mean_return' in r).at(-1)!;
    expect(Number.isFinite(last['eval/mean_return'])).toBe(true);
    if (method === 'dense-td3') expect(summary.flops['flops/train_ratio']).toBe(1);
    else expect(summary.flops['flops/params_ratio']).toBeLessThan(1);
    if (['rlx2-td3', 'rlx2-sac', 'rigl-td3', 'set-td3'].includes(method)) {
      // topology updates happened (300 iterations, ΔT = 50): some initial connections are gone
      expect(last['topology/critic_mask_change']).toBeGreaterThan(0);
    }
    // DS-TD3: adaptations at it = 2, 52, …, 202 and a prune-only last one at 252 (> stopAt 250)
    if (method === 'ds-td3') expect(last['topology/critic_dropped']).toBeGreaterThan(0);
    if (method === 'ds-td3') expect(last['topology/critic_grown']).toBe(0);
    if (method.startsWith('rlx2')) {
      // buffer checks at 100, 200, 300, 400 with threshold 0 → the buffer shrank
      const checks = records.filter((r) => 'buffer/size' in r);
      expect(checks.length).toBe(4);
      expect(checks.some((r) => r['buffer/dropped'] > 0)).toBe(true);
      expect(summary.bufferSize).toBeLessThan(400);
    }
  });
});
