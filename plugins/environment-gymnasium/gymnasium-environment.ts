/**
 * `GymnasiumEnvironment`: a vector of Gymnasium environments running in a Python child process
 * (the `sparse_rl_bridge` package in `bridge-python/`), driven over ZeroMQ with the bridge
 * protocol of `./protocol.ts`.
 *
 * Lifetime: `start()` binds a local REQ socket (a Unix socket in a private temporary directory,
 * or loopback TCP on a random port), spawns
 * `<python> -m sparse_rl_bridge --connect <endpoint> --parent-pid <pid>` with the token in
 * `SPARSE_RL_BRIDGE_TOKEN` and `bridge-python/src` prepended to `PYTHONPATH`, and handshakes.
 * The child is killed (SIGKILL when it does not exit by itself) when the environment closes or
 * fails, and when the Node process exits; the child also exits when its parent dies (even by
 * SIGKILL), removing the private folder of its socket.
 *
 * The parts: `./bridge-process.ts` (spawn, child lifetime, stderr tail), `./bridge-transport.ts`
 * (ZeroMQ socket, request/reply with deadlines, CURVE), `./bridge-session.ts` (HELLO/WELCOME
 * handshake, remote endpoint/token/keys); this module keeps the environment itself, its restarts
 * after a crash, the capture and restore of its state (`saveState` / `restoreState`, protocol
 * 1.2 GET_STATE / SET_STATE), and the decoding of results.
 */
import {
  EnvironmentError,
  flatSize,
  type Environment,
  type EnvironmentInfo,
  type EnvironmentRestart,
  type EnvironmentSnapshot,
  type Space,
  type StepResult,
} from '../../src/index.js';
import { CLOSE_GRACE_MS } from './bridge-process.js';
import { openSession, type BridgeSessionOptions } from './bridge-session.js';
import { BridgeRemoteError, type BridgeConnection } from './bridge-transport.js';
import {
  assertLittleEndian,
  type Vectorization,
  parseGetStateResult,
  parseResetResult,
  parseSetStateResult,
  parseStepResult,
  PROTOCOL_VERSION,
  resetFields,
  type Welcome,
  type MessageType,
} from './protocol.js';

/** Options of {@link GymnasiumEnvironment.start} (the session options, see {@link BridgeSessionOptions}, and these). */
export interface GymnasiumEnvironmentOptions extends BridgeSessionOptions {
  /** Number of sub-environments stepped together (default 1). */
  readonly numEnvs?: number;
  /**
   * Default seed of the first `reset()` called without one (env `i` gets `seed + i`), and the
   * base of the restart seeds (see `restartOnCrash`). The plugin's factory passes the run seed
   * (`config.seed`) for the training env and `config.seed + evaluation.seedOffset` for the
   * evaluation env, the seeds the trainer resets them with.
   */
  readonly seed?: number;
  /** Deadline of every later request, in ms (default 30000). */
  readonly requestTimeoutMs?: number;
  /**
   * Respawn a bridge that died or missed its deadline instead of failing (default off). The
   * failed STEP is *not* re-sent: the new envs are reset (seeded `seed + 1_000_003 * k` at the
   * k-th restart when a seed was given), and that `step()` returns, for every env, the new
   * episode's first observation with `truncated = 1`, reward 0, `finalObservations` = the last
   * observation seen before the crash, and no episode statistics (the interrupted episodes are
   * lost and reported through `onWarning`). A remote (`remote`) bridge is reconnected the same way.
   * Each restart is reported to the `onRestart` listeners; a crash after `maxRestarts` restarts
   * (default 3) fails with an EnvironmentError saying so.
   */
  readonly restartOnCrash?: boolean | { readonly maxRestarts?: number };
}

/** Seed offset between restarts (env `i` of the k-th restart gets `seed + k * RESTART_SEED_STRIDE + i`). */
export const RESTART_SEED_STRIDE = 1_000_003;

/**
 * The seed of the k-th restart (k >= 1) of an environment started with `seed`: `(seed + k * 1_000_003) mod 2^32`
 * (env `i` gets that plus `i`); `null` without a seed. The training env (base `config.seed`, envs
 * `+ i`) and the evaluation env (base `config.seed + evaluation.seedOffset`) keep disjoint seeds as
 * long as `numEnvs <= seedOffset < 1_000_003 - numEnvs`.
 */
