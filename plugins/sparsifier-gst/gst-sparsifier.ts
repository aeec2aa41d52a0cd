import {
  BaseSparsifier, CIRCULANT_FFT_MIN_BLOCK_SIZE, GroupCounters, activeCount, blockCount, blockNorms, circulantLayout, circulantStorage, countActive,
  decodeFloat32, encodeFloat32, expandBlockMask, extractCirculant, fftSupportsBlockSize, foldCirculantGradient, materializeCirculant, resizeMask,
  setGroupMask, type CirculantLayout, type Mlp, type NetworkGroup, type Rng,
} from '../../src/index.js';
import type { GstOptions } from './gst-options.js';
import { RewardAwareController, type ControllerState } from './reward-aware-controller.js';

/** Per-layer state of an eligible online layer. */
interface GstLayer {
  /** The group `network` belongs to (its target is `group.targets[i]`). */
  readonly group: NetworkGroup;
  readonly network: Mlp;
  /** Same index in the network's target, or undefined (SAC actor). */
  readonly target: Mlp | undefined;
  readonly index: number;
  readonly name: string;
  readonly layout: CirculantLayout;
  circulant: boolean;
  /** The engine runs the layer (online and target) on its FFT path and folds the gradient itself. */
  engineFolds: boolean;
  /** `[outBlocks, inBlocks]` 0/1, or null while every block is active (the layer is then unmasked). */
  blockMask: Float32Array | null;
  /**
   * Values kept for regrowth: circulant mode `[outBlocks, inBlocks, b]`, the vectors of pruned
   * blocks frozen at pruning; unstructured mode `[out, in]`, pruned weights frozen at pruning.
   */
  frozen: Float32Array;
  /** Scratch `[outBlocks, inBlocks, b]`. */
  readonly scratch: Float32Array;
}

/**
 * GST — Group-Sparse Training (Lee, Kim, Kim, Jo, Yoo 2021, arXiv 2101.09650): block-circulant
 * compression from step 0 plus reward-aware pruning. The paper's body and code are unavailable;
 * this is our documented reconstruction (docs/methods.md §3 and §9.2), every unknown an option.
 *
 * **Parameterisation** (`src/sparse/block-circulant.ts`): each eligible layer `W [out, in]` is tiled
 * into b×b blocks, block (i, j) is `g_ij · circ(c_ij)`, `W[i·b+r, j·b+s] = g_ij·c_ij[(s − r) mod b]`.
 * The engine stores and trains the materialised W; the sparsifier keeps it exactly block-circulant:
 * - at `initialize`, c_ij is read from W's first row in each block (`extractCirculant`) and
 *   materialised, so the entries keep the initialiser's distribution;
 * - forward/backward run on the engine's FFT block-circulant layers where `kernel` selects them
 *   (`Mlp.setBlockCirculant`, online and target networks; the engine then returns the folded
 *   gradient below), else on its dense/sparse kernels with the materialised W;
 * - in `beforeOptimizerStep` the gradient is folded onto the vectors (unless the engine did),
 *   `∂L/∂c_ij[t] = Σ_r ∂L/∂W[i·b+r, j·b+((r+t) mod b)]`, and the folded value is written into every
 *   entry of its diagonal. Adam is elementwise, so every entry of a diagonal gets the same update —
 *   exactly Adam on c_ij (weight decay included) — and W stays exactly block-circulant (tested on
 *   both engines: the optimizer's output is bit-for-bit circulant). At each topology point the
 *   layers are also re-materialised from their first entries, a safety net against an engine whose
 *   vector and scalar loops round differently.
 * - Pruned blocks have g = 0: the engine's mask zeroes them (weights, gradients, Adam moments).
 *   Their vectors are kept frozen here, so a regrown block comes back with its old vector.
 * - Targets: the Polyak average of two block-circulant matrices is block-circulant (τ·c + (1 − τ)·c′
 *   per entry) and the engine re-masks targets with the online masks (g copied); regrown target
 *   blocks take the online block's values.
 *
 * **Topology** every `pruneInterval` updates of a group (the TD3 actor is updated every d-th
 * iteration, so its points come d× later in iterations), after the optimizer step: each layer is moved to the target S by block score `‖c_ij‖₂`
 * (`blockNorms`): keep `activeCount(nBlocks, S)` blocks — prune the lowest-score active blocks or
 * regrow the highest-score pruned ones (ties to the lower block index). In `circ→unstructured`
 * a layer whose target passed `1 − 1/b + switchMargin` leaves circulant mode for good and keeps
 * `activeCount(out·in, S)` largest-|W| weights (pruned values frozen for regrowth the same way).
 *
 * **Target S** from the controller (`RewardAwareController`, fed by `onEvaluation`) or a linear ramp.
 *
 * **Accounting**: `storedWeights` is b per active block (`circulantStorage`); the trainer turns it
 * into `compression/ratio` and `compression/average_ratio` (GST's headline metric) and `flops/params*`.
 * Metrics: `sparsity/*` (zeros of the materialised W), `gst/target_sparsity`, `gst/best_return`,
 * `gst/cooldown_left`, `gst/raises`, `gst/lowers`, `gst/circulant_layers`, `gst/block_sparsity/<layer>`.
 */
