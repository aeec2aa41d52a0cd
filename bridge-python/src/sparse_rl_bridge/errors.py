"""Request errors shared by the vector-env adapter (:mod:`.vector_env`) and the protocol state
machine (:mod:`.server`).

Their ``__module__`` is pinned to ``sparse_rl_bridge.server``, where they were defined before the
split (and from where they are still importable): ERROR replies carry the qualified class name in
``exception_type`` (``sparse_rl_bridge.server.RequestError``), which is part of the wire protocol.
"""


class FatalRequestError(Exception):
    """A request after which the server must exit (reserved; protocol major mismatches use P.VersionMismatch)."""

    __module__ = "sparse_rl_bridge.server"


class RequestError(ValueError):
    """A malformed request; the server replies ERROR and keeps serving."""

    __module__ = "sparse_rl_bridge.server"


__all__ = ["FatalRequestError", "RequestError"]
