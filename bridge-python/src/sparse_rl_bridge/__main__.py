"""Command line entry point: ``python -m sparse_rl_bridge --connect tcp://127.0.0.1:PORT``.

The client's secret is read from the environment variable ``SPARSE_RL_BRIDGE_TOKEN`` (never from
the command line, where other users could read it) and removed from the environment at once.

Exit codes: 0 after CLOSE; 2 after a fatal request (wrong token, protocol major mismatch);
3 when a required Python module is missing (the last stderr line then reads
``SPARSE_RL_BRIDGE_MISSING_MODULES=<comma-separated import names>``); 4 when the parent process
died; 5 after the idle timeout; 64 for bad command line usage.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import PROTOCOL_VERSION, __version__

#: import name -> pip distribution name, checked before anything else is imported.
REQUIRED_MODULES = (("numpy", "numpy"), ("zmq", "pyzmq"), ("gymnasium", "gymnasium"))

TOKEN_ENV = "SPARSE_RL_BRIDGE_TOKEN"


def missing_modules():
    """Import names of the required modules that cannot be imported by this interpreter."""
    missing = []
    for mod, _dist in REQUIRED_MODULES:
        try:
            __import__(mod)
        except Exception:  # ImportError, or a broken install raising something else
            missing.append(mod)
    return missing


def set_parent_death_signal() -> bool:
    """On Linux, asks the kernel to SIGKILL this process when its parent dies
    (``prctl(PR_SET_PDEATHSIG)``). Returns whether it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # noqa: PLC0415
        import signal  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except Exception:
        return False


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sparse-rl-bridge",
        description=(
            "Serve a Gymnasium vector environment to the sparse-rl trainer over ZeroMQ "
            f"(bridge {__version__}, protocol {PROTOCOL_VERSION}). The client token is read from "
            f"${TOKEN_ENV}."
        ),
    )
    p.add_argument("--connect", required=True, help="ZeroMQ endpoint bound by the client, e.g. tcp://127.0.0.1:5555")
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
        help="exit when this process is gone (checked about once a second while idle)",
    )
    p.add_argument("--version", action="version", version=f"sparse-rl-bridge {__version__} (protocol {PROTOCOL_VERSION})")
    return p


def main(argv=None) -> int:
    """Runs the bridge; returns (and, as a console script, exits with) the exit code above."""
    args = _parser().parse_args(argv)
    token = os.environ.pop(TOKEN_ENV, None)
    if not token:
        print(f"sparse-rl-bridge: ${TOKEN_ENV} is not set; refusing to serve", file=sys.stderr)
        return 64

    # Die with the parent (Linux); checked again by polling in the serve loop.
    set_parent_death_signal()
    if args.parent_pid is not None:
        try:
            os.kill(args.parent_pid, 0)
        except ProcessLookupError:
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

    from .server import serve  # noqa: PLC0415 - after the dependency check

    return serve(args.connect, token, idle_timeout=args.idle_timeout, parent_pid=args.parent_pid)


if __name__ == "__main__":
    sys.exit(main())
