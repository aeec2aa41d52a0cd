"""Command line entry points.

- ``python -m sparse_rl_bridge --connect tcp://127.0.0.1:PORT``: what the trainer spawns.
- ``sparse-rl-bridge serve --bind tcp://0.0.0.0:PORT --curve-secret-key server.key_secret
  [--curve-client-keys DIR]``: a long-running remote bridge serving many clients, one session
  per client connection (token from ``$SPARSE_RL_BRIDGE_TOKEN`` or ``--token-file``).
- ``sparse-rl-bridge keygen --dir DIR [--name NAME]``: writes a CURVE key pair
  ``DIR/NAME.key`` (public) and ``DIR/NAME.key_secret`` (secret, mode 0600).

The client's secret is read from the environment variable ``SPARSE_RL_BRIDGE_TOKEN`` (never from
the command line, where other users could read it) and removed from the environment at once.

The bridge never imports from its working directory: ``python -m`` puts the working directory
first on ``sys.path``, and an env id ``module:Env-v0`` imports ``module``; :func:`main` removes
that entry (and ``''``) at start-up, so modules come only from ``PYTHONPATH`` and the installed
packages (:func:`drop_cwd_from_sys_path`).

Exit codes: 0 after CLOSE; 2 after a protocol major mismatch at HELLO;
3 when a required Python module is missing (the last stderr line then reads
``SPARSE_RL_BRIDGE_MISSING_MODULES=<comma-separated import names>``); 4 when the parent process
died; 5 after the idle timeout; 64 for bad command line usage; 143 after a SIGTERM while the
parent lives. ``serve`` runs until SIGTERM (143, after closing every session's envs) or SIGINT
(130); with ``--once`` it exits when a session has ended and no other is open, with 0 (CLOSE),
2 (protocol major mismatch), 4 (its client disconnected) or 5 (idle timeout).

``--connect unix://PATH`` (the client's ``transport: 'unix'``) serves the same protocol over a
plain Unix stream socket instead of ZeroMQ (:func:`.server.serve_stream`); it also exits with 4
when the client closes the connection.

With ``--cleanup-ipc`` (what the trainer passes for its private ``ipc://`` or ``unix://`` socket),
the bridge removes the socket file and its folder on every exit, including its parent's death (SIGKILL of
the Node process included): see :mod:`.serve`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
from typing import Optional

from . import PROTOCOL_VERSION, __version__
from .ipc_dir import remove_ipc_socket

#: import name -> pip distribution name, checked before anything else is imported.
REQUIRED_MODULES = (("numpy", "numpy"), ("zmq", "pyzmq"), ("gymnasium", "gymnasium"))

TOKEN_ENV = "SPARSE_RL_BRIDGE_TOKEN"


#: Endpoint scheme of the plain Unix stream socket transport (see :func:`.server.serve_stream`).
STREAM_SCHEME = "unix://"


def remove_local_socket(endpoint: str) -> None:
    """:func:`.ipc_dir.remove_ipc_socket` for ``ipc://`` and ``unix://`` endpoints alike (the
    socket file, then its folder if empty); ignores any other endpoint."""
    if endpoint.startswith(STREAM_SCHEME):
        endpoint = "ipc://" + endpoint[len(STREAM_SCHEME):]
    remove_ipc_socket(endpoint)


def drop_cwd_from_sys_path(path=None, cwd: Optional[str] = None, pythonpath: Optional[str] = None) -> list:
    """Removes the working directory from ``path`` (default ``sys.path``, edited in place):
    every ``''`` entry and every entry naming ``cwd`` (default ``os.getcwd()``), unless that
    directory is named explicitly in ``pythonpath`` (default ``$PYTHONPATH``; empty entries
    there do not count).

    :returns: the removed entries.
    """
    path = sys.path if path is None else path
    try:
        here = os.path.realpath(cwd if cwd is not None else os.getcwd())
    except OSError:  # the working directory was removed
        here = None
    explicit = set()
    for entry in (os.environ.get("PYTHONPATH", "") if pythonpath is None else pythonpath).split(os.pathsep):
        if entry:
            explicit.add(os.path.realpath(entry))
    removed = []
    for entry in list(path):
        if not isinstance(entry, str):
            continue
        if entry == "" or (here is not None and os.path.realpath(entry) == here and here not in explicit):
            path.remove(entry)
            removed.append(entry)
    return removed


def missing_modules():
    """Import names of the required modules that cannot be imported by this interpreter."""
    missing = []
    for mod, _dist in REQUIRED_MODULES:
        try:
            __import__(mod)
        except Exception:  # ImportError, or a broken install raising something else
            missing.append(mod)
    return missing


def set_parent_death_signal(sig: Optional[int] = None) -> bool:
    """On Linux, asks the kernel to send ``sig`` (default SIGTERM, which the bridge handles by
    cleaning up and exiting) to this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``).
    Returns whether it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM if sig is None else sig), 0, 0, 0) == 0
    except Exception:
        return False


