import { describe, expect, it } from 'vitest';
import { createEngine, type Mlp, type NetworkGroup, type PolyakOptions } from '../../src/index.js';
import { copyToTargets, polyakUpdateTargets } from '../../src/rl/targets.js';
import { recordingSparsifier } from './fakes.js';

/** A fake network `name` that records `copyFrom` / `polyakFrom` calls into `calls`. */
const fake = (name: string, calls: string[]) =>
  ({
    spec: { name },
    copyFrom: (o: Mlp) => void calls.push(`${name}.copyFrom(${o.spec.name})`),
    polyakFrom: (o: Mlp, tau: number, opt: PolyakOptions) => void calls.push(`${name}.polyakFrom(${o.spec.name}, ${tau}, ${opt.masks})`),
  }) as unknown as Mlp;

describe('target helpers (docs/architecture.md §4)', () => {
  const twoGroups = (calls: string[]): NetworkGroup[] => [
    { name: 'actor', networks: [fake('actor', calls)], targets: [fake('actorTarget', calls)], optimizers: [] },
    { name: 'critic', networks: [fake('critic1', calls), fake('critic2', calls)], targets: [fake('critic1Target', calls), fake('critic2Target', calls)], optimizers: [] },
  ];

  it('polyakUpdateTargets: every target of every group first, then afterTargetUpdate per group (TD3 order)', () => {
    const s = recordingSparsifier();
    polyakUpdateTargets(twoGroups(s.calls), 0.005, s);
    expect(s.calls).toEqual([
      'actorTarget.polyakFrom(actor, 0.005, online)',
      'critic1Target.polyakFrom(critic1, 0.005, online)',
      'critic2Target.polyakFrom(critic2, 0.005, online)',
      'afterTargetUpdate(actor)',
      'afterTargetUpdate(critic)',
    ]);
  });

  it("targetMasks 'own' makes the average unmasked (masks: 'none'); a group without targets still gets its hook", () => {
    const s = recordingSparsifier({ targetMasks: 'own' });
    const [, critic] = twoGroups(s.calls);
    const actor: NetworkGroup = { name: 'actor', networks: [fake('actor', s.calls)], targets: [], optimizers: [] };
    polyakUpdateTargets([actor, critic], 0.5, s);
    expect(s.calls).toEqual(['critic1Target.polyakFrom(critic1, 0.5, none)', 'critic2Target.polyakFrom(critic2, 0.5, none)', 'afterTargetUpdate(actor)', 'afterTargetUpdate(critic)']);
  });

  it('copyToTargets copies networks[i] into targets[i], group by group', () => {
    const calls: string[] = [];
    copyToTargets(twoGroups(calls));
    expect(calls).toEqual(['actorTarget.copyFrom(actor)', 'critic1Target.copyFrom(critic1)', 'critic2Target.copyFrom(critic2)']);
  });

  it('on an engine: θ′ ← τθ + (1 − τ)θ′ by hand (τ = 0.25: 0 → 0.25, 1 → 0.5), re-masked with the online mask', async () => {
    const engine = await createEngine({ engine: 'tfjs', backend: 'cpu', threads: 1 });
    const spec = (name: string) => ({ name, layerSizes: [2, 1], hiddenActivation: 'relu', outputActivation: 'linear' }) as const;
    const online = engine.createMlp(spec('net'));
    const target = engine.createMlp(spec('netTarget'));
    online.layers[0].weight.set([1, 1]);
    online.layers[0].bias.set([3]);
    target.layers[0].weight.set([0, 0]);
    target.layers[0].bias.set([1]);
    online.setMask(0, Float32Array.from([1, 0])); // online weight → [1, 0]
    const group: NetworkGroup = { name: 'g', networks: [online], targets: [target], optimizers: [] };
    const s = recordingSparsifier();
    polyakUpdateTargets([group], 0.25, s);
    expect([...target.layers[0].weight]).toEqual([0.25, 0]);
    expect([...target.layers[0].bias]).toEqual([1.5]);
    expect(s.calls).toEqual(['afterTargetUpdate(g)']);
    // 'own': unmasked average over every entry, the target's mask removed
    target.layers[0].weight.set([0, 1]);
    polyakUpdateTargets([group], 0.25, recordingSparsifier({ targetMasks: 'own' }));
    expect([...target.layers[0].weight]).toEqual([0.25, 0.75]);
    expect(target.layers[0].mask).toBeNull();
    expect(() => polyakUpdateTargets([group], 1.5, s)).toThrow(RangeError);
  });
});
