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
 * fails, and when the Node process exits; the child also kills itself when its parent dies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { delimiter, join } from 'node:path';
import * as zmq from 'zeromq';
import { EnvironmentError, defaultPython, flatSize, packageRoot, type Environment, type EnvironmentInfo, type Space, type StepResult } from '../../src/index.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  assertLittleEndian,
  type Vectorization,
  decodeMessage,
  encodeMessage,
  helloFields,
  parseError,
  parseResetResult,
  parseStepResult,
  parseWelcome,
  PROTOCOL_VERSION,
  resetFields,
  type Welcome,
  type DecodedMessage,
  type MessageType,
  type OutgoingArray,
  type WireHeader,
} from './protocol.js';

/** Options of {@link GymnasiumEnvironment.start}. */
export interface GymnasiumEnvironmentOptions {
  /** Gymnasium id, e.g. `HalfCheetah-v5`. */
  readonly envId: string;
  /** Keyword arguments of `gymnasium.make` (JSON data only). */
  readonly kwargs?: Readonly<Record<string, unknown>>;
  /** Number of sub-environments stepped together (default 1). */
  readonly numEnvs?: number;
  /** Default seed of the first `reset()` called without one (env `i` gets `seed + i`). */
  readonly seed?: number;
  /** Python interpreter (default {@link defaultPython}: `$SPARSE_RL_PYTHON` or `<root>/.venv/bin/python`). */
  readonly python?: string;
  /** Deadline of spawn + imports + `gymnasium.make` + handshake, in ms (default 60000). */
  readonly startTimeoutMs?: number;
  /** Deadline of every later request, in ms (default 30000). */
  readonly requestTimeoutMs?: number;
  /** The bridge exits after this many seconds without a request (default 0 = never; it still exits when this process dies). */
  readonly idleTimeoutS?: number;
  /**
   * Observer of every header sent and received (for tests and debugging; not called with arrays).
   * Keep it cheap: it runs on the stepping hot path.
   */
  readonly onMessage?: (direction: 'sent' | 'received', header: WireHeader) => void;
  /**
   * `'sync'` (default): the envs are stepped one after another in the bridge process (lowest
   * overhead per step); `'async'`: Gymnasium `AsyncVectorEnv` worker processes, one per env
   * (`autoreset_mode=SAME_STEP`), worth it when one env step costs much more than the IPC.
   * Both give bit-identical results.
   */
  readonly vectorization?: Vectorization;
  /**
   * Respawn a bridge that died or missed its deadline instead of failing (default off). The
   * failed STEP is *not* re-sent: the new envs are reset (seeded `seed + 1_000_003 * k` at the
   * k-th restart when a seed was given), and that `step()` returns, for every env, the new
   * episode's first observation with `truncated = 1`, reward 0, `finalObservations` = the last
   * observation seen before the crash, and no episode statistics (the interrupted episodes are
   * lost and reported through `onWarning`). A remote (`remote`) bridge is reconnected the same way.
   */
  readonly restartOnCrash?: boolean | { readonly maxRestarts?: number };
  /** Connect to a running `sparse-rl-bridge serve` instead of spawning a child (see {@link RemoteBridgeOptions}). */
  readonly remote?: RemoteBridgeOptions;
  /**
   * Local transport to a spawned bridge: `'ipc'` (default except on Windows: a Unix socket in a
   * fresh 0700 temporary directory, so only this user can connect, and the fastest) or `'tcp'`
   * (`tcp://127.0.0.1:<random port>`). Both are authenticated with a random token.
   */
  readonly transport?: 'ipc' | 'tcp';
  /** Receives warnings (protocol minor mismatch, restarts, lost episodes); default `console.warn`. */
  readonly onWarning?: (message: string) => void;
}

/** Where and how to reach a remote bridge started with `sparse-rl-bridge serve --bind ...`. */
export interface RemoteBridgeOptions {
  /** e.g. `tcp://gpu-box.example:5555`. */
  readonly endpoint: string;
  /**
   * The server's CURVE public key: a Z85 string (40 characters) or the path of the `NAME.key`
   * file written by `sparse-rl-bridge keygen`. Omit only for a loopback server started without
   * CURVE.
   */
  readonly serverPublicKey?: string;
  /**
   * This client's CURVE key pair: the path of a `NAME.key_secret` file made by `keygen` (needed
   * when the server restricts clients with `--curve-client-keys`); default: a fresh ephemeral pair.
   */
  readonly clientKeyFile?: string;
  /** The server's token; default `$SPARSE_RL_BRIDGE_TOKEN`. */
  readonly token?: string;
}

