"""sparse-rl-bridge: serves Gymnasium vector environments to the sparse-rl trainer over ZeroMQ.

This module is deliberately free of third-party imports so that ``python -m sparse_rl_bridge``
can report missing dependencies (numpy, pyzmq, gymnasium) with one clear message instead of a
traceback. The protocol is described in ``bridge-python/README.md`` and, for the JSON headers,
in ``schemas/bridge-protocol.schema.json``.
"""

__version__ = "0.1.0"

#: Version of the wire protocol spoken by this bridge (``"major.minor"``); peers must agree on
#: the major number.
PROTOCOL_VERSION = "1.0"

__all__ = ["__version__", "PROTOCOL_VERSION"]