export class GstSparsifier extends BaseSparsifier {
  readonly controller: RewardAwareController;
  private readonly layers: GstLayer[] = [];
  private readonly counters = new GroupCounters();
  private rampTarget: number;

  /** @throws RangeError on a block size < 2, a pruneInterval < 1, or invalid controller options */
  constructor(private readonly options: GstOptions) {
    super();
    if (!(Number.isInteger(options.blockSize) && options.blockSize >= 2)) throw new RangeError(`sparsifier.gst: blockSize must be an integer >= 2, got ${options.blockSize}`);
    if (!(Number.isInteger(options.pruneInterval) && options.pruneInterval >= 1)) throw new RangeError(`sparsifier.gst: pruneInterval must be an integer >= 1, got ${options.pruneInterval}`);
    if (options.controller === 'linear-ramp' && !(options.rampEnd > options.warmup)) throw new RangeError(`sparsifier.gst: rampEnd (${options.rampEnd}) must be > warmup (${options.warmup})`);
    this.controller = new RewardAwareController(options);
    this.rampTarget = options.initialSparsity;
  }

  /** The target sparsity S now in force (controller or ramp). */
  get targetSparsity(): number {
    return this.options.controller === 'linear-ramp' ? this.rampTarget : this.controller.target;
  }

  /** Linear-ramp target at gradient iteration `clock`. */
  private ramp(clock: number): number {
    const { warmup, rampEnd, initialSparsity: s0, maxSparsity: s1 } = this.options;
    const f = Math.min(1, Math.max(0, (clock - warmup) / (rampEnd - warmup)));
    return s0 + (s1 - s0) * f;
  }

  /** The gradient-iteration clock: the largest update count over the groups. */
  private clock(): number {
    return this.counters.max();
  }

  /** Whether layer `index` of `net` is block-circulant (all layers, the input layer only with `firstLayer`). */
  eligible(_net: Mlp, index: number): boolean {
    return index > 0 || this.options.firstLayer;
  }

  /** The per-layer state by weight name (`critic1.l2.weight`), for tests and tools. */
  layer(name: string): Readonly<GstLayer> | undefined {
    return this.layers.find((l) => l.name === name);
  }

  /** @inheritdoc Makes every eligible layer block-circulant from its initial weights and applies the initial target. */
  initialize(groups: readonly NetworkGroup[], _rng: Rng): void {
    const b = this.options.blockSize;
    for (const group of groups) {
      this.counters.start(group.name);
      group.networks.forEach((network, k) => {
        const target = group.targets[k];
        network.layers.forEach((l, index) => {
          if (!this.eligible(network, index)) return;
          const layout = circulantLayout(l.outFeatures, l.inFeatures, b);
          const state: GstLayer = {
            group, network, target, index, name: `${l.name}.weight`, layout, circulant: true, engineFolds: this.useEngineFft(network), blockMask: null,
            frozen: new Float32Array(blockCount(layout) * b), scratch: new Float32Array(blockCount(layout) * b),
          };
          materializeCirculant(extractCirculant(l.weight, layout, state.scratch), layout, null, l.weight);
          if (target) target.layers[index].weight.set(l.weight);
          if (state.engineFolds) for (const net of target ? [network, target] : [network]) net.setBlockCirculant!(index, b);
          this.layers.push(state);
        });
      });
    }
    if (this.options.mode !== 'circulant-only' && this.targetSparsity > 0) for (const l of this.layers) this.retopologize(l);
  }

