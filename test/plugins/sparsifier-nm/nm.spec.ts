import { describe, expect, it } from 'vitest';
import { Td3Agent } from '../../../plugins/agent-td3/td3-agent.js';
import type { NmOptions } from '../../../plugins/sparsifier-nm/nm-options.js';
import { NmSparsifier } from '../../../plugins/sparsifier-nm/nm-sparsifier.js';
import type { NetworkGroup } from '../../../src/core/network-group.js';
import type { BoxSpace } from '../../../src/core/environment.js';
import type { Engine } from '../../../src/nn/engine.js';
import { createEngine } from '../../../src/nn/engines.js';
import { nmMask, nmMaxGroupNonZeros } from '../../../src/sparse/nm.js';
import { Rng } from '../../../src/util/rng.js';
import { makeTd3, testEngines, tinyTd3 } from '../../helpers/td3-fixture.js';

// obs 17 and critic input 23: first layers have a trailing partial group for M = 4 and M = 8
const td3 = tinyTd3;
const nmDefaults: NmOptions = { n: 2, m: 4, maskInterval: 10, gradMode: 'masked-retain', srsteLambda: 2e-4, padMode: 'pad', layers: 'all', targetMode: 'shared' };

/** Every masked layer of every online and target network: ≤ N non-zeros per M-group (weights and mask), W = 0 where M = 0. */
function violations(groups: readonly NetworkGroup[], n: number, m: number, s: NmSparsifier): string[] {
  const bad: string[] = [];
  for (const g of groups) {
    for (const net of [...g.networks, ...g.targets]) {
      net.layers.forEach((l, index) => {
        if (!s.eligible(net, index)) {
          if (l.mask) bad.push(`${l.name}: unexpected mask`);
          return;
        }
        if (!l.mask) return void bad.push(`${l.name}: no mask`);
        if (nmMaxGroupNonZeros(l.mask, l.outFeatures, l.inFeatures, m) > n) bad.push(`${l.name}: mask not ${n}:${m}`);
        if (nmMaxGroupNonZeros(l.weight, l.outFeatures, l.inFeatures, m) > n) bad.push(`${l.name}: weight not ${n}:${m}`);
        for (let i = 0; i < l.weight.length; i++) if (l.mask[i] === 0 && l.weight[i] !== 0) return void bad.push(`${l.name}: masked weight non-zero`);
      });
    }
  }
  return bad;
}

/** Checks the N:M invariant after every optimizer step, mask update and target update. */
class CheckedNm extends NmSparsifier {
  groups: readonly NetworkGroup[] = [];
  checks = 0;
  readonly failures: string[] = [];
  constructor(private readonly o: NmOptions) {
    super(o);
  }
  // the group's own online and target networks (TD3 Polyak-updates all targets before the first
  // afterTargetUpdate, so in `own` mode another group's targets are re-projected in its own hook)
  private check(where: string, group: NetworkGroup): void {
    this.checks++;
    for (const v of violations([group], this.o.n, this.o.m, this)) if (this.failures.length < 20) this.failures.push(`${where}: ${v}`);
  }
  override initialize(groups: readonly NetworkGroup[], rng: Rng): void {
    super.initialize(groups, rng);
    this.groups = groups;
  }
  override afterOptimizerStep(group: NetworkGroup): void {
    super.afterOptimizerStep(group);
    this.check(`after ${group.name} optimizer step`, group);
  }
  override afterTargetUpdate(group: NetworkGroup): void {
    super.afterTargetUpdate(group);
    this.check(`after ${group.name} target update`, group);
  }
}

function makeAgent(engine: Engine, options: NmOptions, seed = 11) {
  const sparsifier = new CheckedNm(options);
  return { ...makeTd3(engine, sparsifier, { seed }), sparsifier };
}

const engines = testEngines;

