import { describe, it } from 'vitest';
import { nativeEngineAvailable } from '../../src/nn/native-engine.js';

/** Whether the native addon is built. */
export const nativeAvailable = nativeEngineAvailable();

/**
 * `describe` for suites that need the native addon: without it the suite is skipped and one
 * failing test says how to build it (CI always builds it, so the native suites fail, never skip).
 */
export function nativeSuite(title: string, body: () => void): void {
  if (nativeAvailable) {
    describe(title, body);
    return;
  }
  describe(title, () => {
    it('the native addon is built', () => {
      throw new Error('native addon not built: run `npm run setup` or `npm run build:native`');
    });
  });
}
