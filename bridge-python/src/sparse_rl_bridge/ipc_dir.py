"""Removal of the client's private ``ipc://`` socket folder (standard library only, so that the
start-up code of ``__main__`` can use it before the dependency check)."""

from __future__ import annotations

import os


def remove_ipc_socket(endpoint: str) -> None:
    """Removes the socket file of an ``ipc://`` endpoint and then its folder if that is now empty
    (the client's private ``0700`` folder holds only the socket); ignores what is already gone
    and any other endpoint."""
    if not endpoint.startswith("ipc://"):
        return
    path = endpoint[len("ipc://"):]
    try:
        os.unlink(path)
    except OSError:
        pass
    try:
        os.rmdir(os.path.dirname(path) or ".")
    except OSError:
        pass


__all__ = ["remove_ipc_socket"]