  /**
   * Whether circulant layers of `net` run on the engine's FFT path (`kernel`).
   * @throws Error for `kernel: 'fft'` on an engine without block-circulant layers or with b not a power of two
   */
  private useEngineFft(net: Mlp): boolean {
    const { kernel, blockSize: b } = this.options;
    if (kernel === 'direct') return false;
    const available = typeof net.setBlockCirculant === 'function';
    if (kernel === 'fft' && (!available || !fftSupportsBlockSize(b))) {
      throw new Error(`sparsifier.gst: kernel 'fft' needs an engine with FFT block-circulant layers (runtime.engine: native) and a power-of-two blockSize; ${net.spec.name} has ${available ? `blockSize ${b}` : 'none'}`);
    }
    return available && fftSupportsBlockSize(b) && b >= CIRCULANT_FFT_MIN_BLOCK_SIZE;
  }

  /** @inheritdoc Counts the update and folds the weight gradient of every circulant layer the engine did not fold. */
  override beforeOptimizerStep(group: NetworkGroup): boolean {
    this.counters.increment(group.name);
    for (const l of this.layers) {
      if (!l.circulant || l.engineFolds || !group.networks.includes(l.network)) continue;
      const g = l.network.layers[l.index].weightGrad;
      materializeCirculant(foldCirculantGradient(g, l.layout, l.scratch), l.layout, l.blockMask, g);
    }
    return true;
  }

  /** Re-materialises a circulant layer of `net` from its first diagonal entries. */
  private canonicalize(l: GstLayer, net: Mlp): void {
    const w = net.layers[l.index].weight;
    materializeCirculant(extractCirculant(w, l.layout, l.scratch), l.layout, l.blockMask, w);
  }

  /** @inheritdoc At a topology point: re-materialises the group's circulant layers and moves them to the target. */
  override afterOptimizerStep(group: NetworkGroup): void {
    const clock = this.clock();
    if (this.options.controller === 'linear-ramp') this.rampTarget = this.ramp(clock);
    const due = this.options.mode !== 'circulant-only' && this.counters.get(group.name) % this.options.pruneInterval === 0;
    if (!due) return;
    for (const l of this.layers) {
      if (!group.networks.includes(l.network)) continue;
      if (l.circulant) {
        this.canonicalize(l, l.network);
        if (l.target) this.canonicalize(l, l.target);
      }
      this.retopologize(l);
    }
  }

  /** Moves layer `l` to the current target sparsity (block pruning / regrowth, or the unstructured switch). */
  private retopologize(l: GstLayer): void {
    const s = this.targetSparsity;
    const b = this.options.blockSize;
    if (l.circulant && this.options.mode === 'circ→unstructured') {
      if (s < 1 - 1 / b + this.options.switchMargin) return;
      l.circulant = false; // W is already the dense expansion of the blocks
      if (l.engineFolds) for (const net of l.target ? [l.network, l.target] : [l.network]) net.setBlockCirculant!(l.index, null);
      l.engineFolds = false;
      l.frozen = new Float32Array(l.layout.out * l.layout.in);
    }
    if (l.circulant) this.moveBlocks(l, s);
    else this.moveWeights(l, s);
  }

  /** Block pruning / regrowth of a circulant layer to block sparsity `s` by `‖c_ij‖₂`. */
  private moveBlocks(l: GstLayer, s: number): void {
    const { layout } = l;
    const b = layout.blockSize;
    const nb = blockCount(layout);
    const w = l.network.layers[l.index].weight;
    const vectors = extractCirculant(w, layout, l.scratch);
    const mask = l.blockMask ?? new Float32Array(nb).fill(1);
    for (let k = 0; k < nb; k++) if (mask[k] === 0) vectors.set(l.frozen.subarray(k * b, (k + 1) * b), k * b);
    const scores = blockNorms(vectors, layout);
    const active = countActive(mask);
    const keep = activeCount(nb, s);
    if (keep === active) return;
    // shrinking ranks only the active blocks, growing keeps every active block and adds the pruned ones of largest norm
    const next = resizeMask(mask, nb, keep, (k) => scores[k]);
    for (let k = 0; k < nb; k++) if (mask[k] && !next[k]) l.frozen.set(vectors.subarray(k * b, (k + 1) * b), k * b);
    l.blockMask = keep === nb ? null : next;
    const element = l.blockMask ? expandBlockMask(l.blockMask, layout) : null;
    // regrown blocks come back with their frozen vectors (online) / the online values (target)
    materializeCirculant(vectors, layout, l.blockMask, w);
    if (l.target) {
      const regrown = expandBlockMask(Float32Array.from(next, (x, k) => (x && !mask[k] ? 1 : 0)), layout);
      const tw = l.target.layers[l.index].weight;
      for (let i = 0; i < tw.length; i++) if (regrown[i]) tw[i] = w[i];
    }
    setGroupMask(l.group, l.network, l.index, element);
  }

