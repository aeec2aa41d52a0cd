import { Rng } from '../../src/util/rng.js';

/** A seeded uniform [0, 1) stream for test data (the project's `Rng`). */
export function uniformStream(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.uniform();
}
