"""The socket loops of the bridge.

- **Spawned mode** (``python -m sparse_rl_bridge --connect``): a REP socket connected to the
  client's private endpoint, one :class:`~sparse_rl_bridge.server.BridgeServer` (one session),
  the parent / idle watchdogs.
- **Server mode** (``sparse-rl-bridge serve --bind``, :class:`SessionServer`): a ROUTER socket
  serving many clients at once, one session (one ``BridgeServer`` and its envs) per client
  connection, optionally with CURVE encryption and a ZAP authenticator that logs refused keys.

Why a ROUTER socket keyed by the peer's connection (and not one socket per session): a ROUTER
socket tags every request with the routing id of the connection it came from, so a session is
bound to the connection that opened it by the transport itself — a request from any other
connection (another socket, a second client holding the token, a reconnected socket) cannot be
routed to it — and one endpoint, one port and one CURVE key pair serve every client. One socket
per session would need a port per session, a rendezvous to hand it out, and the same binding
check on each. Each request is also checked against the session's connection metadata (the file
descriptor and, under CURVE, the ZAP user id: the client's public key), and the socket monitor's
DISCONNECTED events end the session of a vanished client, freeing its envs, before any later
request is handled (so a routing id or file descriptor reused by a new connection never finds
the old session).

The server is single-threaded: requests of all sessions are handled one at a time, in arrival
order, so a slow STEP of one session delays the others' requests by its duration (no request is
starved: ZeroMQ queues the peers fairly).

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
from typing import Any, Callable, Dict, List, Optional

import zmq

from . import PROTOCOL_VERSION, __version__
from .ipc_dir import remove_ipc_socket
from . import protocol as P
from .errors import RequestError
from .server import BridgeServer, _route_mujoco_warnings
from .vector_env import Frames


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


class _ZapLog:
    """Makes a ``zmq.auth`` authenticator log every refused client to ``log``: the mechanism, the
    client's CURVE public key (Z85) when it sent one, its address and the ZAP status text."""

    def __init__(self, log):
        self.log = log

    def install(self, auth) -> None:
        """Wraps ``auth.handle_zap_message`` and ``auth._send_zap_reply`` (sync or async pyzmq
        versions alike): a request's frames are kept until its reply, and a reply other than
        ``200`` is logged."""
        pending: Dict[bytes, List[bytes]] = {}
        handle, reply = auth.handle_zap_message, auth._send_zap_reply
        log = self.log

        def handle_zap_message(msg):
            if len(msg) >= 2:
                pending[bytes(msg[1])] = [bytes(m) for m in msg]
            return handle(msg)

        def send_zap_reply(request_id, status_code, status_text, user_id="anonymous"):
            msg = pending.pop(bytes(request_id), None)
            if status_code != b"200":
                address = msg[3].decode("utf-8", "replace") if msg and len(msg) > 3 else "?"
                mechanism = msg[5].decode("ascii", "replace") if msg and len(msg) > 5 else "?"
                key = ""
                if msg and mechanism == "CURVE" and len(msg) > 6 and len(msg[6]) == 32:
                    import zmq.utils.z85 as z85  # noqa: PLC0415

                    key = f" key {z85.encode(msg[6]).decode('ascii')}"
                text = status_text.decode("utf-8", "replace") if isinstance(status_text, bytes) else str(status_text)
                print(
                    f"sparse-rl-bridge: refused a {mechanism} client{key} from {address} (ZAP {status_code.decode()}: {text})",
                    file=log,
                    flush=True,
                )
            return reply(request_id, status_code, status_text, user_id)

        auth.handle_zap_message = handle_zap_message
        auth._send_zap_reply = send_zap_reply