export function restartSeed(seed: number | undefined, k: number): number | null {
  return seed === undefined ? null : (seed + k * RESTART_SEED_STRIDE) % 2 ** 32;
}

/**
 * A Gymnasium vector environment served by a Python bridge process (see module docs).
 * Implements the core {@link Environment} contract: same-step autoreset, `terminated` and
 * `truncated` kept apart, observations float32 (cast by the bridge), rewards float64.
 */
export class GymnasiumEnvironment implements Environment {
  /** Number of sub-environments. */
  readonly numEnvs: number;
  readonly observationSpace: Space;
  readonly actionSpace: Space;
  readonly info: EnvironmentInfo;
  /** Flattened observation length per env ({@link flatSize}). */
  readonly obsDim: number;
  /** Flattened action length per env (1 for Discrete). */
  readonly actDim: number;
  /** Protocol version of the bridge and the capabilities in use (negotiated at the handshake). */
  readonly protocol: { readonly bridge: string; readonly client: string; readonly capabilities: readonly string[] };
  /** `'sync'` or `'async'`, as the bridge confirmed. */
  readonly vectorization: Vectorization;
  private closePromise: Promise<void> | null = null;
  private readonly actionShape: readonly number[];
  private readonly maxRestarts: number;
  private restartCount = 0;
  private clipped = 0;
  /** Last observations returned (for `finalObservations` after a crash), or null before reset. */
  private lastObs: Float32Array | null = null;
  private readonly epReturn: Float64Array;
  private readonly epLength: Float64Array;
  private readonly warn: (message: string) => void;
  private readonly restartListeners: ((restart: EnvironmentRestart) => void)[] = [];

  private constructor(
    private conn: BridgeConnection,
    welcome: Welcome,
    private readonly requestTimeoutMs: number,
    private readonly options: GymnasiumEnvironmentOptions,
  ) {
    this.numEnvs = welcome.numEnvs;
    this.observationSpace = welcome.observationSpace;
    this.actionSpace = welcome.actionSpace;
    this.obsDim = flatSize(welcome.observationSpace);
    this.actDim = flatSize(welcome.actionSpace);
    this.actionShape = [this.numEnvs, this.actDim];
    this.info = { envId: welcome.spec.id, maxEpisodeSteps: welcome.spec.maxEpisodeSteps, versions: welcome.versions };
    this.protocol = { bridge: welcome.protocol, client: PROTOCOL_VERSION, capabilities: welcome.capabilities };
    this.vectorization = welcome.vectorization;
    const r = options.restartOnCrash;
    this.maxRestarts = r === true ? 3 : r ? (r.maxRestarts ?? 3) : 0;
    this.epReturn = new Float64Array(this.numEnvs);
    this.epLength = new Float64Array(this.numEnvs);
    this.warn = options.onWarning ?? ((m) => console.warn(m));
  }

  /** Process id of the Python bridge. @throws EnvironmentError for a remote bridge. */
  get pid(): number {
    if (!this.conn.child) throw new EnvironmentError(`a remote bridge (${this.options.remote?.endpoint}) has no local pid`);
    return this.conn.child.pid!;
  }

  /**
   * The session number of this environment on a remote `sparse-rl-bridge serve` (each
   * environment, e.g. the training and the evaluation env of a run, opens its own connection and
   * so its own session, with its own envs); null for a spawned bridge. Changes when a remote
   * bridge is reconnected (`restartOnCrash`).
   */
  get session(): number | null {
    return this.conn.session;
  }

  /** How many times the bridge was restarted after a crash (`restartOnCrash`). */
  get restarts(): number {
    return this.restartCount;
  }

  /** Action entries the bridge clipped to the Box bounds so far (`actions.clip` capability). */
  get actionsClipped(): number {
    return this.clipped;
  }

  /** The last ~8 KB of the bridge's stderr (Python warnings, MuJoCo warnings, tracebacks). */
  stderrTail(): string {
    return this.conn.stderrTail();
  }

