import { groupLayers, setGroupMask, withSparsifierDefaults, type NetworkGroup, type Rng, type SparsifierHooks } from '../../src/index.js';

/**
 * A sparsifier with default hooks whose `initialize` masks every other weight of every layer
 * (entry i kept when i is odd): enough sparsity for agent tests, without another plugin.
 */
export function alternatingMaskSparsifier(): SparsifierHooks {
  return withSparsifierDefaults({
    initialize(groups: readonly NetworkGroup[]) {
      for (const g of groups) {
        for (const { network, index } of groupLayers(g)) {
          setGroupMask(g, network, index, Float32Array.from(network.layers[index].weight, (_, i) => i % 2));
        }
      }
    },
  });
}

/**
 * A sparsifier that records every hook call as `hook(group)`, e.g. `needsDenseGradient(critic)`.
 * `skip` names the groups whose optimizer step `beforeOptimizerStep` skips.
 */
export function recordingSparsifier(options: { skip?: string[]; dense?: boolean; targetMasks?: 'online' | 'own' } = {}): SparsifierHooks & { calls: string[] } {
  const calls: string[] = [];
  const rec = (hook: string) => (g: NetworkGroup) => void calls.push(`${hook}(${g.name})`);
  const sparsifier = withSparsifierDefaults({
    targetMasks: options.targetMasks,
    initialize: () => void calls.push('initialize'),
    needsDenseGradient: (g) => (rec('needsDenseGradient')(g), options.dense ?? false),
    beforeOptimizerStep: (g) => (rec('beforeOptimizerStep')(g), !(options.skip ?? []).includes(g.name)),
    afterOptimizerStep: rec('afterOptimizerStep'),
    afterTargetUpdate: rec('afterTargetUpdate'),
  });
  return Object.assign(sparsifier, { calls });
}

/** An `Rng` whose `integer` returns the given values in order (hand-checked sampling). */
export function scriptedRng(integers: number[]): Rng {
  const queue = [...integers];
  return {
    integer: (n: number) => {
      const v = queue.shift();
      if (v === undefined || v >= n) throw new Error(`scriptedRng: no value < ${n} left`);
      return v;
    },
  } as unknown as Rng;
}
