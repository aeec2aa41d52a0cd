/**
 * Supervision of a spawned bridge child process: the spawn of
 * `<python> -m sparse_rl_bridge --connect <endpoint> --parent-pid <pid>` with the token in
 * `SPARSE_RL_BRIDGE_TOKEN` and `bridge-python/src` prepended to `PYTHONPATH`, the tail of its
 * stderr, the one clear error for each way it can fail to start or die, and its lifetime: the
 * child is killed (SIGKILL when it does not exit by itself) when the environment closes or fails,
 * and when the Node process exits; the child also exits when its parent dies (SIGKILL included),
 * removing the private folder of its `ipc://` socket (`--cleanup-ipc`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { EnvironmentError, packageRoot } from '../../src/index.js';

/** Bytes of child stderr kept for error messages. */
const STDERR_TAIL_BYTES = 8 * 1024;
/** How long to wait for the rest of stderr after the child exited before reporting. */
const STDERR_DRAIN_MS = 300;
/** How long `close()` waits for a graceful exit before SIGKILL. */
export const CLOSE_GRACE_MS = 2000;

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

/** `message`, followed by the bridge's stderr tail when there is one. */
export function withTail(message: string, tail: string): string {
  const t = tail.trimEnd();
  return t ? `${message}\n--- bridge stderr (last ${STDERR_TAIL_BYTES / 1024} KB) ---\n${t}` : message;
}

/**
 * Spawns the bridge, connecting back to `endpoint` and authenticating with `token`.
 * @param idleTimeoutS passed as `--idle-timeout` when given.
 * @param cleanupIpc passes `--cleanup-ipc`: `endpoint` is an `ipc://` socket in a private folder
 *   that the bridge removes when it exits, also when this process is SIGKILLed (this process
 *   removes it too when it outlives the child or exits normally).
 */
export function spawnBridge(python: string, endpoint: string, token: string, idleTimeoutS: number | undefined, cleanupIpc = false): ChildProcess {
  const bridgeSrc = join(packageRoot(), 'bridge-python', 'src');
  const args = ['-m', 'sparse_rl_bridge', '--connect', endpoint, '--parent-pid', String(process.pid)];
  if (idleTimeoutS !== undefined) args.push('--idle-timeout', String(idleTimeoutS));
  if (cleanupIpc) args.push('--cleanup-ipc');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SPARSE_RL_BRIDGE_TOKEN: token,
    PYTHONPATH: process.env.PYTHONPATH ? `${bridgeSrc}${delimiter}${process.env.PYTHONPATH}` : bridgeSrc,
    PYTHONUNBUFFERED: '1',
  };
  // its own process group: a terminal's Ctrl-C (SIGINT to the foreground group) reaches only the
  // trainer, which finishes its step and checkpoints through the still-running bridge; the bridge
  // still dies with its parent (PR_SET_PDEATHSIG, parent-pid polling, the exit hook above)
  return spawn(python, args, { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
}

/**
 * Removes `dir`, the private directory of the `ipc://` socket `child` connects to, when the child
 * exits or fails to spawn (or when Node exits first).
 */
export function removeDirWithChild(child: ChildProcess, dir: string): void {
  liveIpcDirs.add(dir);
  const remove = () => {
    liveIpcDirs.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  child.once('exit', remove);
  child.once('error', remove);
}

/** What a {@link BridgeProcess} reports to its owner. */
export interface BridgeProcessEvents {
  /** The child exited (by itself, by a signal, or on request). */
  readonly exit: (code: number | null, signal: NodeJS.Signals | null) => void;
  /** The child could not be spawned (no `exit` follows); the error names the interpreter. */
  readonly spawnFailed: (err: EnvironmentError) => void;
}

/**
 * One spawned bridge child: tracked (killed when Node exits), its stderr tail kept, its exit and
 * spawn failure reported to `events`.
 */
export class BridgeProcess {
  private readonly tail = new TailBuffer(STDERR_TAIL_BYTES);
  /** Settles when the child has exited or failed to spawn. */
  readonly exited: Promise<void>;
  private readonly stderrEnded: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    readonly python: string,
    events: BridgeProcessEvents,
  ) {
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
        events.exit(code, signal);
      });
      child.once('error', (err: NodeJS.ErrnoException) => {
        // spawn failure: no 'exit' follows
        liveChildren.delete(child);
        resolve();
        events.spawnFailed(this.spawnError(err));
      });
    });
  }

  /** The last ~8 KB of the child's stderr. */
  stderrTail(): string {
    return this.tail.text();
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

  /** Lets the rest of stderr arrive after an exit (bounded: a grandchild could hold the pipe open). */
  async drainStderr(): Promise<void> {
    await Promise.race([this.stderrEnded, new Promise((r) => setTimeout(r, STDERR_DRAIN_MS))]);
  }

  /**
   * The error of an unexpected exit: missing Python modules or bridge package (with the setup
   * advice), or how the child ended, with its stderr tail.
   * @param requestPending whether a request was waiting for a reply.
   */
  exitError(code: number | null, signal: NodeJS.Signals | null, requestPending: boolean): EnvironmentError {
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
      const what = requestPending ? ' while a request was pending' : '';
      err = new EnvironmentError(withTail(`Gymnasium bridge process (pid ${this.child.pid}) ${how}${what}.`, tail), { stderrTail: tail });
    }
    return err;
  }

  /** SIGKILLs the child unless it has already exited (or never started). */
  kill(): void {
    const c = this.child;
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}
