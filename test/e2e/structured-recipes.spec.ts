import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readConfigFile } from '../../src/config/validate.js';
import { circulantLayout, expandBlockMask, extractCirculant, materializeCirculant } from '../../src/sparse/block-circulant.js';
import { PluginRegistry } from '../../src/plugin/plugin-registry.js';
import { nmMaxGroupNonZeros } from '../../src/sparse/nm.js';
import { readSafetensors } from '../../src/train/safetensors.js';
import { packageRoot } from '../../src/util/paths.js';
import { merge, runRecipe, type Json } from '../helpers/recipe-run.js';
import { structuredRecipes as recipes, tiny } from '../helpers/recipes.js';

const networks = ['actor', 'actorTarget', 'critic1', 'critic2', 'critic1Target', 'critic2Target'];

it('covers every recipe of configs/rnm-td3, configs/gst and configs/gradual-pruning', () => {
  const all = ['rnm-td3', 'gst', 'gradual-pruning'].flatMap((d) => readdirSync(join(packageRoot(), 'configs', d)).map((f) => `${d}/${f}`));
  expect(recipes.map(([f]) => f).sort()).toEqual(all.sort());
});

describe('N:M, GST and pruning recipes run end to end (real MuJoCo through the bridge, tiny overrides)', async () => {
  const registry = await PluginRegistry.load();

  it.each(recipes)('%s', async (file, overrides) => {
    const raw = merge(merge(readConfigFile(join(packageRoot(), 'configs', file)) as Json, tiny), overrides);
    const { config, runDir, result, records, summary } = await runRecipe(registry, raw, 'structured');
    expect(result.steps).toBe(400);
    const last = records.filter((r) => 'eval/mean_return' in r).at(-1)!;
    expect(Number.isFinite(last['eval/mean_return'])).toBe(true);
    const { tensors } = readSafetensors(join(runDir, 'checkpoints', 'step-000000400', 'model.safetensors'));
    const sp = config.sparsifier as Json;

    if (sp.type === 'gst') {
      // every layer of all six networks: W exactly block-circulant within active blocks, exactly 0 in pruned ones
      for (const net of networks) {
        for (let k = 1; k <= 3; k++) {
          const w = tensors.get(`${net}.l${k}.weight`)!;
          const m = tensors.get(`${net}.l${k}.mask`);
          const layout = circulantLayout(w.shape[0], w.shape[1], sp.blockSize);
          const data = Float32Array.from(w.data);
          const blockMask = m ? Float32Array.from({ length: layout.outBlocks * layout.inBlocks }, (_, q) => m.data[Math.floor(q / layout.inBlocks) * sp.blockSize * w.shape[1] + (q % layout.inBlocks) * sp.blockSize]) : null;
          if (blockMask) expect([...expandBlockMask(blockMask, layout)], `${net}.l${k} mask is a block mask`).toEqual([...m!.data]);
          expect(materializeCirculant(extractCirculant(data, layout), layout, blockMask), `${net}.l${k}`).toEqual(data);
        }
      }
      // kernel auto: every circulant layer on the native engine's FFT path
      expect(last['gst/fft_layers']).toBe(String(summary.engine).startsWith('native') ? 9 : 0);
      // compression: 1 − 1/b from the first iteration (partial blocks of the 17- and 23-wide inputs store a bit more)
      const c = summary.flops;
      expect(c['compression/iterations']).toBe(300);
      expect(c['compression/average_ratio']).toBeGreaterThan(0.7);
      expect(c['flops/params_ratio']).toBeCloseTo(1 - c['compression/ratio'], 12);
      if (sp.controller === 'linear-ramp') {
        expect(c['compression/ratio']).toBeGreaterThan(c['compression/average_ratio']); // the ramp only raises
        expect(last['gst/target_sparsity']).toBeCloseTo(0.9, 12);
        expect(last['gst/block_sparsity/critic1.l2.weight']).toBeCloseTo(Math.floor(0.9 * 64) / 64, 12);
      } else {
        expect(records.filter((r) => 'gst/target_sparsity' in r).length).toBeGreaterThanOrEqual(4);
      }
      return;
    }
    // N:M: every layer of all six networks is masked; pruning: ERK may leave a tiny layer dense.
    // Every masked layer: W = 0 where M = 0
    for (const net of networks) {
      for (let k = 1; k <= 3; k++) {
        const w = tensors.get(`${net}.l${k}.weight`)!;
        const m = tensors.get(`${net}.l${k}.mask`);
        if (sp.type === 'nm') expect(m, `${net}.l${k} mask`).toBeDefined();
        if (!m) continue;
        let bad = 0;
        for (let i = 0; i < w.data.length; i++) if (m!.data[i] === 0 && w.data[i] !== 0) bad++;
        expect(bad).toBe(0);
        if (sp.type === 'nm') {
          const [out, inF] = w.shape;
          expect(nmMaxGroupNonZeros(Float32Array.from(m!.data), out, inF, sp.m)).toBeLessThanOrEqual(sp.n);
          expect(nmMaxGroupNonZeros(w.data as Float32Array, out, inF, sp.m)).toBeLessThanOrEqual(sp.n);
        }
      }
    }
    if (sp.type === 'nm') {
      // 300 critic iterations / 50 = 6 mask updates; 150 actor updates / 50 = 3
      expect(last['nm/mask_updates/critic']).toBe(6);
      expect(last['nm/mask_updates/actor']).toBe(3);
      // SAD is logged at the env step of every mask update (iteration i runs at env step 100 + i)
      expect(records.filter((r) => 'nm/mask_updates/critic' in r && !('eval/mean_return' in r)).map((r) => r.step)).toEqual([150, 200, 250, 300, 350, 400]);
      expect(records.filter((r) => 'nm/sad/critic2' in r && !('eval/mean_return' in r)).length).toBe(6);
      expect(records.filter((r) => 'nm/sad/actor' in r && !('eval/mean_return' in r)).map((r) => r.step)).toEqual([200, 300, 400]);
      for (const net of ['actor', 'critic1', 'critic2']) {
        expect(last[`nm/sad/${net}`]).toBeGreaterThanOrEqual(0);
        expect(last[`nm/sad_init/${net}`]).toBeGreaterThanOrEqual(0);
      }
      expect(last['sparsity/actor.l2.weight']).toBeCloseTo(1 - sp.n / sp.m, 10);
      expect(last['nm/hardware_support']).toBe(sp.n === 2 && sp.m === 4 ? 1 : 0);
      // FLOPs accounting sees the N/M density of the masks (theoretical)
      expect(summary.flops['flops/density/actor.l2.weight']).toBeCloseTo(sp.n / sp.m, 10);
      expect(summary.flops['flops/train_ratio']).toBeLessThan(1);
    } else {
      // 300 iterations ≥ endStep 250: the final per-network sparsity is reached
      expect(summary.finalSparsity['sparsity/actor']).toBeCloseTo(sp.actorSparsity, 2);
      expect(summary.finalSparsity['sparsity/critic']).toBeCloseTo(sp.criticSparsity, 2);
      expect(last['pruning/critic_scheduled_sparsity']).toBe(sp.criticSparsity);
    }
  });
});
