import { FifoReplayBuffer } from '../../src/index.js';

/**
 * The `replay-buffer.uniform` buffer: a FIFO ring of the last `capacity` transitions on
 * preallocated typed arrays, sampled uniformly with replacement (as TD3's reference
 * `ReplayBuffer`, github.com/sfujim/TD3 `utils.py`), with contiguous windows for the agents'
 * `nStep` option. It is `FifoReplayBuffer` (`src/rl/fifo-replay-buffer.ts`: storage layout,
 * sampling, windows) as is; the constructor is `(capacity, context)`.
 * Memory: `capacity·(2·obs + act + 3)·4` bytes.
 */
export class UniformReplayBuffer extends FifoReplayBuffer {}
