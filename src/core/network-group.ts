import type { Mlp, Optimizer } from '../nn/engine.js';

/**
 * Networks trained together and sparsified together: the `actor` group (actor, its target)
 * and the `critic` group (critic1, critic2 and their targets; one ERK solve pools both heads,
 * docs/methods.md §1.b.0.3). `targets[i]` is the target of `networks[i]`; `optimizers[i]` trains it.
 */
export interface NetworkGroup {
  /** `actor` or `critic` (the key of `actorSparsity` / `criticSparsity`). */
  readonly name: string;
  readonly networks: readonly Mlp[];
  /** Same order as `networks`; may be empty (SAC has no target actor). */
  readonly targets: readonly Mlp[];
  readonly optimizers: readonly Optimizer[];
}

/** All layers of a group with the network each belongs to, in a stable order. */
export function groupLayers(group: NetworkGroup): { network: Mlp; index: number; name: string }[] {
  return group.networks.flatMap((network) => network.layers.map((l, index) => ({ network, index, name: `${l.name}.weight` })));
}

/**
 * Sets the mask of layer `index` of `network` (one of `group.networks`) and of its target
 * network, when it has one: the one call for a mask change that targets share (RLx2, static,
 * RigL). Sparsifiers whose targets keep their own masks (`targetMasks: 'own'`) set those on
 * `group.targets[i]` directly.
 * @param mask `[out·in]` of 0/1, or null to remove the mask
 * @throws Error when `network` is not in `group.networks`
 */
export function setGroupMask(group: NetworkGroup, network: Mlp, index: number, mask: Float32Array | null): void {
  const i = group.networks.indexOf(network);
  if (i < 0) throw new Error(`setGroupMask: the network is not one of group ${group.name}'s networks`);
  network.setMask(index, mask);
  group.targets[i]?.setMask(index, mask);
}
