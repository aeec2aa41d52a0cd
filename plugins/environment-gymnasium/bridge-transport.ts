/**
 * Transport to a bridge: the ZeroMQ REQ socket (bound locally for a spawned bridge, or connected
 * to a remote one, with CURVE when a server key is given), or for a spawned bridge the plain Unix
 * stream socket of `./stream-socket.ts` (`transport: 'unix'`), and {@link BridgeConnection},
 * strict request/reply with a deadline per request over the bridge protocol of `./protocol.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import * as zmq from 'zeromq';
import { EnvironmentError } from '../../src/index.js';
import { BridgeProcess, withTail } from './bridge-process.js';
import { decodeMessage, encodeMessage, parseError, type DecodedMessage, type MessageType, type OutgoingArray, type WireHeader } from './protocol.js';
import { UnixStreamSocket, type MessageSocket } from './stream-socket.js';

export type { MessageSocket } from './stream-socket.js';

/**
 * Local transports of a spawned bridge: `'ipc'` (ZeroMQ over a Unix socket), `'tcp'` (ZeroMQ over
 * loopback TCP), `'unix'` (the same messages over a plain Unix stream socket, no ZeroMQ: the
 * lowest overhead per request; not on Windows).
 */
export type LocalTransport = 'ipc' | 'tcp' | 'unix';

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

/** A local socket a spawned bridge connects to, and the private directory of its `ipc://` or `unix://` socket. */
export interface LocalSocket {
  readonly socket: MessageSocket;
  /** `endpoint` the bridge is told to `--connect` to. */
  readonly endpoint: string;
  readonly ipcDir: string | null;
}

/**
 * Binds the socket for a spawned bridge: a ZeroMQ REQ socket, or with `'unix'` a listening Unix
 * stream socket (see `./stream-socket.ts`).
 * @param requested `'ipc'`, `'tcp'` or `'unix'`; default `'ipc'` except on Windows.
 * @throws EnvironmentError when binding fails (the socket is closed, the directory removed).
 */
export async function bindLocalSocket(requested: LocalTransport | undefined): Promise<LocalSocket> {
  // Default transport: a Unix socket in a fresh 0700 directory (only this user can connect;
  // about half the round-trip time of loopback TCP); loopback TCP on Windows or on request.
  let ipcDir: string | null = null;
  const transport = requested ?? (process.platform === 'win32' ? 'tcp' : 'ipc');
  if (transport === 'unix') {
    if (process.platform === 'win32') throw new EnvironmentError("transport 'unix' is not available on Windows; use 'ipc' or 'tcp'");
    ipcDir = mkdtempSync(join(tmpdir(), 'srl-bridge-'));
    try {
      const socket = await UnixStreamSocket.listen(join(ipcDir, 's'));
      return { socket, endpoint: socket.lastEndpoint, ipcDir };
    } catch (e) {
      rmSync(ipcDir, { recursive: true, force: true });
      throw new EnvironmentError(`Could not listen on a local Unix socket for the Gymnasium bridge: ${(e as Error).message}`);
    }
  }
  const socket = new zmq.Request({ linger: 0 });
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
  return { socket, endpoint: socket.lastEndpoint!, ipcDir };
}

/** CURVE keys (Z85) of a remote connection: the server's public key, and this client's pair (default: a fresh ephemeral pair). */
export interface CurveKeys {
  readonly serverPublicKey: string;
  readonly clientKeyPair?: { readonly publicKey: string; readonly secretKey: string };
}

/**
 * Connects a REQ socket to a remote bridge (`sparse-rl-bridge serve`), with CURVE when `keys`
 * are given. Each call is a new connection, and so a session of its own on the server (the
 * server binds a session to the connection whose HELLO opened it): the training and the
 * evaluation environments never share one. IPv6 is enabled for a `tcp://[addr]:port` endpoint.
 * @throws EnvironmentError when the endpoint is rejected (the socket is closed).
 */
export function connectRemoteSocket(endpoint: string, keys: CurveKeys | undefined): zmq.Request {
  const curve: Partial<Pick<zmq.Request, 'curveServerKey' | 'curvePublicKey' | 'curveSecretKey'>> = {};
  if (keys) {
    curve.curveServerKey = keys.serverPublicKey;
    const pair = keys.clientKeyPair ?? zmq.curveKeyPair();
    curve.curvePublicKey = pair.publicKey;
    curve.curveSecretKey = pair.secretKey;
  }
  const socket = new zmq.Request({ linger: 0, ...(endpoint.startsWith('tcp://[') ? { ipv6: true } : {}), ...curve });
  try {
    socket.connect(endpoint);
  } catch (e) {
    socket.close();
    throw new EnvironmentError(`Could not connect to the remote Gymnasium bridge at ${endpoint}: ${(e as Error).message}`);
  }
  return socket;
}

/**
 * One bridge child process and its socket: strict request/reply with a deadline per request.
 * After a transport failure (child died, deadline passed, spawn failed) it is permanently failed:
 * the child is killed, and every request rejects with the failure. A request is never re-sent.
 */
export class BridgeConnection {
  private seq = 0;
  private busy = false;
  private closing = false;
  private exitExpected = false;
  private failure: EnvironmentError | null = null;
  private pendingReject: ((e: EnvironmentError) => void) | null = null;
  /** Supervisor of the spawned child; null for a remote bridge. */
  private readonly proc: BridgeProcess | null;
  private readonly exited: Promise<void>;
  /** Session number on a remote `sparse-rl-bridge serve` (from WELCOME), once handshaken. */
  session: number | null = null;
  /** `pid N` of the child, or the remote endpoint (and session). */
  private get who(): string {
    return this.child ? `pid ${this.child.pid}` : `remote ${this.remoteEndpoint}${this.session !== null ? ` session ${this.session}` : ''}`;
  }

  constructor(
    private readonly socket: MessageSocket,
    readonly child: ChildProcess | null,
    readonly python: string,
    /** Observer of every header sent and received (see `GymnasiumEnvironmentOptions.onMessage`). */
    private readonly onMessage?: (direction: 'sent' | 'received', header: WireHeader) => void,
    /** Remote endpoint (no child process) when connecting to `sparse-rl-bridge serve`. */
    readonly remoteEndpoint?: string,
  ) {
    if (!child) {
      this.proc = null;
      this.exited = Promise.resolve();
      return;
    }
    this.proc = new BridgeProcess(child, python, {
      exit: (code, signal) => void this.onExit(code, signal),
      spawnFailed: (err) => this.setFailure(err),
    });
    this.exited = this.proc.exited;
  }

  /** The last ~8 KB of the child's stderr. */
  stderrTail(): string {
    return this.proc ? this.proc.stderrTail() : '';
  }

  get failed(): EnvironmentError | null {
    return this.failure;
  }

  get inFlight(): boolean {
    return this.busy;
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
    await this.proc!.drainStderr();
    this.setFailure(this.proc!.exitError(code, signal, this.busy));
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
    this.proc?.kill();
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
