import type { Engine } from './engine.js';

/** `runtime` section of a config (engine choice). */
export interface RuntimeOptions {
  readonly engine: 'auto' | 'native' | 'tfjs';
  readonly backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  readonly threads: number;
}

/**
 * Creates the network engine a run asked for: `native` (Node-API addon, fast), `tfjs`
 * (TensorFlow.js, the portable reference; `backend` picks its backend), or `auto` = native when
 * its addon is built, else tfjs; `auto` with an explicit `backend` (not `auto`) means tfjs, since
 * only tfjs has backends. `Engine.description` says what runs; runs log it.
 * @throws Error when an explicitly requested engine or backend cannot load
 */
export async function createEngine(runtime: RuntimeOptions): Promise<Engine> {
  if (runtime.engine === 'native' || (runtime.engine === 'auto' && runtime.backend === 'auto')) {
    const native = await import('./native-engine.js');
    if (runtime.engine === 'native' || native.nativeEngineAvailable()) return native.createNativeEngine({ threads: runtime.threads });
  }
  const { createTfjsEngine } = await import('./tfjs-engine.js');
  return createTfjsEngine(runtime.backend);
}
