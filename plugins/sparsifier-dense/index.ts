import { ContainerModule } from 'inversify';
import { Sparsifier } from '../../src/core/sparsifier.js';
import type { PluginManifest } from '../../src/plugin/plugin-manifest.js';
import { DenseSparsifier } from './dense-sparsifier.js';

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
