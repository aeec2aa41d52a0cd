"""The ``serve`` entry: the ZeroMQ socket loop around one :class:`~sparse_rl_bridge.server.BridgeServer`
(spawned mode, ``--connect``; server mode, ``sparse-rl-bridge serve --bind``), with optional
CURVE encryption and the parent / idle watchdogs.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Optional

import zmq

from . import PROTOCOL_VERSION, __version__
from .server import BridgeServer, _route_mujoco_warnings


# -- process-level helpers -------------------------------------------------------------------
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
    :returns: the process exit code (0 after CLOSE, 2 after a fatal request (protocol major
        mismatch), 4 when the parent died, 5 on idle timeout).
    """
    _route_mujoco_warnings(log)
    initial_ppid = os.getppid()
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
                if not bind and (os.getppid() != initial_ppid or (parent_pid is not None and not _alive(parent_pid))):
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
