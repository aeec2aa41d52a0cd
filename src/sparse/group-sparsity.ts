import { groupLayers, setGroupMask, type NetworkGroup } from '../core/network-group.js';
import type { Mlp } from '../nn/engine.js';
import type { JsonSchema } from '../plugin/plugin-manifest.js';
import type { Rng } from '../util/rng.js';
import { initialMask, type MaskInit } from './mask.js';
import { activeCount, layerSparsities, type SparsityDistribution } from './sparsity-distribution.js';

/**
 * Per-group target sparsities and the static initial masks that methods with a fixed sparsity
 * budget share (static, RigL/RLx2, gradual pruning), plus the JSON-schema pieces of their options.
 */

/** The `actorSparsity` / `criticSparsity` options of a method with one sparsity per network group. */
export interface GroupSparsityOptions {
  /** Fraction of zeros over the actor's weights, in [0, 1). */
  readonly actorSparsity: number;
  /** Fraction of zeros over both critics' weights (the Q-heads pooled in one allocation), in [0, 1). */
  readonly criticSparsity: number;
}

/**
 * The sparsity of a network group by name: `actorSparsity` for `actor`, `criticSparsity` for
 * `critic` (both Q-heads pooled, as RLx2 [R-code] `sparse_set` does; docs/methods.md §1.b.0.3).
 * @param owner who asks (the plugin id), named in the error
 * @returns a fraction of zeros in [0, 1) (as the options hold it)
 * @throws Error for a group other than `actor` / `critic`
 */
export function groupSparsity(group: NetworkGroup, options: GroupSparsityOptions, owner: string): number {
  if (group.name === 'actor') return options.actorSparsity;
  if (group.name === 'critic') return options.criticSparsity;
  throw new Error(`${owner}: no sparsity configured for network group "${group.name}"`);
}

/** One weight layer of a group with its share of the group's sparsity. */
export interface LayerAllocation {
  readonly network: Mlp;
  /** Layer index in `network`. */
  readonly index: number;
  /** Weight name, e.g. `critic2.l1.weight`. */
  readonly name: string;
  /** S_l, fraction of zeros in [0, 1); 0 = the layer stays dense (no mask). */
  readonly sparsity: number;
}

/**
 * Splits a group's `sparsity` over all the weight layers of its networks, pooled in one solve
 * (`layerSparsities`: uniform, or the ERK global-ε solve of RigL [RigL-code]
 * `get_sparsities_erdos_renyi` / RLx2 [R-code] `sparse_set`; docs/methods.md §0.2).
 * @param sparsity the group's fraction of zeros, in [0, 1)
 * @returns one entry per layer, in `groupLayers` order (network by network, layer by layer)
 * @throws RangeError when `sparsity` is outside [0, 1)
 */
export function groupLayerSparsities(group: NetworkGroup, sparsity: number, distribution: SparsityDistribution): LayerAllocation[] {
  const layers = groupLayers(group);
  const s = layerSparsities(layers.map(({ network, index }) => network.layers[index]), sparsity, distribution);
  return layers.map((l, k) => ({ ...l, sparsity: s[k] }));
}

/**
 * Static sparse initial masks of one group (docs/methods.md §5.1; RLx2 [R-code] `sparse_set` +
 * `weight_sparsify`; Graesser et al. 2022 [SoS-code]): the layer sparsities S_l come from
 * `groupLayerSparsities`, and each layer of N weights with S_l > 0 gets a mask with exactly
 * `activeCount(N, S_l)` = N − ⌊S_l·N⌋ ones (`initialMask`: a random subset, or the largest
 * initial |w|), set on the network and its target (`setGroupMask`). Layers with S_l = 0 stay
 * unmasked. `rng` is drawn from (random init only) layer by layer in `groupLayers` order.
 * @param sparsity the group's fraction of zeros, in [0, 1)
 * @returns the allocation, as `groupLayerSparsities`
 * @throws RangeError when `sparsity` is outside [0, 1)
 */
export function setStaticMasks(group: NetworkGroup, sparsity: number, distribution: SparsityDistribution, init: MaskInit, rng: Rng): LayerAllocation[] {
  const allocation = groupLayerSparsities(group, sparsity, distribution);
  for (const { network, index, sparsity: s } of allocation) {
    if (s <= 0) continue;
    const weight = network.layers[index].weight;
    setGroupMask(group, network, index, initialMask(weight, activeCount(weight.length, s), init, rng));
  }
  return allocation;
}

/**
 * JSON schema of a sparsity option: a fraction of zeros in [0, 1) (`type: number`, `minimum: 0`,
 * `exclusiveMaximum: 1`), the one definition every method's `actorSparsity`, `criticSparsity`,
 * `initialSparsity`, … uses.
 * @param description the option's meaning, shown in the schema
 * @param defaultValue the default, when the option has one (it lives in the schema only)
 */
export function sparsitySchema(description: string, defaultValue?: number): JsonSchema {
  return { type: 'number', minimum: 0, exclusiveMaximum: 1, ...(defaultValue === undefined ? {} : { default: defaultValue }), description };
}

/** JSON schema of a `sparsityDistribution` option (`SparsityDistribution`, default ERK). */
export function sparsityDistributionSchema(description: string): JsonSchema {
  return { enum: ['uniform', 'erdos-renyi', 'erdos-renyi-kernel'] satisfies SparsityDistribution[], default: 'erdos-renyi-kernel', description };
}

/**
 * The schema properties every method with a static initial allocation shares: `actorSparsity`,
 * `criticSparsity` (both required by the caller's `required`) and `sparsityDistribution`.
 */
export function groupSparsityProperties(): Record<string, JsonSchema> {
  return {
    actorSparsity: sparsitySchema('Fraction of zeros in the actor weights.'),
    criticSparsity: sparsitySchema('Fraction of zeros in the critics\' weights (both heads pooled).'),
    sparsityDistribution: sparsityDistributionSchema('Layer-wise allocation; for fully connected layers ER and ERK are the same global-ε solve.'),
  };
}

/** JSON schema of a `maskInit` option (`MaskInit`). @param defaultInit the method's default */
export function maskInitSchema(defaultInit: MaskInit, description: string): JsonSchema {
  return { enum: ['random', 'magnitude'] satisfies MaskInit[], default: defaultInit, description };
}
