import type { JsonSchema } from '../../src/index.js';

/**
 * How the gradient reaches the dense weights W̃ (docs/methods.md §9.3–9.4.3):
 * - `masked-retain`: update `g ⊙ M`; pruned entries of W̃ are frozen (kept, not zeroed) so a later
 *   re-projection can swap them back in.
 * - `ste`: straight-through estimator — the gradient w.r.t. the projected weight `W̃ ⊙ M` is
 *   applied to all of W̃.
 * - `srste`: SR-STE (Zhou et al. 2021, ICLR, "Learning N:M fine-grained structured sparse neural
 *   networks from scratch"): like `ste` with `λ·(1 − M) ⊙ W̃` added to the gradient before the
 *   optimizer step (the paper uses SGD with momentum; with the engine's Adam the decay term is
 *   normalised together with the gradient).
 */
export type NmGradMode = 'masked-retain' | 'ste' | 'srste';

/**
 * Trailing partial group when `in % M ≠ 0` (docs/methods.md §4.b.2, §9.4.1; the paper's choice is
 * UNKNOWN):
 * - `pad`: the row is padded virtually to a multiple of M with entries that are never kept, so
 *   a partial group of t < M entries keeps min(N, t) (`nmMask`);
 * - `dense-first-layer`: layers whose input size is not a multiple of M (in TD3 MLPs with
 *   hidden sizes divisible by M: only the first layer of each network) stay dense, unmasked.
 */
export type NmPadMode = 'pad' | 'dense-first-layer';

/** Which layers of every network get N:M masks (§9.4.2; `all` follows "all networks"). */
export type NmLayers = 'all' | 'skip-first' | 'skip-last' | 'skip-first-last';

/** Options of `sparsifier.nm` (defaults in `nmOptionsSchema` only; docs/methods.md §4.d, §9.4). */
export interface NmOptions {
  /** N kept weights per group, 0 < N < M. */
  readonly n: number;
  /** M, group length along each row's input dimension. */
  readonly m: number;
  /** Mask re-projection every this many updates of a group (critic: iterations; actor: actor updates); 0 = never. */
  readonly maskInterval: number;
  readonly gradMode: NmGradMode;
  /** λ_w of SR-STE (Zhou et al. 2021 use 2e-4); only read in `srste`. */
  readonly srsteLambda: number;
  readonly padMode: NmPadMode;
  readonly layers: NmLayers;
  /** `shared`: targets use the online masks; `own`: targets re-projected from their own weights. */
  readonly targetMode: 'shared' | 'own';
}

/** JSON Schema of `sparsifier.nm`'s options (without `type`), with every default. */
export const nmOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['n', 'm'],
  properties: {
    n: { type: 'integer', minimum: 1, description: 'N: weights kept in every group of M consecutive inputs of a row (must be < m).' },
    m: { type: 'integer', minimum: 2, description: 'M: group length along the input dimension (2:4 → 50 % sparsity, 1:4 → 75 %, 1:8 → 87.5 %).' },
    maskInterval: { type: 'integer', minimum: 0, default: 10000, description: 'Re-project the masks every this many updates of a group (critic: gradient iterations; actor: actor updates); 0 = never (ours, docs/methods.md §9.4.4).' },
    gradMode: {
      enum: ['masked-retain', 'ste', 'srste'], default: 'masked-retain',
      description: 'masked-retain: masked gradient, dense weights kept with pruned entries frozen; ste: straight-through (all of W̃ updated); srste: ste + λ(1−M)⊙W̃ (Zhou et al. 2021).',
    },
    srsteLambda: { type: 'number', minimum: 0, default: 0.0002, description: 'λ_w of SR-STE (Zhou et al. 2021); used by gradMode srste.' },
    padMode: {
      enum: ['pad', 'dense-first-layer'], default: 'pad',
      description: 'Trailing partial group (in % M ≠ 0): pad = virtual padding, a group of t < M keeps min(N, t); dense-first-layer = layers whose input size is not a multiple of M stay dense.',
    },
    layers: { enum: ['all', 'skip-first', 'skip-last', 'skip-first-last'], default: 'all', description: 'Layers of every network that get N:M masks (all = "all networks" incl. first and last).' },
    targetMode: { enum: ['shared', 'own'], default: 'shared', description: 'shared: targets use the online masks; own: each target layer re-projected from its own weights after every Polyak update.' },
  },
};