for (const kind of engines) {
  const iterations = kind === 'native' ? 300 : 60;
  describe(`sparsifier.nm on a real TD3 agent (${kind} engine)`, () => {
    const cases: [string, Partial<NmOptions>][] = [
      ['2:4 masked-retain, shared targets', {}],
      ['1:4 ste, own targets', { n: 1, m: 4, gradMode: 'ste', targetMode: 'own', maskInterval: 7 }],
      ['1:8 srste, shared targets, every-step masks', { n: 1, m: 8, gradMode: 'srste', maskInterval: 1 }],
      ['3:8 masked-retain, own targets, dense-first-layer', { n: 3, m: 8, targetMode: 'own', padMode: 'dense-first-layer' }],
      ['2:4 ste, skip-first-last', { gradMode: 'ste', layers: 'skip-first-last', maskInterval: 3 }],
    ];
    it.each(cases)('%s: every M-group of every row of every layer (targets included) ≤ N non-zeros after every hook', async (_name, o) => {
      const engine = await createEngine({ engine: kind, backend: 'cpu', threads: 2 });
      const options = { ...nmDefaults, ...o };
      const { agent, buffer, sparsifier } = makeAgent(engine, options);
      expect(violations(agent.groups, options.n, options.m, sparsifier)).toEqual([]);
      const w0 = Float32Array.from(agent.groups[0].networks[0].layers[1].weight);
      let drained = 0;
      for (let i = 0; i < iterations; i++) {
        agent.update(buffer);
        const events = sparsifier.takeUpdateMetrics();
        if ((i + 1) % options.maskInterval === 0) {
          // a critic mask update happened in this update: its SAD is handed to the trainer now
          expect(events).not.toBeNull();
          expect(events!['nm/sad/critic1']).toBe(sparsifier.sadHistory.filter((r) => r.network === 'critic1').at(-1)!.sad);
          drained++;
        } else expect(events).toBeNull();
        expect(sparsifier.takeUpdateMetrics()).toBeNull();
        expect(sparsifier.failures).toEqual([]);
        expect(violations(agent.groups, options.n, options.m, sparsifier)).toEqual([]);
        // the engine holds exactly W̃ ⊙ M: re-activated entries came back with their retained value
        for (const g of agent.groups) {
          for (const net of g.networks) {
            for (const l of net.layers) {
              const shadow = sparsifier.denseWeights(`${l.name}.weight`);
              if (!shadow) continue;
              let off = 0;
              for (let j = 0; j < shadow.length; j++) if (l.weight[j] !== (l.mask![j] ? shadow[j] : 0)) off++;
              expect(off).toBe(0);
            }
          }
        }
      }
      expect(sparsifier.checks).toBe(iterations + 2 * (iterations / 2) + iterations / 2); // critic step each, actor step + 2 target hooks every 2nd
      expect(agent.groups[0].networks[0].layers[1].weight).not.toEqual(w0);
      // one SAD record per online network (and per target in own mode) at every mask update
      const perNet = options.targetMode === 'own' ? 2 : 1;
      const criticUpdates = Math.floor(iterations / options.maskInterval);
      const actorUpdates = Math.floor(iterations / 2 / options.maskInterval);
      expect(sparsifier.sadHistory.length).toBe(perNet * (actorUpdates + 2 * criticUpdates));
      for (const r of sparsifier.sadHistory) {
        expect(r.sad).toBeGreaterThanOrEqual(0);
        expect(r.sad).toBeLessThanOrEqual(1);
      }
      expect(drained).toBe(Math.floor(iterations / options.maskInterval));
      const m = sparsifier.metrics(agent.groups);
      expect(m['nm/density']).toBe(options.n / options.m);
      expect(m['nm/hardware_support']).toBe(options.n === 2 && options.m === 4 ? 1 : 0);
      expect(m['nm/mask_updates/critic']).toBe(criticUpdates);
      expect(m).toHaveProperty('nm/sad/critic1');
      expect(m).toHaveProperty('nm/sad_init/actor');
      // hidden layer 32→32 is exactly N/M dense
      expect(m['sparsity/actor.l2.weight']).toBeCloseTo(1 - options.n / options.m, 10);
      if (options.targetMode === 'own') {
        // target masks are the projection of the target's own weights
        for (const g of agent.groups) {
          for (const t of g.targets) {
            t.layers.forEach((l, index) => {
              if (sparsifier.eligible(t, index)) expect(l.mask).toEqual(nmMask(l.weight, l.outFeatures, l.inFeatures, options.n, options.m));
            });
          }
        }
      } else {
        for (const g of agent.groups) g.networks.forEach((net, k) => net.layers.forEach((l, i) => expect(g.targets[k].layers[i].mask).toEqual(l.mask)));
      }
    });

    it('masked-retain: pruned entries of W̃ stay frozen; ste moves them; with ste masks evolve (SAD > 0)', async () => {
      const engine = await createEngine({ engine: kind, backend: 'cpu', threads: 2 });
      const frozen = makeAgent(engine, { ...nmDefaults, maskInterval: 0 });
      const ste = makeAgent(engine, { ...nmDefaults, maskInterval: 0, gradMode: 'ste' });
      const name = 'critic1.l2.weight';
      const snapshot = (a: ReturnType<typeof makeAgent>) => Float32Array.from(a.sparsifier.denseWeights(name)!);
      const [f0, s0] = [snapshot(frozen), snapshot(ste)];
      const mask0 = Float32Array.from(frozen.agent.groups[1].networks[0].layers[1].mask!);
      for (let i = 0; i < iterations; i++) {
        frozen.agent.update(frozen.buffer);
        ste.agent.update(ste.buffer);
      }
      const [f1, s1] = [snapshot(frozen), snapshot(ste)];
      const layer = frozen.agent.groups[1].networks[0].layers[1];
      expect(layer.mask).toEqual(mask0); // maskInterval 0: never re-projected
      let prunedMoved = 0;
      let activeMoved = 0;
      let steMoved = 0;
      for (let i = 0; i < f0.length; i++) {
        if (mask0[i] === 0) {
          if (f1[i] !== f0[i]) prunedMoved++;
          if (s1[i] !== s0[i]) steMoved++;
        } else {
          if (f1[i] !== f0[i]) activeMoved++;
          expect(f1[i]).toBe(layer.weight[i]); // the shadow holds the engine's active values
        }
      }
      expect(prunedMoved).toBe(0);
      expect(activeMoved).toBeGreaterThan(0);
      expect(steMoved).toBeGreaterThan(0);
      // with STE and frequent re-projection the masks evolve
      const { agent, buffer } = makeAgent(engine, { ...nmDefaults, maskInterval: 1, gradMode: 'ste' });
      for (let i = 0; i < 20; i++) agent.update(buffer);
      const sads = (agent as unknown as { sparsifier: NmSparsifier }).sparsifier.sadHistory;
      expect(sads.some((r) => r.sad > 0)).toBe(true);
      expect(sads.at(-1)!.sadInit).toBeGreaterThan(0);
    });

    it('srste shrinks the pruned part of W̃ relative to ste', async () => {
      const engine = await createEngine({ engine: kind, backend: 'cpu', threads: 2 });
      const a = makeAgent(engine, { ...nmDefaults, maskInterval: 0, gradMode: 'ste' });
      const b = makeAgent(engine, { ...nmDefaults, maskInterval: 0, gradMode: 'srste', srsteLambda: 10 });
      for (let i = 0; i < 40; i++) {
        a.agent.update(a.buffer);
        b.agent.update(b.buffer);
      }
      const prunedNorm = (x: ReturnType<typeof makeAgent>) => {
        const mask = x.agent.groups[1].networks[0].layers[1].mask!;
        const w = x.sparsifier.denseWeights('critic1.l2.weight')!;
        let s = 0;
        for (let i = 0; i < w.length; i++) if (mask[i] === 0) s += Math.abs(w[i]);
        return s;
      };
      expect(prunedNorm(b)).toBeLessThan(0.9 * prunedNorm(a));
    });
  });
}