def _early_cleanup_handler(endpoint: str, cleanup: bool):
    """SIGTERM handler for start-up (before :func:`.serve.serve` installs its own): removes the
    ipc socket folder when asked to and exits with code 4."""

    def handler(_signum, _frame):
        if cleanup:
            remove_local_socket(endpoint)
        os._exit(4)

    return handler


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sparse-rl-bridge",
        description=(
            "Serve a Gymnasium vector environment to the sparse-rl trainer over ZeroMQ "
            f"(bridge {__version__}, protocol {PROTOCOL_VERSION}). The client token is read from "
            f"${TOKEN_ENV}."
        ),
    )
    p.add_argument(
        "--connect",
        required=True,
        help="endpoint bound by the client: a ZeroMQ endpoint, e.g. tcp://127.0.0.1:5555 or ipc://PATH, "
        "or unix://PATH, a plain Unix stream socket (same protocol, no ZeroMQ)",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=float(os.environ.get("SPARSE_RL_BRIDGE_IDLE_TIMEOUT", "0")),
        help="exit after this many seconds without a request (0 = never; default from "
        "$SPARSE_RL_BRIDGE_IDLE_TIMEOUT or 0)",
    )
    p.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit when this process is gone (checked every 0.2 s by a watchdog thread)",
    )
    p.add_argument(
        "--cleanup-ipc",
        action="store_true",
        help="the ipc:// endpoint's folder is private to this bridge's client: remove the socket "
        "file and the folder on every exit, including the parent's death",
    )
    p.add_argument("--version", action="version", version=f"sparse-rl-bridge {__version__} (protocol {PROTOCOL_VERSION})")
    return p


def _serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sparse-rl-bridge serve",
        description=(
            "Serve Gymnasium environments to remote sparse-rl clients: one session per client "
            "connection, each with its own envs; every request is accepted only from the connection "
            "whose HELLO carried the token."
        ),
    )
    p.add_argument("--bind", required=True, help="endpoint to bind, e.g. tcp://0.0.0.0:5555 or tcp://[::]:5555 (loopback is safer: tcp://127.0.0.1:5555, tcp://[::1]:5555)")
    p.add_argument("--curve-secret-key", help="CURVE key pair file (NAME.key_secret from `keygen`); encrypts and authenticates the server")
    p.add_argument("--curve-client-keys", help="directory of allowed client public keys (*.key); default: any CURVE client (the token still applies)")
    p.add_argument("--token-file", help="file holding the client token (default: $SPARSE_RL_BRIDGE_TOKEN)")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback --bind without CURVE (traffic in clear text)")
    p.add_argument("--idle-timeout", type=float, default=0.0, help="end a session after this many seconds without a request of its own (0 = never)")
    p.add_argument("--max-sessions", type=int, default=16, help="most sessions open at once (default 16); a further HELLO gets an ERROR")
    p.add_argument("--once", action="store_true", help="exit once a session has ended and no other is open")
    return p


def keygen(argv) -> int:
    """``keygen --dir DIR [--name NAME]``: writes ``DIR/NAME.key`` and ``DIR/NAME.key_secret``
    (``zmq.auth.create_certificates``; the secret file is made readable by its owner only) and
    prints the public key (Z85, 40 characters)."""
    p = argparse.ArgumentParser(prog="sparse-rl-bridge keygen", description="Generate a ZeroMQ CURVE key pair.")
    p.add_argument("--dir", required=True)
    p.add_argument("--name", default="server")
    args = p.parse_args(argv)
    import zmq.auth  # noqa: PLC0415

    os.makedirs(args.dir, exist_ok=True)
    public_file, secret_file = zmq.auth.create_certificates(args.dir, args.name)
    os.chmod(secret_file, 0o600)
    public, _ = zmq.auth.load_certificate(public_file)
    print(f"public key file: {public_file}\nsecret key file: {secret_file}\npublic key: {public.decode()}")
    return 0


