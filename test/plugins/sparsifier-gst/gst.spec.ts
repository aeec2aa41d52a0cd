import { describe, expect, it } from 'vitest';
import type { GstOptions } from '../../../plugins/sparsifier-gst/gst-options.js';
import { GstSparsifier } from '../../../plugins/sparsifier-gst/gst-sparsifier.js';
import { RewardAwareController, type RewardControllerOptions } from '../../../plugins/sparsifier-gst/reward-aware-controller.js';
import type { NetworkGroup } from '../../../src/core/network-group.js';
import type { Mlp } from '../../../src/nn/engine.js';
import { createEngine } from '../../../src/nn/engines.js';
import { circulantLayout, circulantStorage, expandBlockMask, extractCirculant, materializeCirculant } from '../../../src/sparse/block-circulant.js';
import { CompressionTracker, compressionRatio, storedWeights } from '../../../src/sparse/flops.js';
import { activeCount } from '../../../src/sparse/sparsity-distribution.js';
import { Rng } from '../../../src/util/rng.js';
import { makeTd3, testEngines } from '../../helpers/td3-fixture.js';

const defaults: GstOptions = {
  blockSize: 4, mode: 'circ+blockprune', firstLayer: true, pruneInterval: 10, controller: 'reward-aware', tolerance: 0.05, increase: 0.05, decrease: 0.05,
  minSparsity: 0, maxSparsity: 0.9, initialSparsity: 0, cooldown: 2, warmup: 0, rampEnd: 100, switchMargin: 0.05, kernel: 'auto',
};

describe('GST reward-aware controller (docs/methods.md §9.2.5)', () => {
  const o: RewardControllerOptions = { tolerance: 0.1, increase: 0.1, decrease: 0.05, minSparsity: 0, maxSparsity: 0.3, initialSparsity: 0, cooldown: 2, warmup: 100 };
  it('moves the target up and down on a scripted return sequence exactly as specified', () => {
    const c = new RewardAwareController(o);
    const script: [ret: number, clock: number, action: string, target: number][] = [
      [1000, 50, 'warmup', 0], // before the warm-up: ignored, R* not set
      [10, 100, 'raise', 0.1], // no R* yet: passes; R* = 10
      [5, 110, 'lower', 0.05], // 5 < 10 − 0.1·10: cut by Δ⁻, cooldown 2
      [4, 115, 'lower', 0], // fails again: cut, cooldown restarts at 2
      [3, 118, 'lower', 0], // floored at S_min
      [9.5, 120, 'hold', 0], // passes (≥ 9) but cooling down (1 left)
      [20, 130, 'hold', 0], // passes, cooling down (0 left); R* = 20
      [19, 140, 'raise', 0.1], // ≥ 18
      [25, 150, 'raise', 0.2], // R* = 25
      [24, 160, 'raise', 0.3], // ≥ 22.5
      [30, 170, 'raise', 0.3], // capped at S_max; R* = 30
      [20, 180, 'lower', 0.25], // < 27
      [10, 190, 'lower', 0.2], // cooldown restarts at 2
      [29, 200, 'hold', 0.2],
      [29, 210, 'hold', 0.2],
      [29, 220, 'raise', 0.3],
    ];
    for (const [ret, clock, action, target] of script) {
      expect([c.observe(ret, clock), c.target], `R̄ = ${ret} at ${clock}`).toEqual([action, target]);
    }
    expect(c.metrics()).toMatchObject({ 'gst/best_return': 30, 'gst/raises': 6, 'gst/lowers': 5, 'gst/cooldown_left': 0 });
  });
  it('uses the tolerance on |R*| for negative returns, and validates its options', () => {
    const c = new RewardAwareController({ ...o, warmup: 0 });
    c.observe(-100, 0);
    expect(c.observe(-105, 1)).toBe('raise'); // ≥ −100 − 0.1·100
    expect(c.observe(-111, 2)).toBe('lower');
    expect(() => new RewardAwareController({ ...o, maxSparsity: 1 })).toThrow(/maxSparsity/);
    expect(() => new RewardAwareController({ ...o, initialSparsity: 0.5 })).toThrow(/initialSparsity/);
    expect(() => new RewardAwareController({ ...o, decrease: -1 })).toThrow(/decrease/);
  });
});

/** Max |W − materialise(extract(W), g)| over the circulant layers of `nets` (0 = exactly block-circulant, pruned blocks exactly 0). */
function circulantDeviation(s: GstSparsifier, nets: readonly Mlp[]): number {
  let worst = 0;
  for (const net of nets) {
    net.layers.forEach((layer) => {
      const name = `${layer.name}.weight`.replace('Target', '');
      const l = s.layer(name);
      if (!l || !l.circulant) return;
      const w = layer.weight;
      const canon = materializeCirculant(extractCirculant(w, l.layout), l.layout, l.blockMask);
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i] - canon[i]));
      if (l.blockMask) {
        const m = expandBlockMask(l.blockMask, l.layout);
        if (!layer.mask || m.some((v, i) => v !== layer.mask![i])) worst = Infinity; // engine mask = expanded block mask
      } else if (layer.mask) worst = Infinity;
    });
  }
  return worst;
}

