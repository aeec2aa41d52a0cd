"""The ``serve`` entry: the ZeroMQ socket loop around one :class:`~sparse_rl_bridge.server.BridgeServer`
(spawned mode, ``--connect``; server mode, ``sparse-rl-bridge serve --bind``), with optional
CURVE encryption and the parent / idle watchdogs.

Parent death (spawned mode): the kernel sends SIGTERM when the parent dies (Linux
``PR_SET_PDEATHSIG``, set by ``__main__``), and a watchdog thread checks the parent pid every
0.2 s (other systems, or a parent that died before the signal was armed). Either way the bridge
removes its ``ipc://`` socket folder (with ``cleanup_ipc``), closes its envs and exits with code 4;
if the main thread does not get there within 5 s (an env stuck in C code) the process exits hard.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Callable, Optional

import zmq

from . import PROTOCOL_VERSION, __version__
from .ipc_dir import remove_ipc_socket
from .server import BridgeServer, _route_mujoco_warnings


# -- process-level helpers -------------------------------------------------------------------
class _Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler to leave the serve loop (BaseException:
    no ``except Exception`` on the way turns it into an ERROR reply)."""


class _ParentWatch:
    """SIGTERM handling and the parent watchdog of a spawned bridge (see the module docstring)."""

    def __init__(self, parent_gone: Callable[[], bool], cleanup: Callable[[], None], log):
        self.parent_gone = parent_gone
        self.cleanup = cleanup
        self.log = log
        self.main_pid = os.getpid()
        self.terminating = False
        self.stopped = threading.Event()
        try:
            signal.signal(signal.SIGTERM, self._on_sigterm)
        except ValueError:  # not the main thread (embedded use): the watchdog still works
            pass
        threading.Thread(target=self._watch, name="sparse-rl-bridge-parent-watch", daemon=True).start()

    def _on_sigterm(self, signum, _frame) -> None:
        if os.getpid() != self.main_pid:  # a forked env worker inherited this handler
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if self.terminating:
            return
        self.terminating = True
        self.cleanup()
        raise _Terminated()

    def _watch(self) -> None:
        while not self.stopped.wait(0.2):
            if self.parent_gone():
                print("sparse-rl-bridge: parent process is gone; exiting", file=self.log, flush=True)
                self.cleanup()
                if not self.terminating:
                    try:
                        os.kill(os.getpid(), signal.SIGTERM)
                    except OSError:  # pragma: no cover
                        pass
                if not self.stopped.wait(5.0):
                    os._exit(4)
                return

    def stop(self) -> None:
        """The serve loop has ended (the watchdog stops)."""
        self.stopped.set()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_curve(ctx: "zmq.Context", sock: "zmq.Socket", secret_key_file: str, client_keys_dir: Optional[str], log):
    """Makes ``sock`` a CURVE server with the key pair in ``secret_key_file`` (a
    ``zmq.auth`` ``.key_secret`` file) and starts a ZAP authenticator admitting the public keys
    in ``client_keys_dir`` (``*.key`` files), or any client that speaks CURVE when None.

    :returns: the authenticator (stop it when done).
    :raises OSError / ValueError: unreadable or malformed key files.
    """
    import zmq.auth  # noqa: PLC0415
    from zmq.auth.thread import ThreadAuthenticator  # noqa: PLC0415

    public, secret = zmq.auth.load_certificate(secret_key_file)
    if secret is None:
        raise ValueError(f"{secret_key_file} holds no secret key (use the .key_secret file made by `sparse-rl-bridge keygen`)")
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=client_keys_dir if client_keys_dir else zmq.auth.CURVE_ALLOW_ANY)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    print(
        f"sparse-rl-bridge: CURVE on (server public key {public.decode()}; clients: "
        f"{'keys in ' + client_keys_dir if client_keys_dir else 'any key, authenticated by token'})",
        file=log,
        flush=True,
    )
    return auth


