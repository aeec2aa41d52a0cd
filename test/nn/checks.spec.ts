import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/nn/engines.js';
import type { Engine, MlpSpec } from '../../src/nn/engine.js';
import { testEngines } from '../helpers/td3-fixture.js';

const ok: MlpSpec = { name: 'net', layerSizes: [3, 4, 2], hiddenActivation: 'relu', outputActivation: 'linear' };

/** Both engines reject the same bad input with the same message (one implementation: src/nn/checks.ts). */
describe.each(testEngines)('argument checks on the %s engine', (name) => {
  const engine = async (): Promise<Engine> => createEngine({ engine: name, backend: 'cpu', threads: 1 });

  it('rejects bad specs, shapes, tau, layer indices and Adam options with the shared messages', async () => {
    const e = await engine();
    expect(() => e.createMlp({ ...ok, name: '' })).toThrow('MlpSpec.name must be a non-empty string');
    expect(() => e.createMlp({ ...ok, layerSizes: [3] })).toThrow('net: layerSizes needs at least 2 entries, got [3]');
    expect(() => e.createMlp({ ...ok, layerSizes: [3, 0, 2] })).toThrow('net: layer sizes must be positive integers, got 0');
    expect(() => e.createMlp({ ...ok, hiddenActivation: 'gelu' as never })).toThrow("net: unknown activation 'gelu' (relu, tanh or linear)");
    const a = e.createMlp(ok);
    const b = e.createMlp({ ...ok, name: 'other', layerSizes: [3, 5, 2] });
    expect(() => a.polyakFrom(b, 0.1)).toThrow("net.polyakFrom: layer sizes [3, 4, 2] differ from other's [3, 5, 2]");
    expect(() => a.copyFrom(b)).toThrow("net.copyFrom: layer sizes [3, 4, 2] differ from other's [3, 5, 2]");
    expect(() => a.polyakFrom(e.createMlp({ ...ok, name: 't' }), 1.5)).toThrow('net.polyakFrom: tau must be in [0, 1], got 1.5');
    expect(() => a.setMask(2, null)).toThrow('layer index 2 outside [0, 2)');
    expect(() => e.createAdam(a, { lr: -1 })).toThrow('Adam: lr must be a finite number >= 0, got -1');
    expect(() => e.createAdam(a, { lr: 1e-3, beta2: 1 })).toThrow('Adam: beta2 must be in [0, 1), got 1');
    expect(() => e.createAdam(a, { lr: 1e-3, weightDecay: -0.1 })).toThrow('Adam: weightDecay must be >= 0, got -0.1');
    expect(() => e.createAdam(a, { lr: 1e-3 }).setLearningRate(Number.NaN)).toThrow('Adam: lr must be a finite number >= 0, got NaN');
  });
});