/** GST with the invariant checked after every hook; `rawAdam` records the deviation the engine's optimizer step leaves before re-materialisation. */
class CheckedGst extends GstSparsifier {
  readonly failures: string[] = [];
  rawAdam = 0;
  groups: readonly NetworkGroup[] = [];
  private check(where: string) {
    const nets = this.groups.flatMap((g) => [...g.networks, ...g.targets]);
    const d = circulantDeviation(this, nets);
    if (d !== 0) this.failures.push(`${where}: deviation ${d}`);
  }
  override initialize(groups: readonly NetworkGroup[], rng: Rng): void {
    super.initialize(groups, rng);
    this.groups = groups;
  }
  override beforeOptimizerStep(group: NetworkGroup): boolean {
    this.check(`before ${group.name} step`);
    return super.beforeOptimizerStep(group);
  }
  override afterOptimizerStep(group: NetworkGroup): void {
    this.rawAdam = Math.max(this.rawAdam, circulantDeviation(this, group.networks));
    super.afterOptimizerStep(group);
    this.check(`after ${group.name} step`);
  }
  override afterTargetUpdate(group: NetworkGroup): void {
    super.afterTargetUpdate(group);
    this.check(`after ${group.name} target update`);
  }
}

for (const kind of testEngines) {
  describe(`sparsifier.gst on a real TD3 agent (${kind} engine)`, () => {
    it.each([
      ['circ+blockprune b=4, scripted returns move block sparsity up, down and back', { blockSize: 4 }],
      ['circ+blockprune b=4, direct kernel (gradient folded in JS)', { blockSize: 4, kernel: 'direct' as const }],
      ['circ+blockprune b=8, no first layer', { blockSize: 8, firstLayer: false }],
      ['circulant-only b=2', { blockSize: 2, mode: 'circulant-only' as const }],
    ])('%s: exactly block-circulant (targets too) and pruned blocks zero after every step', async (_n, o) => {
      const engine = await createEngine({ engine: kind, backend: 'cpu', threads: 2 });
      const options = { ...defaults, ...o, increase: 0.25, decrease: 0.25, cooldown: 0 };
      const sparsifier = new CheckedGst(options);
      const { agent, buffer } = makeTd3(engine, sparsifier);
      const critic1 = agent.groups[1].networks[0];
      const l2 = sparsifier.layer('critic1.l2.weight')!;
      const blockSparsity = () => (l2.blockMask ? 1 - l2.blockMask.reduce((a, b) => a + b, 0) / l2.blockMask.length : 0);
      const returns = [100, 100, 100, 50, 200];
      const expectTargets = [0.25, 0.5, 0.75, 0.5, 0.75]; // pass, pass, pass, fail (< 95), pass
      let regrowChecked = false;
      for (let round = 0; round < returns.length; round++) {
        sparsifier.onEvaluation(returns[round], 0);
        expect(sparsifier.targetSparsity).toBe(expectTargets[round]);
        const before = l2.blockMask ? Float32Array.from(l2.blockMask) : null;
        const frozen = Float32Array.from(l2.frozen);
        for (let i = 0; i < 10; i++) agent.update(buffer); // 10 critic updates: one topology point
        const nb = l2.layout.outBlocks * l2.layout.inBlocks;
        expect(blockSparsity()).toBe(options.mode === 'circulant-only' ? 0 : 1 - activeCount(nb, expectTargets[round]) / nb);
        if (before && l2.blockMask && returns[round] < 100) {
          // regrowth after the cut: regrown blocks come back with their frozen vectors
          const b = l2.layout.blockSize;
          for (let k = 0; k < before.length; k++) {
            if (before[k] || !l2.blockMask[k]) continue;
            const c = extractCirculant(critic1.layers[1].weight, l2.layout);
            // the regrowth ran after the round's last optimizer step: the frozen vector, exactly
            for (let t = 0; t < b; t++) expect(c[k * b + t]).toBe(frozen[k * b + t]);
            regrowChecked = true;
          }
        }
      }
      if (options.mode !== 'circulant-only') expect(regrowChecked).toBe(true);
      expect(sparsifier.failures).toEqual([]);
      // folding + elementwise Adam keep W exactly circulant by themselves
      expect(sparsifier.rawAdam).toBe(0);
    });

    it(`kernel auto runs the circulant layers on the ${kind === 'native' ? 'FFT (engine folds)' : 'direct path (tfjs has no FFT layers)'} and trains like the direct kernel`, async () => {
      const engine = await createEngine({ engine: kind, backend: 'cpu', threads: 2 });
      const runs = (['auto', 'direct'] as const).map((kernel) => {
        const sparsifier = new GstSparsifier({ ...defaults, kernel, initialSparsity: 0.3 });
        return { sparsifier, ...makeTd3(engine, sparsifier) };
      });
      expect(runs[0].sparsifier.metrics(runs[0].agent.groups)['gst/fft_layers']).toBe(kind === 'native' ? 9 : 0);
      expect(runs[1].sparsifier.metrics(runs[1].agent.groups)['gst/fft_layers']).toBe(0);
      for (let i = 0; i < 25; i++) for (const r of runs) r.agent.update(r.buffer);
      const [a, b] = runs.map((r) => r.agent.groups[1].networks[0].layers[1].weight);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      expect(worst).toBeLessThan(1e-4); // 25 Adam steps (lr 1e-3) apart only by float rounding
      if (kind === 'tfjs') expect(() => makeTd3(engine, new GstSparsifier({ ...defaults, kernel: 'fft' }))).toThrow(/kernel 'fft' needs an engine with FFT/);
    });

    it('circ→unstructured: layers stay circulant below 1 − 1/b + margin, then switch to exact unstructured counts', async () => {
      const engine = await createEngine({ engine: kind, backend: 'cpu', threads: 2 });
      const sparsifier = new CheckedGst({ ...defaults, blockSize: 2, mode: 'circ→unstructured', increase: 0.3 });
      const { agent, buffer } = makeTd3(engine, sparsifier);
      sparsifier.onEvaluation(1, 0); // 0.3 < 0.5 + 0.05: stays circulant
      for (let i = 0; i < 20; i++) agent.update(buffer);
      expect(sparsifier.metrics(agent.groups)['gst/circulant_layers']).toBe(9);
      sparsifier.onEvaluation(1, 0); // 0.6 ≥ 0.55: switch at the next point
      for (let i = 0; i < 20; i++) agent.update(buffer);
      expect(sparsifier.metrics(agent.groups)['gst/circulant_layers']).toBe(0);
      for (const g of agent.groups) {
        for (const net of [...g.networks, ...g.targets]) {
          for (const l of net.layers) {
            const active = l.mask!.reduce((a, b) => a + b, 0);
            expect(active, l.name).toBe(l.weight.length - Math.floor(0.6 * l.weight.length));
            for (let i = 0; i < l.weight.length; i++) if (!l.mask![i]) expect(l.weight[i]).toBe(0);
          }
        }
      }
      expect(sparsifier.failures).toEqual([]);
    });
  });
}

