"""JSON encoding of Gymnasium spaces for the WELCOME message, and the flat float32 wire layout.

Descriptions (strict JSON; infinite bounds are the strings ``"inf"`` / ``"-inf"``):

- ``Box``           -> ``{"type": "box", "shape": [...], "dtype": "<numpy name>", "low": [...], "high": [...]}``
  with ``low``/``high`` flattened in C order (``prod(shape)`` entries each). Any numpy dtype
  (float16/32/64, int*, uint*); NaN bounds are rejected.
- ``Discrete``      -> ``{"type": "discrete", "n": int, "start": int}``.
- ``MultiDiscrete`` -> ``{"type": "multi-discrete", "shape": [...], "nvec": [...], "start": [...]}``
  (``nvec``/``start`` flattened in C order).
- ``MultiBinary``   -> ``{"type": "multi-binary", "shape": [...]}``.
- ``Dict``          -> ``{"type": "dict", "spaces": [{"key": str, "space": <desc>}, ...]}`` in the
  Dict's own key order (the order Gymnasium flattens in). Observations only.
- ``Tuple``         -> ``{"type": "tuple", "spaces": [<desc>, ...]}``. Observations only.

Wire layout (every observation and action is one flat float32 vector per env):

- Box: ``prod(shape)`` entries, C order, cast to float32 (round to nearest).
- Discrete: 1 entry, the integer value (``start`` included).
- MultiDiscrete: ``prod(shape)`` entries, the integer values, C order.
- MultiBinary: ``prod(shape)`` entries, 0 or 1, C order.
- Dict / Tuple (observations only): ``gymnasium.spaces.flatten(space, x)`` cast to float32, i.e.
  the children concatenated in order, each child flattened *the Gymnasium way*: Box as C-order
  values, Discrete **one-hot** (``n`` entries), MultiDiscrete concatenated one-hots (``sum(nvec)``
  entries), MultiBinary as values; length ``gymnasium.spaces.flatdim(space)``. This is exactly what
  ``gymnasium.wrappers.FlattenObservation`` gives.

Graph, Text, Sequence and OneOf spaces are not supported.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict

import numpy as np
from gymnasium import spaces

from .protocol import ProtocolError, decode_float, encode_float


class UnsupportedSpaceError(TypeError):
    """The environment uses a space that the bridge protocol cannot carry."""


def _bound(x: float) -> Any:
    x = float(x)
    if math.isnan(x):
        raise UnsupportedSpaceError("Box bounds must not be NaN")
    return encode_float(x)


def _ints(a: Any) -> list:
    return [int(x) for x in np.asarray(a).reshape(-1).tolist()]


def encode_space(space: spaces.Space, composite: bool = True) -> Dict[str, Any]:
    """The JSON description of ``space`` (see module docstring).

    :param composite: whether Dict / Tuple are allowed (True for observation spaces).
    :raises UnsupportedSpaceError: for Graph/Text/Sequence/OneOf spaces, Dict/Tuple when
        ``composite`` is False, or NaN Box bounds.
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
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "multi-discrete",
            "shape": [int(d) for d in space.shape],
            "nvec": _ints(space.nvec),
            "start": _ints(space.start),
        }
    if isinstance(space, spaces.MultiBinary):
        return {"type": "multi-binary", "shape": [int(d) for d in space.shape]}
    if composite and isinstance(space, spaces.Dict):
        return {"type": "dict", "spaces": [{"key": str(k), "space": encode_space(s)} for k, s in space.spaces.items()]}
    if composite and isinstance(space, spaces.Tuple):
        return {"type": "tuple", "spaces": [encode_space(s) for s in space.spaces]}
    if isinstance(space, (spaces.Dict, spaces.Tuple)):
        raise UnsupportedSpaceError(
            f"action space {space!r} is not supported by the sparse-rl bridge (Dict/Tuple spaces are "
            "supported for observations only; wrap the environment to flatten its actions)"
        )
    raise UnsupportedSpaceError(
        f"space {space!r} is not supported by the sparse-rl bridge (supported: Box, Discrete, "
        "MultiDiscrete, MultiBinary, and Dict/Tuple of those for observations)"
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
    if kind == "multi-discrete":
        shape = tuple(int(d) for d in desc["shape"])
        return spaces.MultiDiscrete(np.array(desc["nvec"]).reshape(shape), start=np.array(desc["start"]).reshape(shape))
    if kind == "multi-binary":
        shape = [int(d) for d in desc["shape"]]
        return spaces.MultiBinary(shape[0] if len(shape) == 1 else shape)
    if kind == "dict":
        return spaces.Dict({e["key"]: decode_space(e["space"]) for e in desc["spaces"]})
    if kind == "tuple":
        return spaces.Tuple([decode_space(s) for s in desc["spaces"]])
    raise ProtocolError(f"unknown space type {kind!r}")


def flat_dim(space: spaces.Space) -> int:
    """Length of the flat float32 wire vector of one element of ``space`` (see the module
    docstring: Box/MultiDiscrete/MultiBinary ``prod(shape)``, Discrete 1, Dict/Tuple
    ``gymnasium.spaces.flatdim``).

    :raises UnsupportedSpaceError: for unsupported spaces.
    """
    encode_space(space)  # raises with the explanatory message
    if isinstance(space, spaces.Discrete):
        return 1
    if isinstance(space, (spaces.Box, spaces.MultiDiscrete, spaces.MultiBinary)):
        return int(np.prod(space.shape, dtype=np.int64))
    return int(spaces.flatdim(space))


def flattener(space: spaces.Space) -> Callable[[Any], np.ndarray]:
    """A function mapping one element of ``space`` to its flat wire vector (any numeric dtype;
    the caller casts to float32 when storing it). See the module docstring for the layout."""
    if isinstance(space, (spaces.Box, spaces.MultiDiscrete, spaces.MultiBinary)):
        return lambda x: np.asarray(x).reshape(-1)
    if isinstance(space, spaces.Discrete):
        return lambda x: np.asarray(x).reshape(1)
    if isinstance(space, (spaces.Dict, spaces.Tuple)):
        return lambda x: np.asarray(spaces.flatten(space, x)).reshape(-1)
    encode_space(space)
    raise AssertionError("unreachable")