/**
 * An ERROR reply from the bridge: the request failed on the Python side but the bridge is alive
 * (the environment stays usable; after an env exception, `details.envIndex` is set and a
 * `reset()` is needed before the next `step()`).
 */
export class BridgeRemoteError extends EnvironmentError {
  constructor(
    message: string,
    /** The Python exception's own message, e.g. ``Environment `NoSuchEnv` doesn't exist.`` */
    readonly remoteMessage: string,
    details: EnvironmentError['details'],
  ) {
    super(message, details);
    this.name = 'EnvironmentError';
  }
}

function remoteErrorMessage(request: MessageType, r: ReturnType<typeof parseError>): string {
  if (r.envIndex !== undefined) {
    return `Gymnasium env ${r.envIndex} raised ${r.exceptionType} during ${request}: ${r.message} (call reset() before stepping again)`;
  }
  if (/\.(RequestError|ProtocolError)$/.test(r.exceptionType)) return `Gymnasium bridge rejected ${request}: ${r.message}`;
  return `Gymnasium bridge failed ${request}: ${r.exceptionType}: ${r.message}`;
}

/** Bytes of child stderr kept for error messages. */
const STDERR_TAIL_BYTES = 8 * 1024;
/** How long to wait for the rest of stderr after the child exited before reporting. */
const STDERR_DRAIN_MS = 300;
/** How long `close()` waits for a graceful exit before SIGKILL. */
const CLOSE_GRACE_MS = 2000;

const SETUP_ADVICE = 'Run `npm run setup` (it creates .venv with the bridge dependencies) or set SPARSE_RL_PYTHON to a Python that has gymnasium[mujoco], pyzmq and numpy.';

/** Children alive in this process, killed synchronously when Node exits. */
const liveChildren = new Set<ChildProcess>();
/** Private directories of `ipc://` sockets still in use, removed when Node exits. */
const liveIpcDirs = new Set<string>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
      for (const d of liveIpcDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** Keeps the last `limit` bytes written to it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0].length >= this.limit) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

function withTail(message: string, tail: string): string {
  const t = tail.trimEnd();
  return t ? `${message}\n--- bridge stderr (last ${STDERR_TAIL_BYTES / 1024} KB) ---\n${t}` : message;
}

/**
 * One bridge child process and its socket: strict request/reply with a deadline per request.
 * After a transport failure (child died, deadline passed, spawn failed) it is permanently failed:
 * the child is killed, and every request rejects with the failure. A request is never re-sent.
 */
class BridgeConnection {
  private seq = 0;
  private busy = false;
  private closing = false;
  private exitExpected = false;
  private failure: EnvironmentError | null = null;
  private pendingReject: ((e: EnvironmentError) => void) | null = null;
  private readonly tail = new TailBuffer(STDERR_TAIL_BYTES);
  private readonly exited: Promise<void>;
  /** `pid N` of the child, or the remote endpoint. */
  private get who(): string {
    return this.child ? `pid ${this.child.pid}` : `remote ${this.remoteEndpoint}`;
  }
  private stderrEnded: Promise<void>;