  /**
   * Spawns the bridge (or connects to `options.remote`), creates `numEnvs` copies of `envId`
   * with `gymnasium.make(envId, **kwargs)` and handshakes.
   * @throws EnvironmentError with one clear message when the interpreter does not exist, lacks
   *   gymnasium/pyzmq/numpy (advising `npm run setup` or `SPARSE_RL_PYTHON`), when Gymnasium
   *   rejects the id or kwargs (its own message, e.g. ``Environment `NoSuchEnv` doesn't exist.``),
   *   when the bridge speaks another major protocol version (both versions named), or when the
   *   handshake misses `startTimeoutMs`. The child is killed in every failure case.
   */
  static async start(options: GymnasiumEnvironmentOptions): Promise<GymnasiumEnvironment> {
    assertLittleEndian();
    const numEnvs = options.numEnvs ?? 1;
    if (!Number.isInteger(numEnvs) || numEnvs < 1) throw new RangeError(`numEnvs must be an integer >= 1, got ${numEnvs}`);
    if (options.seed !== undefined && !(Number.isInteger(options.seed) && options.seed >= 0)) {
      throw new RangeError(`seed must be a non-negative integer, got ${options.seed}`);
    }
    if (options.vectorization !== undefined && options.vectorization !== 'sync' && options.vectorization !== 'async') {
      throw new RangeError(`vectorization must be 'sync' or 'async', got ${String(options.vectorization)}`);
    }
    JSON.stringify(options.kwargs ?? {}); // throws early for non-JSON data (cycles, BigInt)
    const { conn, welcome } = await openSession(options, numEnvs, options.seed);
    return new GymnasiumEnvironment(conn, welcome, options.requestTimeoutMs ?? 30_000, options);
  }

  /**
   * Whether `e` is a transport failure that `restartOnCrash` may recover from.
   * @throws EnvironmentError `... restarted N times, maxRestarts N reached` when it is one but the
   *   restarts are spent (with `restartOnCrash` on).
   */
  private canRestart(e: unknown, during: MessageType): boolean {
    if (e instanceof BridgeRemoteError || this.conn.failed === null || this.closePromise) return false;
    if (this.restartCount < this.maxRestarts) return true;
    if (this.options.restartOnCrash) {
      const err = e as EnvironmentError;
      throw new EnvironmentError(
        `Gymnasium bridge failed during ${during} and is not restarted again: restarted ${this.restartCount} times, maxRestarts ${this.maxRestarts} reached. ${err.message}`,
        err.details ?? {},
      );
    }
    return false;
  }

  /**
   * Calls `listener` after each restart of the bridge (`restartOnCrash`) with the restart's
   * count (1 for the first), the seed its envs were reset with (`seed + k * 1_000_003`, env `i`
   * plus `i`; `null` without a start seed), what failed (the first line of the transport error)
   * and when (ISO time). A listener that throws is reported through `onWarning`.
   */
  onRestart(listener: (restart: EnvironmentRestart) => void): void {
    this.restartListeners.push(listener);
  }

  /**
   * Replaces the failed bridge with a fresh one and resets it.
   * @returns the reset observations.
   */
  private async restart(cause: unknown, during: MessageType): Promise<Float32Array> {
    this.restartCount++;
    const lost: string[] = [];
    for (let i = 0; i < this.numEnvs; i++) {
      if (this.epLength[i] > 0) lost.push(`env ${i}: return ${this.epReturn[i]} over ${this.epLength[i]} steps`);
    }
    const first = (cause as Error).message.split('\n')[0];
    this.warn(
      `Gymnasium bridge failed during ${during} (${first}); restarting it (restart ${this.restartCount}/${this.maxRestarts}). ` +
        `The ${during} is not re-sent; interrupted episodes are lost${lost.length ? `: ${lost.join('; ')}` : ''}.`,
    );
    await this.conn.shutdown(0);
    const seed = restartSeed(this.options.seed, this.restartCount);
    const { conn } = await openSession(this.options, this.numEnvs, seed ?? undefined);
    this.conn = conn;
    const m = await this.conn.request('RESET', 'RESET_RESULT', this.requestTimeoutMs, resetFields());
    this.epReturn.fill(0);
    this.epLength.fill(0);
    const obs = parseResetResult(m, this.numEnvs, this.obsDim);
    const restart: EnvironmentRestart = { count: this.restartCount, seed, reason: first, at: new Date().toISOString() };
    for (const listener of this.restartListeners) {
      try {
        listener(restart);
      } catch (e) {
        this.warn(`an onRestart listener threw: ${(e as Error).message}`);
      }
    }
    return obs;
  }