describe('sparsifier.nm options and state', () => {
  it('rejects N ≥ M and bad intervals', () => {
    expect(() => new NmSparsifier({ ...nmDefaults, n: 4, m: 4 })).toThrow(RangeError);
    expect(() => new NmSparsifier({ ...nmDefaults, maskInterval: -1 })).toThrow(RangeError);
  });
  it('declares own target masks and dense gradients where needed', () => {
    expect(new NmSparsifier({ ...nmDefaults, targetMode: 'own' }).targetMasks).toBe('own');
    expect(new NmSparsifier(nmDefaults).targetMasks).toBe('online');
    expect(new NmSparsifier(nmDefaults).denseGradientInterval).toBeUndefined();
    expect(new NmSparsifier({ ...nmDefaults, gradMode: 'srste' }).denseGradientInterval).toBe(1);
  });
  it('state() round-trips counters, shadows and SAD reference masks', async () => {
    const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
    const { agent, buffer, sparsifier } = makeAgent(engine, { ...nmDefaults, maskInterval: 3 });
    for (let i = 0; i < 7; i++) agent.update(buffer);
    const state = JSON.parse(JSON.stringify(sparsifier.state()));
    const copy = new NmSparsifier({ ...nmDefaults, maskInterval: 3 });
    copy.loadState(state);
    expect(copy.state()).toEqual(state);
    expect(copy.denseWeights('actor.l1.weight')).toEqual(sparsifier.denseWeights('actor.l1.weight'));
  });
});

describe('N:M in the FLOPs accounting (src/sparse/flops.ts, docs/methods.md §4.e)', () => {
  it('theoretical sizes and FLOPs scale by exactly N/M when every input size is a multiple of M; STE pays dense weight gradients', async () => {
    const { flopsMetrics } = await import('../../../src/sparse/flops.js');
    const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
    const space: BoxSpace = { type: 'box', shape: [4], dtype: 'float32', low: Array(4).fill(-1), high: Array(4).fill(1) };
    const build = (gradMode: NmOptions['gradMode']) => {
      const sparsifier = new NmSparsifier({ ...nmDefaults, gradMode });
      const agent = new Td3Agent(td3, { observationSize: 16, actionSpace: space, engine, sparsifier, rng: new Rng(1) });
      return flopsMetrics(agent.groups, agent.costModel, sparsifier);
    };
    const masked = build('masked-retain');
    expect(masked['flops/params_ratio']).toBe(0.5);
    expect(masked['flops/params_with_targets_ratio']).toBe(0.5);
    expect(masked['flops/inference_ratio']).toBe(0.5);
    expect(masked['flops/train_ratio']).toBeCloseTo(0.5, 12);
    const ste = build('ste');
    expect(ste['flops/params_ratio']).toBe(0.5);
    expect(ste['flops/train_ratio']).toBeGreaterThan(0.5);
  });
});