  constructor(
    private readonly socket: zmq.Request,
    readonly child: ChildProcess | null,
    readonly python: string,
    private readonly onMessage?: GymnasiumEnvironmentOptions['onMessage'],
    /** Remote endpoint (no child process) when connecting to `sparse-rl-bridge serve`. */
    readonly remoteEndpoint?: string,
  ) {
    if (!child) {
      this.stderrEnded = Promise.resolve();
      this.exited = Promise.resolve();
      return;
    }
    trackChild(child);
    this.stderrEnded = new Promise((resolve) => {
      if (!child.stderr) return resolve();
      child.stderr.on('data', (c: Buffer) => this.tail.push(c));
      child.stderr.once('end', () => resolve());
      child.stderr.once('error', () => resolve());
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        resolve();
        void this.onExit(code, signal);
      });
      child.once('error', (err: NodeJS.ErrnoException) => {
        // spawn failure: no 'exit' follows
        liveChildren.delete(child);
        resolve();
        this.setFailure(this.spawnError(err));
      });
    });
  }

  /** The last ~8 KB of the child's stderr. */
  stderrTail(): string {
    return this.tail.text();
  }

  get failed(): EnvironmentError | null {
    return this.failure;
  }

  get inFlight(): boolean {
    return this.busy;
  }

  private spawnError(err: NodeJS.ErrnoException): EnvironmentError {
    if (err.code === 'ENOENT') {
      return new EnvironmentError(`Python interpreter not found: ${this.python} (spawn ENOENT). ${SETUP_ADVICE}`);
    }
    if (err.code === 'EACCES') {
      return new EnvironmentError(`Python interpreter is not executable: ${this.python} (spawn EACCES). ${SETUP_ADVICE}`);
    }
    return new EnvironmentError(`Could not start the Gymnasium bridge with ${this.python}: ${err.message}. ${SETUP_ADVICE}`);
  }

  /** Announces that the child is about to exit by request (CLOSE): its exit is no failure. */
  expectExit(): void {
    this.exitExpected = true;
  }

  private async onExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.exitExpected || this.closing) {
      this.setFailure(new EnvironmentError('The Gymnasium environment is closed.'));
      return;
    }
    // Let the rest of stderr arrive (bounded: a grandchild could hold the pipe open).
    await Promise.race([this.stderrEnded, new Promise((r) => setTimeout(r, STDERR_DRAIN_MS))]);
    const tail = this.stderrTail();
    const missing = /SPARSE_RL_BRIDGE_MISSING_MODULES=([\w.,]+)/.exec(tail);
    let err: EnvironmentError;
    if (missing) {
      const mods = missing[1].split(',').filter(Boolean);
      const pretty = mods.map((m) => (m === 'zmq' ? 'zmq (pyzmq)' : m)).join(', ');
      err = new EnvironmentError(
        `Python ${mods.length > 1 ? 'modules' : 'module'} ${pretty} not importable by ${this.python}. ${SETUP_ADVICE}`,
        { stderrTail: tail },
      );
    } else if (/No module named '?sparse_rl_bridge'?/.test(tail)) {
      err = new EnvironmentError(
        withTail(`The Python package sparse_rl_bridge is not importable by ${this.python} (looked in ${join(packageRoot(), 'bridge-python', 'src')}).`, tail),
        { stderrTail: tail },
      );
    } else {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const what = this.busy ? ' while a request was pending' : '';
      err = new EnvironmentError(withTail(`Gymnasium bridge process (${this.who}) ${how}${what}.`, tail), { stderrTail: tail });
    }
    this.setFailure(err);
  }

  /** Records a transport failure (first one wins), kills the child and rejects the pending request. */
  private setFailure(err: EnvironmentError): void {
    if (!this.failure) this.failure = err;
    this.kill();
    const reject = this.pendingReject;
    this.pendingReject = null;
    if (reject) reject(this.failure);
  }

  private kill(): void {
    const c = this.child;
    if (c && c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (!this.socket.closed) this.socket.close();
  }

  private rethrowFailure(): never {
    const f = this.failure!;
    throw new EnvironmentError(f.message, f.details);
  }

  /**
   * Sends one request and waits for its reply.
   * @returns the decoded reply of type `expect`.
   * @throws EnvironmentError: for an ERROR reply (the connection stays usable; `details` carry the
   *   remote type, traceback and env index), or a transport failure (child died, deadline passed:
   *   the connection is failed for good and the message includes the stderr tail).
   */
  async request(
    type: MessageType,
    expect: MessageType,
    timeoutMs: number,
    fields?: Readonly<Record<string, unknown>>,
    arrays?: readonly OutgoingArray[],
  ): Promise<DecodedMessage> {
    if (this.closing || this.exitExpected) throw new EnvironmentError('The Gymnasium environment is closed.');
    if (this.failure) this.rethrowFailure();
    if (this.busy) throw new EnvironmentError(`A ${type} request was made while another request is in flight; await each call before the next.`);
    const seq = ++this.seq;
    const { header, frames } = encodeMessage(type, seq, fields, arrays);
    this.onMessage?.('sent', header);
    this.busy = true;
    try {
      const reply = await new Promise<Buffer[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          const tail = this.stderrTail();
          this.setFailure(
            new EnvironmentError(withTail(`Gymnasium bridge (${this.who}) did not answer ${type} within ${timeoutMs} ms; ${this.child ? 'it was killed' : 'the connection was dropped'}.`, tail), {
              stderrTail: tail,
            }),
          );
        }, timeoutMs);
        this.pendingReject = (e) => {
          clearTimeout(timer);
          reject(e);
        };
        this.socket.send(frames).then(
          () => this.socket.receive(),
        ).then(
          (r) => {
            clearTimeout(timer);
            this.pendingReject = null;
            resolve(r);
          },
          (e: Error) => {
            // Socket errors after a failure are expected (we closed it); otherwise fail now.
            if (this.pendingReject) {
              const tail = this.stderrTail();
              this.setFailure(new EnvironmentError(withTail(`ZeroMQ error talking to the Gymnasium bridge: ${e.message}`, tail), { stderrTail: tail }));
            }
          },
        );
      });
      let msg: DecodedMessage;
      try {
        msg = decodeMessage(reply);
      } catch (e) {
        this.setFailure(new EnvironmentError(`Malformed reply from the Gymnasium bridge: ${(e as Error).message}`));
        this.rethrowFailure();
      }
      this.onMessage?.('received', msg.header);
      if (msg.header.seq !== seq) {
        this.setFailure(new EnvironmentError(`Gymnasium bridge answered seq ${msg.header.seq} to request seq ${seq}.`));
        this.rethrowFailure();
      }
      if (msg.header.type === 'ERROR') {
        const r = parseError(msg.header);
        throw new BridgeRemoteError(remoteErrorMessage(type, r), r.message, {
          exceptionType: r.exceptionType,
          remoteTraceback: r.traceback,
          ...(r.envIndex !== undefined ? { envIndex: r.envIndex } : {}),
        });
      }
      if (msg.header.type !== expect) {
        this.setFailure(new EnvironmentError(`Gymnasium bridge answered ${msg.header.type} to ${type}.`));
        this.rethrowFailure();
      }
      return msg;
    } finally {
      this.busy = false;
    }
  }

  /** Waits up to `graceMs` for the child to exit by itself, then SIGKILLs it; closes the socket. */
  async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.kill();
    await this.exited;
  }

  /** Kills the child at once (used when start-up fails or on close while a request is in flight). */
  async abort(reason: EnvironmentError): Promise<void> {
    this.closing = true;
    this.setFailure(reason);
    await this.exited;
  }
}

