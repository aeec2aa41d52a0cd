import { BaseSparsifier, countActive, groupLayers, resizeMask, setGroupMask, type Mlp, type NetworkGroup, type Rng } from '../../src/index.js';
import type { SetOptions } from './set-options.js';

/** What one SET update of a layer did. */
export interface SetUpdateResult {
  readonly dropped: number;
  readonly grown: number;
}

/**
 * Bernoulli Erdős–Rényi mask (Mocanu et al. 2018; DS-TD3 [S-code]
 * `sparse_utils.initializeEpsilonWeightsMask`): each entry active with probability
 * `p = min(1, λ·(in + out)/(in·out))`, drawn as `U(0,1) ≥ 1 − p`.
 * @returns `[out, in]` of 0/1
 */
export function erMask(outFeatures: number, inFeatures: number, lambda: number, rng: Rng): Float32Array {
  const p = Math.min(1, (lambda * (inFeatures + outFeatures)) / (inFeatures * outFeatures));
  return Float32Array.from({ length: outFeatures * inFeatures }, () => (rng.uniform() >= 1 - p ? 1 : 0));
}

/**
 * One SET adaptation of layer `index` (Mocanu et al. 2018; DS-TD3 [S-paper] Alg. 2,
 * [S-code] `changeConnectivitySET`; docs/methods.md §2.b.5): among the active weights drop the
 * ⌊η·#positive⌋ smallest positive ones, the ⌊η·#negative⌋ negative ones nearest zero, and every
 * active weight that is exactly 0 (as the code's thresholding does); then, unless `pruneOnly`,
 * regrow `targetCount − kept` connections uniformly at random among the inactive positions (a
 * just-dropped position may be drawn again), with weight 0 (and zero Adam moments when
 * `resetOptimizerState`, in the network's optimizer `group.optimizers[i]`). The new mask is set on
 * `network`, and on its target too when `sharedTarget` (`setGroupMask`).
 *
 * Not `resizeMask`: the drop is split by sign and, among equal weights at the cut, drops the
 * lower index first (`resizeMask` keeps it), and the regrowth is a uniform draw (one
 * `rng.integer` per grown connection, a partial Fisher–Yates over the empty positions), not a
 * top-k by score.
 * @param network one of `group.networks`
 * @param dropFraction η in [0, 1]
 * @param targetCount connections the layer must keep (its initial count nnz_l)
 * @returns counts of dropped connections and of regrown ones (a regrown position may be a just-dropped one)
 */
export function setPruneAndRegrow(
  group: NetworkGroup, network: Mlp, index: number, dropFraction: number, targetCount: number, rng: Rng,
  options: { readonly pruneOnly?: boolean; readonly resetOptimizerState?: boolean; readonly sharedTarget?: boolean } = {},
): SetUpdateResult {
  const layer = network.layers[index];
  const mask = layer.mask;
  if (!mask) return { dropped: 0, grown: 0 };
  const w = layer.weight;
  const pos: number[] = [];
  const neg: number[] = [];
  const next = new Float32Array(mask.length);
  for (let i = 0; i < w.length; i++) {
    if (!mask[i]) continue;
    if (w[i] > 0) pos.push(i);
    else if (w[i] < 0) neg.push(i);
  }
  pos.sort((a, b) => w[a] - w[b] || a - b); // ascending: nearest zero first
  neg.sort((a, b) => w[b] - w[a] || a - b); // descending: nearest zero first
  const dropPos = Math.floor(dropFraction * pos.length);
  const dropNeg = Math.floor(dropFraction * neg.length);
  for (let k = dropPos; k < pos.length; k++) next[pos[k]] = 1;
  for (let k = dropNeg; k < neg.length; k++) next[neg[k]] = 1;
  const kept = pos.length - dropPos + neg.length - dropNeg;
  const dropped = countActive(mask) - kept;
  let grown = 0;
  if (!options.pruneOnly && targetCount > kept) {
    const empty: number[] = [];
    for (let i = 0; i < next.length; i++) if (!next[i]) empty.push(i);
    const state = options.resetOptimizerState ? group.optimizers[group.networks.indexOf(network)]?.state.get(`${layer.name}.weight`) : undefined;
    const g = Math.min(targetCount - kept, empty.length);
    for (let k = 0; k < g; k++) {
      const j = k + rng.integer(empty.length - k);
      const t = empty[k];
      empty[k] = empty[j];
      empty[j] = t;
      const i = empty[k];
      next[i] = 1;
      w[i] = 0;
      if (state) {
        state.m[i] = 0;
        state.v[i] = 0;
      }
    }
    grown = g;
  }
  if (options.sharedTarget) setGroupMask(group, network, index, next);
  else network.setMask(index, next);
  return { dropped, grown };
}

/**
 * DS-TD3 "MaintainSparsity" ([S-paper] Alg. 3, [S-code] `DS_TD3.train`; docs/methods.md §2.b.4,
 * §2.h.5): after a plain Polyak update the target layer `index` keeps only
 * its `count` largest-|w| non-zero entries (`resizeMask` of its non-zero pattern, ties kept by
 * lower index); the result becomes the target's own mask. With at most `count` non-zeros the
 * mask is just the non-zero pattern (O(n), the usual case between topology changes).
 * @param count connections to keep (the online layer's active count)
 */