def _start_curve(ctx: "zmq.Context", sock: "zmq.Socket", secret_key_file: str, client_keys_dir: Optional[str], log):
    """Makes ``sock`` a CURVE server with the key pair in ``secret_key_file`` (a
    ``zmq.auth`` ``.key_secret`` file) and starts a ZAP authenticator admitting the public keys
    in ``client_keys_dir`` (``*.key`` files), or any client that speaks CURVE when None. Every
    refused client is logged to ``log`` with its key and address (:class:`_ZapLog`). The token
    is still required in HELLO either way.

    :returns: the authenticator (stop it when done).
    :raises OSError / ValueError: unreadable or malformed key files, a ``client_keys_dir`` that
        holds no ``*.key`` file.
    """
    import zmq.auth  # noqa: PLC0415
    from zmq.auth.thread import ThreadAuthenticator  # noqa: PLC0415

    public, secret = zmq.auth.load_certificate(secret_key_file)
    if secret is None:
        raise ValueError(f"{secret_key_file} holds no secret key (use the .key_secret file made by `sparse-rl-bridge keygen`)")
    allowed = None
    if client_keys_dir:
        allowed = zmq.auth.load_certificates(client_keys_dir)
        if not allowed:
            raise ValueError(f"--curve-client-keys {client_keys_dir} holds no client public key (*.key)")
    auth = ThreadAuthenticator(ctx)
    _ZapLog(log).install(auth)
    auth.start()
    auth.configure_curve(domain="*", location=client_keys_dir if client_keys_dir else zmq.auth.CURVE_ALLOW_ANY)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    print(
        f"sparse-rl-bridge: CURVE on (server public key {public.decode()}; clients: "
        f"{f'{len(allowed)} keys in ' + client_keys_dir if client_keys_dir else 'any key'}; the token is required in HELLO)",
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
    max_sessions: int = 16,
) -> int:
    """Serves requests until CLOSE, a fatal request, the parent's death, or ``idle_timeout``
    seconds without a request (0 = never) — spawned mode — or, with ``bind``, serves many
    sessions until SIGTERM (or, with ``once``, until the first session has ended and no other is
    open) — server mode, see :class:`SessionServer`.

    :param endpoint: ZeroMQ endpoint; connected to (spawned by the client, the default) or, with
        ``bind``, bound (``sparse-rl-bridge serve``; e.g. ``tcp://0.0.0.0:5555``,
        ``tcp://[::1]:5555``: IPv6 is enabled on the socket).
    :param bind: server mode: one session per client connection, each with its own envs.
    :param idle_timeout: spawned mode: exit after this many seconds without a request; server
        mode: end a session after this many seconds without a request of its own.
    :param curve_secret_key_file: enable CURVE encryption with this key pair (see
        :func:`_start_curve`).
    :param curve_client_keys_dir: with CURVE, admit only these client public keys.
    :param max_sessions: server mode: most sessions open at once (a further HELLO gets an ERROR).
    :param cleanup_ipc: spawned mode with an ``ipc://`` endpoint in the client's private folder:
        remove the socket file and the folder on every exit (CLOSE, parent death, SIGTERM, idle
        timeout), see :func:`remove_ipc_socket`.
    :returns: the process exit code (spawned: 0 after CLOSE, 2 after a fatal request (protocol
        major mismatch), 4 when the parent died, 5 on idle timeout, 143 after a SIGTERM while the
        parent lives; server mode: see :meth:`SessionServer.run`).
    """
    if bind:
        return _serve_sessions(endpoint, token, idle_timeout, log, curve_secret_key_file, curve_client_keys_dir, once, max_sessions)
    cleanup = (lambda: remove_ipc_socket(endpoint)) if cleanup_ipc else None
    return run_spawned(lambda parent_gone: _serve_spawned(endpoint, token, idle_timeout, parent_gone, log), parent_pid, cleanup, log)


def run_spawned(loop, parent_pid: Optional[int], cleanup, log) -> int:
    """Runs the request loop of a spawned bridge, ``loop(parent_gone) -> exit code``, under the
    parent watch (:class:`_ParentWatch`: PR_SET_PDEATHSIG and a watchdog): a SIGTERM or the
    parent's death ends it with 143 or 4. ``cleanup`` (or None) runs on every exit, after the
    watch has stopped. Shared by the ZeroMQ and the plain Unix-socket transports.
    """
    initial_ppid = os.getppid()

    def parent_gone() -> bool:
        return os.getppid() != initial_ppid or (parent_pid is not None and not _alive(parent_pid))

    def do_cleanup() -> None:
        if cleanup is not None:
            cleanup()

    watch = _ParentWatch(parent_gone, do_cleanup, log)
    try:
        return loop(parent_gone)
    except _Terminated:
        gone = parent_gone()
        print(f"sparse-rl-bridge: {'parent process is gone' if gone else 'SIGTERM'}; exited", file=log, flush=True)
        return 4 if gone else 143
    finally:
        watch.terminating = True  # a late SIGTERM must not interrupt the clean-up below
        watch.stop()
        do_cleanup()


