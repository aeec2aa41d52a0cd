/**
 * Session set-up: spawns a bridge on a private local socket (or connects to a remote
 * `sparse-rl-bridge serve` with its endpoint, token and CURVE keys) and handshakes (HELLO →
 * WELCOME), checking the protocol version and the number of envs created.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EnvironmentError, defaultPython } from '../../src/index.js';
import { removeDirWithChild, spawnBridge } from './bridge-process.js';
import { BridgeConnection, BridgeRemoteError, bindLocalSocket, connectRemoteSocket, type CurveKeys, type LocalTransport } from './bridge-transport.js';
import { helloFields, parseWelcome, PROTOCOL_VERSION, type Vectorization, type VideoRequest, type Welcome, type WireHeader } from './protocol.js';

/** Options of a bridge session (part of `GymnasiumEnvironmentOptions`). */
export interface BridgeSessionOptions {
  /** Gymnasium id, e.g. `HalfCheetah-v5`. */
  readonly envId: string;
  /** Keyword arguments of `gymnasium.make` (JSON data only). */
  readonly kwargs?: Readonly<Record<string, unknown>>;
  /** Python interpreter (default {@link defaultPython}: `$SPARSE_RL_PYTHON` or `<root>/.venv/bin/python`). */
  readonly python?: string;
  /** Deadline of spawn + imports + `gymnasium.make` + handshake, in ms (default 60000). */
  readonly startTimeoutMs?: number;
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
  /** Connect to a running `sparse-rl-bridge serve` instead of spawning a child (see {@link RemoteBridgeOptions}). */
  readonly remote?: RemoteBridgeOptions;
  /**
   * Local transport to a spawned bridge, every one authenticated with a random token:
   * - `'ipc'` (default except on Windows): ZeroMQ over a Unix socket in a fresh 0700 temporary
   *   directory, so only this user can connect;
   * - `'unix'`: the same messages length-prefixed over a plain Unix stream socket in such a
   *   directory (`./stream-socket.ts`), without ZeroMQ's I/O threads: about 90 µs less per
   *   STEP round trip (`bench/bridge-step.ts`); not on Windows;
   * - `'tcp'`: ZeroMQ over `tcp://127.0.0.1:<random port>`.
   */
  readonly transport?: LocalTransport;
  /** Receives warnings (protocol minor mismatch, restarts, lost episodes); default `console.warn`. */
  readonly onWarning?: (message: string) => void;
  /**
   * Record every episode to MP4 in `video.dir` (an absolute path on the bridge's machine), named
   * `<namePrefix>-episode-<k>.mp4`: the envs are made with `render_mode: 'rgb_array'` and wrapped
   * in Gymnasium's `RecordVideo`, rendered offscreen with the OpenGL backend of `MUJOCO_GL`
   * (`egl` or `osmesa`; probed when unset). Needs `vectorization: 'sync'` and a bridge with the
   * `render.video` capability (protocol >= 1.2).
   */
  readonly video?: VideoRequest;
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
export interface Session {
  readonly conn: BridgeConnection;
  readonly welcome: Welcome;
}

/**
 * Spawns (or, with `options.remote`, connects to) a bridge and handshakes.
 * @throws EnvironmentError as described for `GymnasiumEnvironment.start`.
 */
export async function openSession(options: BridgeSessionOptions, numEnvs: number, seed: number | undefined): Promise<Session> {
  const python = options.python ?? defaultPython();
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const kwargs = options.kwargs ?? {};
  const remote = options.remote;
  let conn: BridgeConnection;
  let token: string;
  if (remote) {
    token = remote.token ?? process.env.SPARSE_RL_BRIDGE_TOKEN ?? '';
    if (!token) throw new EnvironmentError('environment.remote needs a token (remote.token or $SPARSE_RL_BRIDGE_TOKEN)');
    let keys: CurveKeys | undefined;
    if (remote.serverPublicKey) {
      keys = {
        serverPublicKey: curveKey(remote.serverPublicKey, 'public-key'),
        ...(remote.clientKeyFile
          ? { clientKeyPair: { publicKey: curveKey(remote.clientKeyFile, 'public-key'), secretKey: curveKey(remote.clientKeyFile, 'secret-key') } }
          : {}),
      };
    }
    const socket = connectRemoteSocket(remote.endpoint, keys);
    conn = new BridgeConnection(socket, null, python, options.onMessage, remote.endpoint);
  } else {
    const { socket, endpoint, ipcDir } = await bindLocalSocket(options.transport);
    token = randomBytes(32).toString('hex');
    const child = spawnBridge(python, endpoint, token, options.idleTimeoutS, ipcDir !== null);
    conn = new BridgeConnection(socket, child, python, options.onMessage);
    if (ipcDir) removeDirWithChild(child, ipcDir);
  }
  try {
    const reply = await conn.request(
      'HELLO',
      'WELCOME',
      startTimeoutMs,
      helloFields({ token, envId: options.envId, kwargs, numEnvs, seed, vectorization: options.vectorization, video: options.video }),
    );
    const welcome = parseWelcome(reply.header);
    conn.session = welcome.session ?? null;
    if (welcome.numEnvs !== numEnvs) throw new EnvironmentError(`bridge created ${welcome.numEnvs} envs, asked for ${numEnvs}`);
    if (options.video && !welcome.capabilities.includes('render.video')) {
      throw new EnvironmentError(`The Gymnasium bridge (protocol ${welcome.protocol}) cannot record videos (no 'render.video' capability; needs protocol >= 1.2).`);
    }
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