def is_loopback(endpoint: str) -> bool:
    """Whether binding ``endpoint`` exposes nothing beyond this machine: ``ipc://`` and
    ``inproc://``, and ``tcp://HOST:PORT`` where HOST is ``localhost`` or a loopback address
    (``ipaddress``' ``is_loopback``: 127.0.0.0/8 and ::1, IPv6 in brackets, e.g.
    ``tcp://[::1]:5555``). Wildcards (``*``, ``0.0.0.0``), interface names and other host names
    are not loopback."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://"):].rsplit(":", 1)[0]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_main(argv) -> int:
    """``serve``: see :func:`_serve_parser`. Exit codes as for the spawned mode; 64 for usage
    errors (no token, non-loopback bind without CURVE and without ``--insecure``)."""
    args = _serve_parser().parse_args(argv)
    token = os.environ.pop(TOKEN_ENV, None)
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            token = f.read().strip()
    if not token:
        print(f"sparse-rl-bridge: no token (set ${TOKEN_ENV} or --token-file); refusing to serve", file=sys.stderr)
        return 64
    if not is_loopback(args.bind) and not args.curve_secret_key and not args.insecure:
        print(f"sparse-rl-bridge: refusing the non-loopback --bind {args.bind} without CURVE (--curve-secret-key) or --insecure", file=sys.stderr)
        return 64
    if args.curve_client_keys and not args.curve_secret_key:
        print("sparse-rl-bridge: --curve-client-keys needs --curve-secret-key (CURVE)", file=sys.stderr)
        return 64
    if args.curve_client_keys and not (os.path.isdir(args.curve_client_keys) and any(f.endswith(".key") for f in os.listdir(args.curve_client_keys))):
        print(f"sparse-rl-bridge: --curve-client-keys {args.curve_client_keys} is not a folder of client public keys (*.key)", file=sys.stderr)
        return 64
    if args.max_sessions < 1:
        print(f"sparse-rl-bridge: --max-sessions must be >= 1, got {args.max_sessions}", file=sys.stderr)
        return 64
    missing = missing_modules()
    if missing:
        print(f"SPARSE_RL_BRIDGE_MISSING_MODULES={','.join(missing)}", file=sys.stderr, flush=True)
        return 3
    from .serve import serve  # noqa: PLC0415

    return serve(
        args.bind,
        token,
        idle_timeout=args.idle_timeout,
        bind=True,
        curve_secret_key_file=args.curve_secret_key,
        curve_client_keys_dir=args.curve_client_keys,
        once=args.once,
        max_sessions=args.max_sessions,
    )


def main(argv=None) -> int:
    """Runs the bridge; returns (and, as a console script, exits with) the exit code above."""
    drop_cwd_from_sys_path()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "keygen":
        return keygen(argv[1:])
    if argv and argv[0] == "serve":
        return serve_main(argv[1:])
    args = _parser().parse_args(argv)
    token = os.environ.pop(TOKEN_ENV, None)
    if not token:
        print(f"sparse-rl-bridge: ${TOKEN_ENV} is not set; refusing to serve", file=sys.stderr)
        return 64

    # Exit with the parent (Linux: SIGTERM from the kernel, handled below and then in serve();
    # a watchdog thread in serve() checks the parent pid too).
    signal.signal(signal.SIGTERM, _early_cleanup_handler(args.connect, args.cleanup_ipc))
    set_parent_death_signal()
    if args.parent_pid is not None:
        try:
            os.kill(args.parent_pid, 0)
        except ProcessLookupError:
            if args.cleanup_ipc:
                remove_local_socket(args.connect)
            return 4
        except PermissionError:
            pass

    missing = missing_modules()
    if missing:
        names = ", ".join(
            f"{mod}" if mod == dist else f"{mod} (pip package {dist})" for mod, dist in REQUIRED_MODULES if mod in missing
        )
        print(
            f"sparse-rl-bridge: Python modules not importable by {sys.executable}: {names}",
            file=sys.stderr,
        )
        print(f"SPARSE_RL_BRIDGE_MISSING_MODULES={','.join(missing)}", file=sys.stderr, flush=True)
        return 3

    # Anything the environments print to stdout (Python or C level) goes to stderr, which the
    # client keeps a tail of; stdout is not read by the client.
    try:
        sys.stdout.flush()
        os.dup2(2, 1)
    except OSError:
        pass

    if args.connect.startswith(STREAM_SCHEME):
        from .server import serve_stream  # noqa: PLC0415 - after the dependency check

        endpoint = args.connect
        return serve_stream(
            endpoint,
            token,
            idle_timeout=args.idle_timeout,
            parent_pid=args.parent_pid,
            cleanup=(lambda: remove_local_socket(endpoint)) if args.cleanup_ipc else None,
        )

    from .serve import serve  # noqa: PLC0415 - after the dependency check

    return serve(args.connect, token, idle_timeout=args.idle_timeout, parent_pid=args.parent_pid, cleanup_ipc=args.cleanup_ipc)


if __name__ == "__main__":
    sys.exit(main())
