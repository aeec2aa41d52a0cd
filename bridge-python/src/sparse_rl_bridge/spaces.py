"""JSON encoding of Gymnasium spaces for the WELCOME message.

- ``Box``      -> ``{"type": "box", "shape": [...], "dtype": "float32", "low": [...], "high": [...]}``
  with ``low``/``high`` flattened in C order (``prod(shape)`` entries each). Infinite bounds are
  the strings ``"inf"`` / ``"-inf"`` (no sentinel numbers, strict JSON); NaN bounds are rejected.
- ``Discrete`` -> ``{"type": "discrete", "n": int, "start": int}``.

Other spaces (Dict, Tuple, MultiDiscrete, ...) are not supported by protocol 1.0.

On the wire every observation and action is a flat float32 vector: a Box of shape ``s`` has
``prod(s)`` entries, a Discrete has one entry holding the integer value.
"""

from __future__ import annotations

import math
from typing import Any, Dict

import numpy as np
from gymnasium import spaces

from .protocol import ProtocolError, decode_float, encode_float


class UnsupportedSpaceError(TypeError):
    """The environment uses a space that protocol 1.0 cannot carry."""


def _bound(x: float) -> Any:
    x = float(x)
    if math.isnan(x):
        raise UnsupportedSpaceError("Box bounds must not be NaN")
    return encode_float(x)


def encode_space(space: spaces.Space) -> Dict[str, Any]:
    """The JSON description of ``space`` (see module docstring).

    :raises UnsupportedSpaceError: for a space other than Box or Discrete, or NaN bounds.
    """
    if isinstance(space, spaces.Box):
        return {
            "type": "box",
            "shape": [int(d) for d in space.shape],
            "dtype": np.dtype(space.dtype).name,
            "low": [_bound(x) for x in np.asarray(space.low).reshape(-1).tolist()],
            "high": [_bound(x) for x in np.asarray(space.high).reshape(-1).tolist()],
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "discrete", "n": int(space.n), "start": int(space.start)}
    raise UnsupportedSpaceError(
        f"space {space!r} is not supported by the sparse-rl bridge (protocol 1.0 carries Box and "
        "Discrete spaces only; wrap the environment, e.g. with gymnasium.wrappers.FlattenObservation)"
    )


def decode_space(desc: Dict[str, Any]) -> spaces.Space:
    """Inverse of :func:`encode_space` (used by tests and Python clients).

    :raises ProtocolError: for an unknown ``type`` or malformed bounds.
    """
    kind = desc.get("type")
    if kind == "box":
        shape = tuple(int(d) for d in desc["shape"])
        dtype = np.dtype(desc["dtype"])
        low = np.array([decode_float(x) for x in desc["low"]], dtype=np.float64).reshape(shape)
        high = np.array([decode_float(x) for x in desc["high"]], dtype=np.float64).reshape(shape)
        return spaces.Box(low=low.astype(dtype), high=high.astype(dtype), shape=shape, dtype=dtype)
    if kind == "discrete":
        return spaces.Discrete(int(desc["n"]), start=int(desc["start"]))
    raise ProtocolError(f"unknown space type {kind!r}")


def flat_dim(space: spaces.Space) -> int:
    """Length of the flat float32 wire vector of one element of ``space`` (Box: prod(shape),
    Discrete: 1).

    :raises UnsupportedSpaceError: for other spaces.
    """
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape, dtype=np.int64))
    if isinstance(space, spaces.Discrete):
        return 1
    encode_space(space)  # raises with the explanatory message
    raise AssertionError("unreachable")
