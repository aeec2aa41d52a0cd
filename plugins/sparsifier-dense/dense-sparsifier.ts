import { sparsityMetrics, type NetworkGroup, type Sparsifier, type Rng } from '../../src/index.js';

/**
 * The null sparsifier: dense networks, no masks (the dense baseline). Its hooks are the
 * do-nothing defaults that mask-based sparsifiers extend.
 */
export class DenseSparsifier implements Sparsifier {
  initialize(_groups: readonly NetworkGroup[], _rng: Rng): void {}
  needsDenseGradient(_group: NetworkGroup): boolean {
    return false;
  }
  beforeOptimizerStep(_group: NetworkGroup): boolean {
    return true;
  }
  afterOptimizerStep(_group: NetworkGroup): void {}
  afterTargetUpdate(_group: NetworkGroup): void {}
  onEvaluation(_meanReturn: number, _step: number): void {}
  metrics(groups: readonly NetworkGroup[]): Record<string, number> {
    return sparsityMetrics(groups);
  }
  state(): unknown {
    return {};
  }
  loadState(_state: unknown): void {}
}