export function keepTopMagnitude(target: Mlp, index: number, count: number): void {
  const w = target.layers[index].weight;
  const nonZero = new Float32Array(w.length);
  let nnz = 0;
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) {
    nonZero[i] = 1;
    nnz++;
  }
  target.setMask(index, nnz <= count ? nonZero : resizeMask(nonZero, w.length, count, (i) => Math.abs(w[i])));
}

/**
 * SET for deep RL as DS-TD3 runs it (Sokar et al. 2022, "Dynamic Sparse Training for Deep
 * Reinforcement Learning"; docs/methods.md §2.b): Bernoulli ER masks with an explicit λ per hidden-
 * producing layer of the actor and of each critic (output layers dense, biases dense); every
 * `interval` iterations at `offset` (counted by the critic's updates, one per iteration) a SET
 * adaptation of every masked layer of both groups, after that group's optimizer step; each
 * layer's connection count stays at its initial value; an optional prune-only last update after
 * `stopAt`. Targets: `magnitude-top-k` keeps each target layer at the online count by dropping its
 * smallest magnitudes after every Polyak update (own masks; agents average without re-masking),
 * or `shared` online masks.
 *
 * Differences from [S-code], all explicit: the engine masks gradients before the Adam step (the
 * code does not, so its inactive weights and moments drift and grown weights start at a tiny
 * value instead of exactly 0); weight decay is the agent's `weightDecay` option (DS-TD3: 2e-4).
 */
export class SetSparsifier extends BaseSparsifier {
  private iteration = 0;
  private rng: Rng | null = null;
  private readonly counts = new Map<string, number>();
  private readonly lastRound = new Map<string, number>();
  private readonly finished = new Set<string>();
  private readonly last: Record<string, number> = {};

  constructor(private readonly options: SetOptions) {
    super();
  }

  get targetMasks(): 'online' | 'own' {
    return this.options.targetMode === 'magnitude-top-k' ? 'own' : 'online';
  }

  /** @inheritdoc Draws the ER masks; targets get the same masks. */
  override initialize(groups: readonly NetworkGroup[], rng: Rng): void {
    this.rng = rng.fork('set');
    for (const g of groups) {
      this.lastRound.set(g.name, -1);
      g.networks.forEach((net) => {
        for (let l = 0; l < net.layers.length - 1; l++) {
          const layer = net.layers[l];
          const lambda = this.options.lambdas[Math.min(l, this.options.lambdas.length - 1)];
          const mask = erMask(layer.outFeatures, layer.inFeatures, lambda, rng);
          if (countActive(mask) === mask.length) continue; // p = 1: dense, no mask
          setGroupMask(g, net, l, mask);
          this.counts.set(`${layer.name}.weight`, countActive(mask));
        }
      });
    }
  }

  /** @inheritdoc Counts iterations on the critic's calls; never skips a step. */
  override beforeOptimizerStep(group: NetworkGroup): boolean {
    if (group.name === 'critic') this.iteration++;
    return true;
  }

  /** @inheritdoc The SET adaptation when due. */
  override afterOptimizerStep(group: NetworkGroup): void {
    const { interval, offset, stopAt } = this.options;
    if (this.iteration < offset) return;
    const round = Math.floor((this.iteration - offset) / interval);
    if (round <= (this.lastRound.get(group.name) ?? -1) || this.finished.has(group.name)) return;
    this.lastRound.set(group.name, round);
    const pruneOnly = stopAt !== null && this.iteration > stopAt;
    if (pruneOnly) this.finished.add(group.name);
    let dropped = 0;
    let grown = 0;
    for (const { network, index, name } of groupLayers(group)) {
      const count = this.counts.get(name);
      if (count === undefined) continue;
      const r = setPruneAndRegrow(group, network, index, this.options.dropFraction, count, this.rng!, {
        pruneOnly, resetOptimizerState: this.options.resetOptimizerStateOnGrow, sharedTarget: this.options.targetMode === 'shared',
      });
      dropped += r.dropped;
      grown += r.grown;
    }
    this.last[`topology/${group.name}_dropped`] = dropped;
    this.last[`topology/${group.name}_grown`] = grown;
  }

  /** @inheritdoc `magnitude-top-k`: each target layer keeps the online layer's count of largest |w|. */
  override afterTargetUpdate(group: NetworkGroup): void {
    if (this.options.targetMode !== 'magnitude-top-k') return;
    group.targets.forEach((target, k) => {
      const online = group.networks[k];
      online.layers.forEach((layer, l) => {
        if (layer.mask) keepTopMagnitude(target, l, countActive(layer.mask));
      });
    });
  }

  override metrics(groups: readonly NetworkGroup[]): Record<string, number> {
    return { ...super.metrics(groups), ...this.last };
  }

  override state(): unknown {
    return { iteration: this.iteration, lastRound: Object.fromEntries(this.lastRound), finished: [...this.finished], counts: Object.fromEntries(this.counts), rng: this.rng?.getState() };
  }

  override loadState(state: unknown): void {
    const s = state as { iteration: number; lastRound: Record<string, number>; finished: string[]; counts: Record<string, number>; rng?: ReturnType<Rng['getState']> };
    this.iteration = s.iteration;
    for (const [k, v] of Object.entries(s.lastRound)) this.lastRound.set(k, v);
    s.finished.forEach((g) => this.finished.add(g));
    for (const [k, v] of Object.entries(s.counts)) this.counts.set(k, v);
    if (s.rng && this.rng) this.rng.setState(s.rng);
  }
}
