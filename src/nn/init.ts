import type { Mlp } from './engine.js';
import type { Rng } from '../util/rng.js';

/**
 * PyTorch's default `nn.Linear` initialisation: weight and bias ~ U(−1/√in, 1/√in)
 * (kaiming_uniform with a = √5). Used by TD3 in RLx2 [R-code] and DS-TD3 [S-code].
 * Writes into the network's live views; layer by layer, weight then bias, row-major.
 */
export function initLinearDefault(mlp: Mlp, rng: Rng): void {
  for (const layer of mlp.layers) {
    const bound = 1 / Math.sqrt(layer.inFeatures);
    for (let i = 0; i < layer.weight.length; i++) layer.weight[i] = rng.uniformRange(-bound, bound);
    for (let i = 0; i < layer.bias.length; i++) layer.bias[i] = rng.uniformRange(-bound, bound);
  }
}