describe('GST size accounting', () => {
  it('stored values are b per active block; compression ratio and its average over iterations', async () => {
    const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
    const sparsifier = new GstSparsifier({ ...defaults, mode: 'circulant-only' });
    const { agent, buffer } = makeTd3(engine, sparsifier);
    // per layer: Σ over blocks min(b, rows + cols − 1); obs 17 / critic in 23, hidden 32, b = 4
    const stored = (out: number, inF: number) => circulantStorage(circulantLayout(out, inF, 4), null);
    expect(stored(32, 17)).toBe(8 * 4 * 4 + 8 * 4); // the last column block is 1 wide: 4 diagonals used
    const actor = stored(32, 17) + stored(32, 32) + stored(6, 32);
    const critic = stored(32, 23) + stored(32, 32) + stored(1, 32);
    const dense = 17 * 32 + 32 * 32 + 32 * 6 + 2 * (23 * 32 + 32 * 32 + 32); // online networks only
    expect(compressionRatio(agent.groups, sparsifier)).toBeCloseTo(1 - (actor + 2 * critic) / dense, 12);
    // targets are block-circulant too
    const targetsDense = 17 * 32 + 32 * 32 + 32 * 6 + 2 * (23 * 32 + 32 * 32 + 32);
    const withTargets = agent.groups.flatMap((g) => g.targets).reduce((a, n) => a + storedWeights(n, sparsifier), 0);
    expect(withTargets / targetsDense).toBeCloseTo((actor + 2 * critic) / dense, 12);
    // no circulant structure without the sparsifier's accounting: plain masks say dense
    expect(compressionRatio(agent.groups)).toBe(0);
    const tracker = new CompressionTracker(agent.groups, sparsifier);
    tracker.record(3);
    const gp = new GstSparsifier({ ...defaults, initialSparsity: 0.5 });
    const two = makeTd3(engine, gp);
    const t2 = new CompressionTracker(two.agent.groups, gp);
    const r0 = t2.current();
    t2.record(1);
    for (let i = 0; i < 10; i++) two.agent.update(two.buffer);
    gp.onEvaluation(1, 0); // target 0.55 at the next point
    for (let i = 0; i < 10; i++) two.agent.update(two.buffer);
    const r1 = t2.current();
    expect(r1).toBeGreaterThan(r0);
    t2.record(3);
    expect(t2.metrics()['compression/average_ratio']).toBeCloseTo((r0 + 3 * r1) / 4, 12);
    expect(tracker.metrics()['compression/iterations']).toBe(3);
    void buffer;
  });
});