  /** Unstructured magnitude pruning / regrowth of a layer to sparsity `s` (pruned values frozen). */
  private moveWeights(l: GstLayer, s: number): void {
    const layer = l.network.layers[l.index];
    const w = layer.weight;
    const n = w.length;
    const mask = layer.mask ?? new Float32Array(n).fill(1);
    const active = countActive(mask);
    const keep = activeCount(n, s);
    if (keep === active) return;
    // shrinking ranks the live |W|, growing the frozen |W| of the pruned weights
    const next = resizeMask(mask, n, keep, (i) => (mask[i] ? Math.abs(w[i]) : Math.abs(l.frozen[i])));
    for (let i = 0; i < n; i++) {
      if (mask[i] && !next[i]) l.frozen[i] = w[i];
      else if (!mask[i] && next[i]) w[i] = l.frozen[i];
    }
    if (l.target) {
      const tw = l.target.layers[l.index].weight;
      for (let i = 0; i < n; i++) if (!mask[i] && next[i]) tw[i] = w[i];
    }
    setGroupMask(l.group, l.network, l.index, keep === n ? null : next);
  }

  /** @inheritdoc Feeds the controller (the gradient-iteration clock decides the warm-up). */
  override onEvaluation(meanReturn: number, _step: number): void {
    if (this.options.controller === 'reward-aware') this.controller.observe(meanReturn, this.clock());
  }

  /** @inheritdoc Circulant layers (online and target) store b values per active block (`circulantStorage`). */
  storedWeights(net: Mlp, index: number): number | undefined {
    const l = this.layers.find((x) => x.index === index && (x.network === net || x.target === net));
    return l?.circulant ? circulantStorage(l.layout, l.blockMask) : undefined;
  }

  /** @inheritdoc `sparsity/*` and `gst/*` (see the class docs). */
  override metrics(groups: readonly NetworkGroup[]): Record<string, number> {
    const out: Record<string, number> = { ...super.metrics(groups), ...this.controller.metrics(), 'gst/target_sparsity': this.targetSparsity };
    out['gst/circulant_layers'] = this.layers.filter((l) => l.circulant).length;
    out['gst/fft_layers'] = this.layers.filter((l) => l.engineFolds).length;
    for (const l of this.layers) {
      if (l.circulant) out[`gst/block_sparsity/${l.name}`] = l.blockMask ? 1 - countActive(l.blockMask) / l.blockMask.length : 0;
    }
    return out;
  }

  /** Counters, controller, ramp target and per layer: mode, block mask, frozen values (base64). */
  override state(): unknown {
    return {
      counters: this.counters.toJSON(), controller: this.controller.state(), rampTarget: this.rampTarget,
      layers: Object.fromEntries(this.layers.map((l) => [l.name, { circulant: l.circulant, blockMask: l.blockMask && encodeFloat32(l.blockMask), frozen: encodeFloat32(l.frozen) }])),
    };
  }

  /** Restores `state()` after `initialize` (the engine's weights and masks come from the checkpoint). */
  override loadState(state: unknown): void {
    const s = state as { counters: Record<string, number>; controller: ControllerState; rampTarget: number; layers: Record<string, { circulant: boolean; blockMask: string | null; frozen: string }> };
    this.counters.load(s.counters);
    this.controller.loadState(s.controller);
    this.rampTarget = s.rampTarget;
    for (const l of this.layers) {
      const saved = s.layers[l.name];
      if (!saved) continue;
      if (l.circulant && !saved.circulant && l.engineFolds) for (const net of l.target ? [l.network, l.target] : [l.network]) net.setBlockCirculant!(l.index, null);
      l.circulant = saved.circulant;
      l.engineFolds &&= l.circulant;
      l.blockMask = saved.blockMask === null ? null : decodeFloat32(saved.blockMask);
      l.frozen = decodeFloat32(saved.frozen);
    }
  }
}