def serve(
    endpoint: str,
    token: str,
    idle_timeout: float = 0.0,
    parent_pid: Optional[int] = None,
    log=sys.stderr,
    bind: bool = False,
    curve_secret_key_file: Optional[str] = None,
    curve_client_keys_dir: Optional[str] = None,
    once: bool = False,
    cleanup_ipc: bool = False,
) -> int:
    """Serves requests on a REP socket until CLOSE, a fatal request, the parent's death, or
    ``idle_timeout`` seconds without a request (0 = never).

    :param endpoint: ZeroMQ endpoint; connected to (spawned by the client, the default) or, with
        ``bind``, bound (``sparse-rl-bridge serve``; e.g. ``tcp://0.0.0.0:5555``).
    :param bind: server mode: sessions are served one after another (a CLOSE, a fatal request
        or ``idle_timeout`` ends the session, not the process, unless ``once``); a HELLO with the
        right token replaces a session whose client vanished.
    :param curve_secret_key_file: enable CURVE encryption with this key pair (see
        :func:`_start_curve`).
    :param curve_client_keys_dir: with CURVE, admit only these client public keys.
    :param cleanup_ipc: spawned mode with an ``ipc://`` endpoint in the client's private folder:
        remove the socket file and the folder on every exit (CLOSE, parent death, SIGTERM, idle
        timeout), see :func:`remove_ipc_socket`.
    :returns: the process exit code (0 after CLOSE, 2 after a fatal request (protocol major
        mismatch), 4 when the parent died, 5 on idle timeout, 143 after a SIGTERM while the
        parent lives).
    """
    initial_ppid = os.getppid()

    def parent_gone() -> bool:
        return os.getppid() != initial_ppid or (parent_pid is not None and not _alive(parent_pid))

    def cleanup() -> None:
        if cleanup_ipc and not bind:
            remove_ipc_socket(endpoint)

    watch = None if bind else _ParentWatch(parent_gone, cleanup, log)
    try:
        return _serve(endpoint, token, idle_timeout, parent_gone, log, bind, curve_secret_key_file, curve_client_keys_dir, once)
    except _Terminated:
        gone = parent_gone()
        print(f"sparse-rl-bridge: {'parent process is gone' if gone else 'SIGTERM'}; exited", file=log, flush=True)
        return 4 if gone else 143
    finally:
        if watch is not None:
            watch.terminating = True  # a late SIGTERM must not interrupt the clean-up below
            watch.stop()
        cleanup()


def _serve(endpoint, token, idle_timeout, parent_gone, log, bind, curve_secret_key_file, curve_client_keys_dir, once) -> int:
    """The socket loop of :func:`serve`."""
    _route_mujoco_warnings(log)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 2000)
    poll_ms = 1000 if idle_timeout <= 0 else max(10, min(1000, int(idle_timeout * 1000)))
    sock.setsockopt(zmq.RCVTIMEO, poll_ms)
    auth = None
    if curve_secret_key_file:
        auth = _start_curve(ctx, sock, curve_secret_key_file, curve_client_keys_dir, log)
    if bind:
        sock.bind(endpoint)
        endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
    else:
        sock.connect(endpoint)
    print(
        f"sparse-rl-bridge {__version__} (protocol {PROTOCOL_VERSION}, pid {os.getpid()}) "
        f"{'listening on' if bind else 'connected to'} {endpoint}",
        file=log,
        flush=True,
    )
    server = BridgeServer(token, log, rehello=bind)
    last = time.monotonic()
    code = 0
    try:
        while True:
            try:
                frames = sock.recv_multipart()  # requests are small: plain bytes are cheapest
            except zmq.Again:
                if not bind and parent_gone():
                    print("sparse-rl-bridge: parent process is gone; exiting", file=log, flush=True)
                    code = 4
                    break
                if idle_timeout > 0 and time.monotonic() - last > idle_timeout:
                    print(f"sparse-rl-bridge: no request for {idle_timeout:g} s; exiting", file=log, flush=True)
                    code = 5
                    if bind and not once:
                        server.end_session()
                        last = time.monotonic()
                        continue
                    break
                continue
            reply = server.handle_frames(frames)
            # copy=False: frames above pyzmq's copy_threshold (64 KB, e.g. image observations)
            # are sent zero-copy; reply arrays are fresh per request, so nothing mutates them.
            sock.send_multipart(reply, copy=False)
            last = time.monotonic()
            if server.stop:
                code = server.exit_code
                if bind and not once:
                    server.end_session()
                    server.stop = False
                    continue
                break
    finally:
        server.end_session()
        sock.close()
        if auth is not None:
            auth.stop()
        ctx.term()
    return code
