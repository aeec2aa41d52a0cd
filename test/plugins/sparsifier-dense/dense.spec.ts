import { describe, expect, it } from 'vitest';
import { DenseSparsifier } from '../../../plugins/sparsifier-dense/dense-sparsifier.js';
import plugin from '../../../plugins/sparsifier-dense/index.js';
import { withSparsifierDefaults, type Sparsifier } from '../../../src/core/sparsifier.js';
import { createEngine } from '../../../src/nn/engines.js';
import { BaseSparsifier } from '../../../src/sparse/base-sparsifier.js';
import { makeTd3 } from '../../helpers/td3-fixture.js';

describe('sparsifier.dense', () => {
  it('manifest: id, kind, no options; register binds one DenseSparsifier', () => {
    expect(plugin.id).toBe('sparsifier.dense');
    expect(plugin.kind).toBe('sparsifier');
    expect(plugin.optionsSchema).toEqual({ type: 'object', additionalProperties: false, properties: {} });
    const bound: unknown[] = [];
    const binder = { bind: () => ({ toConstantValue: (v: unknown) => void bound.push(v), toResolvedValue: () => undefined }) };
    plugin.register({ ...binder, options: { type: 'dense' } } as unknown as Parameters<typeof plugin.register>[0]);
    expect(bound).toHaveLength(1);
    expect(bound[0]).toBeInstanceOf(DenseSparsifier);
  });

  it('is a BaseSparsifier whose hooks are the defaults: no masks after initialize and updates, dense metrics, empty state', async () => {
    const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
    const s = new DenseSparsifier();
    expect(s).toBeInstanceOf(BaseSparsifier);
    expect(withSparsifierDefaults(s)).toBe(s); // every hook present, no proxy
    const { agent, buffer } = makeTd3(engine, s);
    for (let i = 0; i < 3; i++) agent.update(buffer);
    for (const g of agent.groups) {
      for (const net of [...g.networks, ...g.targets]) for (const l of net.layers) expect(l.mask).toBeNull();
      expect(s.needsDenseGradient(g)).toBe(false);
      expect(s.beforeOptimizerStep(g)).toBe(true);
    }
    expect(s.metrics(agent.groups)).toEqual({ 'sparsity/actor': 0, 'sparsity/critic': 0, 'sparsity/total': 0 });
    expect(s.state()).toEqual({});
    const optional = s as Sparsifier;
    expect(optional.targetMasks).toBeUndefined(); // targets share the (absent) online masks
    expect(optional.denseGradientInterval).toBeUndefined();
  });
});
