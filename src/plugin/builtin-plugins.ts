import type { PluginManifest } from './plugin-manifest.js';

type Loader = () => Promise<{ default: PluginManifest<never> }>;

/**
 * The explicit registry of built-in plugins: id → lazy import. Adding a built-in plugin means
 * adding one line here; external plugins are named in the config's `plugins` list instead.
 */
export const builtinPlugins: Readonly<Record<string, Loader>> = {
  'agent.td3': () => import('../../plugins/agent-td3/index.js'),
  'agent.sac': () => import('../../plugins/agent-sac/index.js'),
  'sparsifier.dense': () => import('../../plugins/sparsifier-dense/index.js'),
  'sparsifier.static': () => import('../../plugins/sparsifier-static/index.js'),
  'sparsifier.rigl': () => import('../../plugins/sparsifier-rigl/index.js'),
  'sparsifier.nm': () => import('../../plugins/sparsifier-nm/index.js'),
  'sparsifier.gradual-pruning': () => import('../../plugins/sparsifier-gradual-pruning/index.js'),
  'sparsifier.gst': () => import('../../plugins/sparsifier-gst/index.js'),
  'sparsifier.set': () => import('../../plugins/sparsifier-set/index.js'),
  'replay-buffer.uniform': () => import('../../plugins/replay-buffer-uniform/index.js'),
  'replay-buffer.dynamic-capacity': () => import('../../plugins/replay-buffer-dynamic-capacity/index.js'),
  'environment.gymnasium': () => import('../../plugins/environment-gymnasium/index.js'),
};