def quiet_exit(parent_gone, idle_timeout: float, last: float, log) -> Optional[int]:
    """What a spawned bridge does when no request arrived within its poll interval: exit code 4
    when the parent is gone, 5 after ``idle_timeout`` seconds (> 0) since ``last`` (monotonic),
    else None (keep waiting). Logs the reason. Shared by both spawned transports."""
    if parent_gone():
        print("sparse-rl-bridge: parent process is gone; exiting", file=log, flush=True)
        return 4
    if idle_timeout > 0 and time.monotonic() - last > idle_timeout:
        print(f"sparse-rl-bridge: no request for {idle_timeout:g} s; exiting", file=log, flush=True)
        return 5
    return None


class EndSession(Exception):
    """Raised by a transport's ``receive`` or ``send`` (see :func:`answer_requests`) to end the
    session with exit ``code`` (its reason already logged)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def answer_requests(server: BridgeServer, receive, send, idle_timeout: float, parent_gone, log) -> int:
    """The request loop of a spawned bridge, shared by both transports: ``receive()`` returns the
    next request's frames, or None when none arrived within the transport's poll interval (then
    :func:`quiet_exit` decides whether to exit); ``send(frames)`` sends a reply. Either may raise
    :class:`EndSession`. Ends the env session on every exit.

    :returns: the exit code (the server's after a CLOSE or a fatal request, else the one the
        transport or :func:`quiet_exit` gave)
    """
    last = time.monotonic()
    try:
        while True:
            try:
                frames = receive()
                if frames is None:
                    code = quiet_exit(parent_gone, idle_timeout, last, log)
                    if code is not None:
                        return code
                    continue
                send(server.handle_frames(frames))
            except EndSession as end:
                return end.code
            last = time.monotonic()
            if server.stop:
                return server.exit_code
    finally:
        server.end_session()


def _serve_spawned(endpoint, token, idle_timeout, parent_gone, log) -> int:
    """The REP socket loop of a spawned bridge (one session)."""
    _route_mujoco_warnings(log)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 2000)
    poll_ms = 1000 if idle_timeout <= 0 else max(10, min(1000, int(idle_timeout * 1000)))
    sock.setsockopt(zmq.RCVTIMEO, poll_ms)
    sock.connect(endpoint)
    print(
        f"sparse-rl-bridge {__version__} (protocol {PROTOCOL_VERSION}, pid {os.getpid()}) connected to {endpoint}",
        file=log,
        flush=True,
    )

    def receive():
        try:
            return sock.recv_multipart()  # requests are small: plain bytes are cheapest
        except zmq.Again:
            return None

    # copy=False: frames above pyzmq's copy_threshold (64 KB, e.g. image observations) are sent
    # zero-copy; reply arrays are fresh per request, so nothing mutates them.
    try:
        return answer_requests(BridgeServer(token, log), receive, lambda reply: sock.send_multipart(reply, copy=False), idle_timeout, parent_gone, log)
    finally:
        sock.close()
        ctx.term()


# -- server mode -----------------------------------------------------------------------------
#: Exit codes of ``serve --once`` by how its last session ended.
END_CLOSED, END_FATAL, END_DISCONNECTED, END_IDLE = 0, 2, 4, 5


def _meta(frame: "zmq.Frame", prop) -> Any:
    """A message property (``zmq.SRCFD``, ``"User-Id"``, ``"Peer-Address"``), or None when the
    transport or libzmq does not provide it."""
    try:
        return frame.get(prop)
    except (zmq.ZMQError, AttributeError, TypeError, ValueError):
        return None


class _Session:
    """One authenticated client connection of :class:`SessionServer` and its envs.

    :param number: the session number (WELCOME ``session``, log lines).
    :param fd: the connection's file descriptor (``zmq.SRCFD``; None when unknown).
    :param user_id: the ZAP user id: under CURVE the client's public key (Z85); else None.
    :param address: the peer's IP address (``Peer-Address``; None for ``ipc://``).
    """

    def __init__(self, number: int, server: BridgeServer, fd: Optional[int], user_id: Optional[str], address: Optional[str]):
        self.number = number
        self.server = server
        self.fd = fd
        self.user_id = user_id
        self.address = address
        self.last = time.monotonic()

    def __str__(self) -> str:
        return f"session {self.number} ({_describe(self.address, self.user_id)})"


def _describe(address: Optional[str], user_id: Optional[str]) -> str:
    """``peer 127.0.0.1, CURVE key <Z85>`` (the parts that are known)."""
    out = f"peer {address or 'unknown address'}"
    if user_id:
        out += f", CURVE key {user_id}"
    return out


class SessionServer:
    """Server mode: many clients at once on one ROUTER socket, one session per connection (see
    the module docstring for why).

    - A connection without a session gets an ERROR for every request but HELLO (``no
      environment: send HELLO first``); a HELLO with the right token (and, under CURVE, a key
      the ZAP authenticator admitted) creates the session and its envs.
    - A session's requests are accepted only from its connection: requests are routed by the
      connection's routing id, and each one's file descriptor and ZAP user id must be the
      session's (else ERROR naming the session; its own client is gone then, so it is ended).
    - A session ends, and its envs are closed, on CLOSE, on a fatal request (protocol major
      mismatch at HELLO), when its client disconnects (socket monitor), or after
      ``idle_timeout`` seconds without a request of its own; the others go on.

    :param sock: the bound ROUTER socket.
    :param token: the secret every HELLO must carry.
    :param log: text stream for diagnostics (stderr).
    :param idle_timeout: seconds without a request after which a session is ended (0 = never).
    :param once: end the process when a session has ended and no other is open.
    :param max_sessions: most sessions open at once; a HELLO beyond gets an ERROR.
    """

    def __init__(self, sock: "zmq.Socket", token: str, log=sys.stderr, idle_timeout: float = 0.0, once: bool = False, max_sessions: int = 16):
        self.sock = sock
        self.token = token
        self.log = log
        self.idle_timeout = idle_timeout
        self.once = once
        self.max_sessions = max_sessions
        #: Open sessions by routing id.
        self.sessions: Dict[bytes, _Session] = {}
        self.refusals = {"bad_tokens": 0}
        self._next = 1
        self._ended = None  # end code of the last session that ended
        self._handshake_failures = 0
        self._handshake_logged = -1e9
        self.monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)

    def close(self) -> None:
        """Ends every session (closing its envs) and closes the monitor."""
        for rid in list(self.sessions):
            self._end(rid, "the server is shutting down", END_CLOSED)
        try:
            self.sock.disable_monitor()
        except zmq.ZMQError:  # pragma: no cover
            pass
        self.monitor.close(0)

    def _end(self, rid: bytes, why: str, code: int) -> None:
        s = self.sessions.pop(rid, None)
        if s is None:
            return
        s.server.end_session()
        self._ended = code
        print(f"sparse-rl-bridge: {s} ended: {why}; its envs are closed ({len(self.sessions)} open)", file=self.log, flush=True)

    def _drain_monitor(self) -> None:
        """Handles every queued monitor event: DISCONNECTED ends the sessions of that file
        descriptor; failed handshakes (e.g. a client without CURVE) are logged."""
        from zmq.utils.monitor import recv_monitor_message  # noqa: PLC0415

        while True:
            try:
                ev = recv_monitor_message(self.monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            event, value = ev["event"], ev["value"]
            if event == zmq.EVENT_DISCONNECTED:
                for rid, s in list(self.sessions.items()):
                    if s.fd is not None and s.fd == value:
                        self._end(rid, "its client disconnected", END_DISCONNECTED)
            else:
                # A client without CURVE (or with a wrong server key) retries every 100 ms: log
                # the first failure, then at most one line per 10 s with the count.
                self._handshake_failures += 1
                now = time.monotonic()
                if now - self._handshake_logged >= 10.0:
                    self._handshake_logged = now
                    print(
                        f"sparse-rl-bridge: a connection to {ev['endpoint'].decode(errors='replace')} failed its ZeroMQ handshake "
                        f"(a client without CURVE or with another server key?); {self._handshake_failures} so far",
                        file=self.log,
                        flush=True,
                    )

    def _expire(self) -> None:
        if self.idle_timeout <= 0:
            return
        now = time.monotonic()
        for rid, s in list(self.sessions.items()):
            if now - s.last > self.idle_timeout:
                self._end(rid, f"no request for {self.idle_timeout:g} s", END_IDLE)

    def _error(self, seq: int, message: str) -> Frames:
        return P.encode(P.ERROR, seq, P.error_fields(RequestError(message), ""))

    def handle(self, frames: List["zmq.Frame"]) -> Optional[Frames]:
        """Handles one request ``[routing id, b"", header, arrays...]`` from the ROUTER socket.

        :returns: the reply frames (without the envelope), or None when nothing can be answered
            (a message without a routing id).
        """
        if len(frames) < 2:
            return None
        rid = frames[0].bytes
        if len(frames) < 3 or len(frames[1].bytes) != 0:
            return self._error(-1, "a request must be [empty delimiter frame, header, arrays...] (as a REQ socket sends it)")
        body = frames[2:]
        fd = _meta(body[0], zmq.SRCFD)
        user_id = _meta(body[0], "User-Id") or None
        address = _meta(body[0], "Peer-Address")
        s = self.sessions.get(rid)
        if s is not None and ((s.fd is not None and fd is not None and fd != s.fd) or s.user_id != user_id):
            # Another connection carries the routing id of a session: the session's own client
            # is gone (ZeroMQ refuses a routing id in use), so the session ends.
            self._end(rid, f"a request from another connection ({_describe(address, user_id)}) carried its routing id", END_DISCONNECTED)
            return self._error(BridgeServer._peek_seq(body), f"session {s.number} belongs to another connection; send HELLO to open a session")
        if s is None:
            if BridgeServer._peek_type(body) == P.HELLO and len(self.sessions) >= self.max_sessions:
                return self._error(BridgeServer._peek_seq(body), f"the server has {len(self.sessions)} sessions open (--max-sessions {self.max_sessions}); try again later")
            server = BridgeServer(self.token, self.log, session=self._next, peer=_describe(address, user_id), refusals=self.refusals)
            reply = server.handle_frames(body)
            if server.vec is not None:
                self.sessions[rid] = _Session(self._next, server, fd, user_id, address)
                self._next += 1
            else:
                server.end_session()
            return reply
        s.last = time.monotonic()
        reply = s.server.handle_frames(body)
        if s.server.stop:
            code = s.server.exit_code
            self._end(rid, "CLOSE" if code == 0 else "fatal request", END_CLOSED if code == 0 else END_FATAL)
        return reply

    def run(self) -> int:
        """Serves until SIGTERM / SIGINT (raised through), or with ``once`` until a session has
        ended and none is open.

        :returns: with ``once``, how the last session ended: 0 CLOSE, 2 fatal request (protocol
            major mismatch), 4 its client disconnected (or its routing id was taken over), 5
            idle timeout.
        """
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.monitor, zmq.POLLIN)
        poll_ms = 1000 if self.idle_timeout <= 0 else max(10, min(1000, int(self.idle_timeout * 1000)))
        while True:
            poller.poll(poll_ms)
            while True:
                try:
                    frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                # Disconnections before this request arrived are handled first: a reused file
                # descriptor or routing id then finds no stale session.
                self._drain_monitor()
                reply = self.handle(frames)
                if reply is not None:
                    self.sock.send_multipart([frames[0].bytes, b"", *reply], copy=False)
            self._drain_monitor()
            self._expire()
            if self.once and self._ended is not None and not self.sessions:
                return self._ended


def _serve_sessions(endpoint, token, idle_timeout, log, curve_secret_key_file, curve_client_keys_dir, once, max_sessions) -> int:
    """Server mode: binds a ROUTER socket and runs a :class:`SessionServer` (SIGTERM: every
    session's envs are closed, exit code 143)."""
    _route_mujoco_warnings(log)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 2000)
    if _ipv6_host(endpoint):
        sock.setsockopt(zmq.IPV6, 1)  # tcp://[::1]:PORT, tcp://[::]:PORT (dual-stack) need it
    auth = None
    server = None
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (embedded use)
        pass
    try:
        if curve_secret_key_file:
            auth = _start_curve(ctx, sock, curve_secret_key_file, curve_client_keys_dir, log)
        sock.bind(endpoint)
        bound = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        server = SessionServer(sock, token, log, idle_timeout=idle_timeout, once=once, max_sessions=max_sessions)
        print(
            f"sparse-rl-bridge {__version__} (protocol {PROTOCOL_VERSION}, pid {os.getpid()}) listening on {bound} "
            f"(sessions: one per client connection, at most {max_sessions})",
            file=log,
            flush=True,
        )
        return server.run()
    except _Terminated:
        print("sparse-rl-bridge: SIGTERM; closing every session", file=log, flush=True)
        return 143
    except KeyboardInterrupt:
        print("sparse-rl-bridge: interrupted; closing every session", file=log, flush=True)
        return 130
    finally:
        if server is not None:
            server.close()
        sock.close()
        if auth is not None:
            auth.stop()
        ctx.term()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _ipv6_host(endpoint: str) -> bool:
    """Whether ``endpoint`` is ``tcp://[IPv6 address]:PORT`` (ZeroMQ binds it only with the
    IPV6 socket option; IPv4 endpoints keep it off, so their LAST_ENDPOINT stays IPv4)."""
    return endpoint.startswith("tcp://[")


def _raise_terminated(_signum, _frame) -> None:
    raise _Terminated()
