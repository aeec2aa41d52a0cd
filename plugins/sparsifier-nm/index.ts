import { Sparsifier, definePlugin } from '../../src/index.js';
import { NmSparsifier, type NmOptions } from './nm-sparsifier.js';

export default definePlugin<NmOptions>({
  id: 'sparsifier.nm',
  kind: 'sparsifier',
  description: 'RNM-TD3 N:M semi-structured sparsity on every layer of actor, critics and targets, periodic magnitude re-projection, SAD logging (docs/methods.md §4, §9.4)',
  optionsSchema: {
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
  },
  register: ({ bind, options }) => bind(Sparsifier).toConstantValue(new NmSparsifier(options)),
});
