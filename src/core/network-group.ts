import type { Mlp, Optimizer } from '../nn/engine.js';

/**
 * Networks trained together and sparsified together: the `actor` group (actor, its target)
 * and the `critic` group (critic1, critic2 and their targets; one ERK solve pools both heads,
 * docs/methods.md §1.b.3). `targets[i]` is the target of `networks[i]`; `optimizers[i]` trains it.
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
