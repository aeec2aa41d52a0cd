import { ContainerModule } from 'inversify';
import type { NetworkGroup } from '../../src/core/network-group.js';
import { Sparsifier } from '../../src/core/sparsifier.js';
import type { PluginManifest } from '../../src/plugin/plugin-manifest.js';
import { sparsityMetrics } from '../../src/sparse/sparsity-metrics.js';

/** The null sparsifier: dense networks, no masks (the dense baseline). */
export class DenseSparsifier implements Sparsifier {
  initialize(): void {}
  needsDenseGradient(): boolean {
    return false;
  }
  beforeOptimizerStep(): boolean {
    return true;
  }
  afterOptimizerStep(): void {}
  afterTargetUpdate(): void {}
  onEvaluation(): void {}
  metrics(groups: readonly NetworkGroup[]): Record<string, number> {
    return sparsityMetrics(groups);
  }
  state(): unknown {
    return {};
  }
  loadState(): void {}
}

const manifest: PluginManifest<Record<string, never>> = {
  id: 'sparsifier.dense',
  kind: 'sparsifier',
  description: 'Dense networks, no masks (the dense baseline)',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  createModule: () =>
    new ContainerModule((bind) => {
      bind<Sparsifier>(Sparsifier).toConstantValue(new DenseSparsifier());
    }),
};
export default manifest;