const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

/** Reads a Z85 CURVE key given inline or as a `zmq.auth` certificate file (`public-key = "..."`). */
function curveKey(value: string, field: 'public-key' | 'secret-key'): string {
  if (Z85_KEY.test(value)) return value;
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch (e) {
    throw new EnvironmentError(`CURVE key ${JSON.stringify(value)} is neither a 40-character Z85 key nor a readable key file: ${(e as Error).message}`);
  }
  const m = new RegExp(`${field}\\s*=\\s*"([^"]{40})"`).exec(text);
  if (!m) throw new EnvironmentError(`${value} holds no ${field} (expected a file written by \`sparse-rl-bridge keygen\`)`);
  return m[1];
}

/** A connected, handshaken bridge. */
interface Session {
  readonly conn: BridgeConnection;
  readonly welcome: Welcome;
}

/**
 * Spawns (or, with `options.remote`, connects to) a bridge and handshakes.
 * @throws EnvironmentError as described for {@link GymnasiumEnvironment.start}.
 */
async function openSession(options: GymnasiumEnvironmentOptions, numEnvs: number, seed: number | undefined): Promise<Session> {
  const python = options.python ?? defaultPython();
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const kwargs = options.kwargs ?? {};
  const remote = options.remote;
  let conn: BridgeConnection;
  let token: string;
  if (remote) {
    token = remote.token ?? process.env.SPARSE_RL_BRIDGE_TOKEN ?? '';
    if (!token) throw new EnvironmentError('environment.remote needs a token (remote.token or $SPARSE_RL_BRIDGE_TOKEN)');
    const curve: Partial<Pick<zmq.Request, 'curveServerKey' | 'curvePublicKey' | 'curveSecretKey'>> = {};
    if (remote.serverPublicKey) {
      curve.curveServerKey = curveKey(remote.serverPublicKey, 'public-key');
      const pair = remote.clientKeyFile
        ? { publicKey: curveKey(remote.clientKeyFile, 'public-key'), secretKey: curveKey(remote.clientKeyFile, 'secret-key') }
        : zmq.curveKeyPair();
      curve.curvePublicKey = pair.publicKey;
      curve.curveSecretKey = pair.secretKey;
    }
    const socket = new zmq.Request({ linger: 0, ...curve });
    try {
      socket.connect(remote.endpoint);
    } catch (e) {
      socket.close();
      throw new EnvironmentError(`Could not connect to the remote Gymnasium bridge at ${remote.endpoint}: ${(e as Error).message}`);
    }
    conn = new BridgeConnection(socket, null, python, options.onMessage, remote.endpoint);
  } else {
    const socket = new zmq.Request({ linger: 0 });
    // Default transport: a Unix socket in a fresh 0700 directory (only this user can connect;
    // about half the round-trip time of loopback TCP); loopback TCP on Windows or on request.
    let ipcDir: string | null = null;
    const transport = options.transport ?? (process.platform === 'win32' ? 'tcp' : 'ipc');
    try {
      if (transport === 'ipc') {
        ipcDir = mkdtempSync(join(tmpdir(), 'srl-bridge-'));
        await socket.bind(`ipc://${join(ipcDir, 's')}`);
      } else {
        await socket.bind('tcp://127.0.0.1:*');
      }
    } catch (e) {
      socket.close();
      if (ipcDir) rmSync(ipcDir, { recursive: true, force: true });
      throw new EnvironmentError(`Could not bind a local ZeroMQ socket (${transport}) for the Gymnasium bridge: ${(e as Error).message}`);
    }
    const endpoint = socket.lastEndpoint!;
    token = randomBytes(32).toString('hex');
    const bridgeSrc = join(packageRoot(), 'bridge-python', 'src');
    const args = ['-m', 'sparse_rl_bridge', '--connect', endpoint, '--parent-pid', String(process.pid)];
    if (options.idleTimeoutS !== undefined) args.push('--idle-timeout', String(options.idleTimeoutS));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SPARSE_RL_BRIDGE_TOKEN: token,
      PYTHONPATH: process.env.PYTHONPATH ? `${bridgeSrc}${delimiter}${process.env.PYTHONPATH}` : bridgeSrc,
      PYTHONUNBUFFERED: '1',
    };
    const child = spawn(python, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    conn = new BridgeConnection(socket, child, python, options.onMessage);
    if (ipcDir) {
      const dir = ipcDir;
      liveIpcDirs.add(dir);
      const remove = () => {
        liveIpcDirs.delete(dir);
        rmSync(dir, { recursive: true, force: true });
      };
      child.once('exit', remove);
      child.once('error', remove);
    }
  }
  try {
    const reply = await conn.request(
      'HELLO',
      'WELCOME',
      startTimeoutMs,
      helloFields({ token, envId: options.envId, kwargs, numEnvs, seed, vectorization: options.vectorization }),
    );
    const welcome = parseWelcome(reply.header);
    if (welcome.numEnvs !== numEnvs) throw new EnvironmentError(`bridge created ${welcome.numEnvs} envs, asked for ${numEnvs}`);
    if (welcome.protocol !== PROTOCOL_VERSION) {
      (options.onWarning ?? console.warn)(
        `Gymnasium bridge speaks protocol ${welcome.protocol}, this client ${PROTOCOL_VERSION}; using the common capabilities [${welcome.capabilities.join(', ')}]`,
      );
    }
    return { conn, welcome };
  } catch (e) {
    let err = e instanceof EnvironmentError ? e : new EnvironmentError(`Gymnasium bridge handshake failed: ${(e as Error).message}`);
    if (e instanceof BridgeRemoteError) {
      // ERROR reply to HELLO: Gymnasium's own message, e.g. "Environment `NoSuchEnv` doesn't exist."
      err = new BridgeRemoteError(`Could not create Gymnasium environment '${options.envId}': ${e.details.exceptionType}: ${e.remoteMessage}`, e.remoteMessage, e.details);
    }
    await conn.abort(err);
    throw err;
  }
}

/** Seed offset between restarts (env `i` of the k-th restart gets `seed + k * RESTART_SEED_STRIDE + i`). */
const RESTART_SEED_STRIDE = 1_000_003;

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

  /** Whether `e` is a transport failure that `restartOnCrash` may recover from. */
  private canRestart(e: unknown): boolean {
    return !(e instanceof BridgeRemoteError) && this.conn.failed !== null && !this.closePromise && this.restartCount < this.maxRestarts;
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
    const base = this.options.seed;
    const seed = base === undefined ? undefined : (base + this.restartCount * RESTART_SEED_STRIDE) % 2 ** 32;
    const { conn } = await openSession(this.options, this.numEnvs, seed);
    this.conn = conn;
    const m = await this.conn.request('RESET', 'RESET_RESULT', this.requestTimeoutMs, resetFields());
    this.epReturn.fill(0);
    this.epLength.fill(0);
    return parseResetResult(m, this.numEnvs, this.obsDim);
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
      if (!this.canRestart(e)) throw e;
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
      if (!this.canRestart(e)) throw e;
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