  /**
   * Resets every env (env `i` seeded with `seed + i` when `seed` is given; without a seed, the
   * first reset uses the start option `seed`, later ones continue each env's RNG).
   * @returns observations `[numEnvs, obsDim]` float32.
   * @throws EnvironmentError (see {@link step}).
   */
  async reset(seed?: number): Promise<Float32Array> {
    if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0)) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    let obs: Float32Array;
    try {
      const m = await this.conn.request('RESET', 'RESET_RESULT', this.requestTimeoutMs, resetFields(seed));
      obs = parseResetResult(m, this.numEnvs, this.obsDim);
    } catch (e) {
      if (!this.canRestart(e, 'RESET')) throw e;
      obs = await this.restart(e, 'RESET');
    }
    this.epReturn.fill(0);
    this.epLength.fill(0);
    this.lastObs = obs;
    return obs;
  }

  /**
   * Steps every env with its row of `actions` (`[numEnvs, actDim]` float32; Discrete,
   * MultiDiscrete and MultiBinary actions as integral floats; Box actions outside the bounds are
   * clipped by the bridge and counted in {@link actionsClipped}). Do not modify `actions` before
   * the returned promise settles. A STEP is never re-sent.
   * @returns the step result; its arrays are fresh (not reused by later steps). After a crash
   *   with `restartOnCrash`, see that option for what it holds.
   * @throws EnvironmentError when `actions` has the wrong length; when the bridge rejected the
   *   request (non-finite or invalid actions: the env stays usable) or an env raised (Gymnasium's
   *   message, `details.remoteTraceback`, `details.envIndex`; call `reset()` before stepping
   *   again); or when the bridge died or missed the deadline (message includes its stderr tail;
   *   the environment is then failed for good unless `restartOnCrash` allows a restart).
   */
  async step(actions: Float32Array): Promise<StepResult> {
    if (!(actions instanceof Float32Array) || actions.length !== this.numEnvs * this.actDim) {
      throw new EnvironmentError(
        `step() needs a Float32Array of numEnvs*actDim = ${this.numEnvs}*${this.actDim} = ${this.numEnvs * this.actDim} actions, got ${actions instanceof Float32Array ? actions.length : typeof actions}`,
      );
    }
    let r: ReturnType<typeof parseStepResult>;
    try {
      const m = await this.conn.request('STEP', 'STEP_RESULT', this.requestTimeoutMs, undefined, [{ name: 'actions', data: actions, shape: this.actionShape }]);
      r = parseStepResult(m, this.numEnvs, this.obsDim);
    } catch (e) {
      if (!this.canRestart(e, 'STEP')) throw e;
      return this.stepAfterRestart(await this.restart(e, 'STEP'));
    }
    this.clipped += r.actionsClipped;
    for (let i = 0; i < this.numEnvs; i++) {
      if (r.finalObservations[i]) {
        this.epReturn[i] = 0;
        this.epLength[i] = 0;
      } else {
        this.epReturn[i] += r.rewards[i];
        this.epLength[i]++;
      }
    }
    this.lastObs = r.observations;
    const { actionsClipped: _omit, ...result } = r;
    return result;
  }

  /** The synthetic result of a STEP lost to a crash (see `restartOnCrash`). */
  private stepAfterRestart(obs: Float32Array): StepResult {
    const n = this.numEnvs;
    const d = this.obsDim;
    const prev = this.lastObs ?? obs;
    this.lastObs = obs;
    return {
      observations: obs,
      rewards: new Float64Array(n),
      terminated: new Uint8Array(n),
      truncated: new Uint8Array(n).fill(1),
      finalObservations: Array.from({ length: n }, (_, i) => prev.slice(i * d, (i + 1) * d)),
      episodes: new Array<null>(n).fill(null),
    };
  }

  /**
   * Captures the state of every env between two steps (protocol 1.2 GET_STATE): MuJoCo physics
   * state (`mjSTATE_INTEGRATION`, warm start included, plus the derived quantities the envs read
   * before simulating), each env's `np_random` and `_np_random_seed`, the TimeLimit counters, the
   * episode statistics and the last observations. `payload` is opaque: UTF-8 JSON of format
   * `sparse-rl-env-state` (see `bridge-python/README.md`), tagged with the env id, kwargs,
   * `numEnvs` and the Gymnasium / MuJoCo / NumPy versions. Envs that cannot be captured
   * completely (not a Gymnasium MuJoCo v5 task, a wrapper the bridge does not know, video
   * recording, no `reset()` yet, a bridge without the `state.snapshot` capability) answer
   * `{ restorable: false, reason }`.
   * @throws EnvironmentError when the bridge failed (not restarted here: the next step or reset
   *   restarts it with `restartOnCrash`).
   */
  async saveState(): Promise<EnvironmentSnapshot> {
    if (!this.protocol.capabilities.includes('state.snapshot')) {
      return { restorable: false, reason: `the Gymnasium bridge (protocol ${this.protocol.bridge}) cannot capture env state (no 'state.snapshot' capability; needs protocol >= 1.2)` };
    }
    const m = await this.conn.request('GET_STATE', 'GET_STATE_RESULT', this.requestTimeoutMs);
    return parseGetStateResult(m);
  }

  /**
   * Restores a payload of {@link saveState} (protocol 1.2 SET_STATE) into these envs, which must
   * have the same env id, kwargs and `numEnvs` (any vectorization): the next steps are then
   * bit-identical to those after the capture. Later `reset()` calls without a seed continue the
   * restored RNG streams.
   * @returns the observations at the capture, `[numEnvs, obsDim]` float32.
   * @throws EnvironmentError naming the field that does not match (`env_id`, `kwargs`,
   *   `num_envs`, `obs_dim`, `versions.mujoco`, ...: nothing is changed then), for a payload that
   *   is not one, for envs that cannot be restored, or when the bridge failed.
   */
  async restoreState(payload: Uint8Array): Promise<Float32Array> {
    if (!(payload instanceof Uint8Array) || payload.length === 0) throw new EnvironmentError('restoreState() needs the non-empty Uint8Array payload of saveState()');
    if (!this.protocol.capabilities.includes('state.snapshot')) {
      throw new EnvironmentError(`The Gymnasium bridge (protocol ${this.protocol.bridge}) cannot restore env state (no 'state.snapshot' capability; needs protocol >= 1.2).`);
    }
    const m = await this.conn.request('SET_STATE', 'SET_STATE_RESULT', this.requestTimeoutMs, undefined, [{ name: 'state', data: payload, shape: [payload.length] }]);
    const r = parseSetStateResult(m, this.numEnvs, this.obsDim);
    this.epReturn.set(r.episodeReturns);
    for (let i = 0; i < this.numEnvs; i++) this.epLength[i] = Number(r.episodeLengths[i]);
    this.lastObs = r.observations;
    return r.observations;
  }

  /** Round trip without touching the envs. @throws EnvironmentError like {@link step}. */
  async ping(): Promise<void> {
    await this.conn.request('PING', 'PONG', this.requestTimeoutMs);
  }

  /**
   * Closes the envs and stops the bridge (CLOSE, then SIGKILL if it has not exited within 2 s;
   * a remote bridge only ends its session). If a request is in flight it is rejected and the
   * bridge is killed at once. Safe to call twice.
   */
  close(): Promise<void> {
    if (!this.closePromise) {
      this.closePromise = (async () => {
        if (this.conn.failed) {
          await this.conn.shutdown(0);
          return;
        }
        if (this.conn.inFlight) {
          await this.conn.abort(new EnvironmentError('The Gymnasium environment was closed while a request was in flight.'));
          return;
        }
        try {
          const pending = this.conn.request('CLOSE', 'CLOSED', Math.min(this.requestTimeoutMs, 10_000));
          this.conn.expectExit();
          await pending;
        } catch {
          /* the bridge is killed below anyway */
        }
        await this.conn.shutdown(this.conn.child ? CLOSE_GRACE_MS : 0);
      })();
    }
    return this.closePromise;
  }
}
