"""Wire format of the sparse-rl bridge protocol (version 1.x).

A message is a ZeroMQ multipart message. Frame 0 is a UTF-8 JSON object (the *header*)
``{"v": "1.3", "type": ..., "seq": int, ...}``. When the message carries arrays, the header
lists them in ``"arrays": [{"name", "dtype", "shape"}, ...]`` and each following frame holds the
raw bytes of one array, little-endian and C-contiguous, in the same order. JSON never contains
arrays of numeric data, pickle is never used and nothing is evaluated.

Non-finite floats in headers (space bounds, episode returns) are written as the strings
``"inf"``, ``"-inf"`` and ``"nan"`` so that the header stays strict JSON (RFC 8259).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import PROTOCOL_VERSION

# Message types -------------------------------------------------------------------------------
HELLO = "HELLO"
WELCOME = "WELCOME"
RESET = "RESET"
RESET_RESULT = "RESET_RESULT"
STEP = "STEP"
STEP_RESULT = "STEP_RESULT"
CLOSE = "CLOSE"
CLOSED = "CLOSED"
PING = "PING"
PONG = "PONG"
GET_STATE = "GET_STATE"
GET_STATE_RESULT = "GET_STATE_RESULT"
SET_STATE = "SET_STATE"
SET_STATE_RESULT = "SET_STATE_RESULT"
ERROR = "ERROR"

#: Request types a client may send, and the reply type each one gets on success.
REPLY_TYPES: Dict[str, str] = {
    HELLO: WELCOME,
    RESET: RESET_RESULT,
    STEP: STEP_RESULT,
    CLOSE: CLOSED,
    PING: PONG,
    GET_STATE: GET_STATE_RESULT,
    SET_STATE: SET_STATE_RESULT,
}

#: dtype names allowed on the wire -> explicit little-endian numpy dtypes.
WIRE_DTYPES: Dict[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
    "uint8": np.dtype("u1"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
}


class ProtocolError(ValueError):
    """A message that does not follow the protocol (bad JSON, missing field, frame mismatch)."""


class VersionMismatch(ProtocolError):
    """The peer speaks another major protocol version (fatal: the bridge exits after replying)."""


@dataclass
class Message:
    """A decoded message: its JSON ``header`` and its arrays by name (read-only numpy views)."""

    header: Dict[str, Any]
    arrays: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def type(self) -> str:
        """The message type, e.g. ``"STEP"``."""
        return self.header["type"]

    @property
    def seq(self) -> int:
        """The sequence number (a reply carries its request's ``seq``)."""
        return self.header["seq"]


ArraysArg = Optional[Union[Mapping[str, np.ndarray], Sequence[Tuple[str, np.ndarray]]]]


def major(version: str) -> int:
    """The major number of a ``"major.minor"`` version string.

    :raises ProtocolError: if ``version`` is not of that form.
    """
    if not isinstance(version, str):
        raise ProtocolError(f"protocol version must be a string like '1.0', got {version!r}")
    head, _, _ = version.partition(".")
    if not head.isdigit():
        raise ProtocolError(f"protocol version must look like '1.0', got {version!r}")
    return int(head)


_MAJOR = major(PROTOCOL_VERSION)


def encode_float(x: float) -> Union[float, str]:
    """A float as a strict-JSON value: finite floats unchanged, else ``"inf"``/``"-inf"``/``"nan"``."""
    x = float(x)
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return "nan"
    return "inf" if x > 0 else "-inf"


def decode_float(x: Union[float, int, str]) -> float:
    """Inverse of :func:`encode_float`.

    :raises ProtocolError: for any other string or type.
    """
    if isinstance(x, bool):
        raise ProtocolError(f"expected a number, got {x!r}")
    if isinstance(x, (int, float)):
        return float(x)
    if x == "inf":
        return math.inf
    if x == "-inf":
        return -math.inf
    if x == "nan":
        return math.nan
    raise ProtocolError(f"expected a number or 'inf'/'-inf'/'nan', got {x!r}")


_KIND_NAMES = {"f4": "float32", "f8": "float64", "u1": "uint8", "i4": "int32", "i8": "int64"}
#: dtype.str of arrays that can be sent as they are -> wire name (little-endian only).
_SENDABLE = {"<f4": "float32", "<f8": "float64", "|u1": "uint8", "<i4": "int32", "<i8": "int64"}
_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def _wire_array(arr: Any) -> Tuple[str, np.ndarray]:
    if type(arr) is np.ndarray and arr.flags.c_contiguous:
        name = _SENDABLE.get(arr.dtype.str)
        if name is not None:
            return name, arr
    arr = np.asarray(arr)
    name = _KIND_NAMES.get(f"{arr.dtype.kind}{arr.dtype.itemsize}")
    if name is None:
        raise ProtocolError(f"dtype {arr.dtype} cannot be sent (allowed: {', '.join(WIRE_DTYPES)})")
    return name, np.ascontiguousarray(arr, dtype=WIRE_DTYPES[name])


def encode(
    msg_type: str, seq: int, fields: Optional[Mapping[str, Any]] = None, arrays: ArraysArg = None
) -> List[Union[bytes, memoryview]]:
    """Encodes a message into ZeroMQ frames.

    :param msg_type: one of the message type constants (``"STEP_RESULT"``...).
    :param seq: sequence number (replies echo the request's).
    :param fields: further header fields; must be JSON data (non-finite floats must already be
        encoded with :func:`encode_float`).
    :param arrays: name -> array, in frame order; each is sent little-endian C-contiguous.
    :returns: ``[header_bytes, array_frame, ...]``; array frames are buffer-protocol objects
        (the arrays themselves when already little-endian and C-contiguous) that must not be
        modified until sent.
    :raises ProtocolError: for an unsupported dtype; ``ValueError`` for non-JSON fields.
    """
    header: Dict[str, Any] = {"v": PROTOCOL_VERSION, "type": msg_type, "seq": int(seq)}
    if fields:
        header.update(fields)
    frames: List[Union[bytes, memoryview]] = []
    if arrays:
        items = arrays.items() if isinstance(arrays, Mapping) else arrays
        descs = []
        for name, arr in items:
            dtype_name, wire = _wire_array(arr)
            descs.append({"name": name, "dtype": dtype_name, "shape": list(wire.shape)})
            frames.append(wire if wire.size else b"")
        header["arrays"] = descs
    head = _JSON.encode(header).encode("utf-8")
    return [head, *frames]


def decode(frames: Sequence[Union[bytes, memoryview, Any]]) -> Message:
    """Decodes ZeroMQ frames into a :class:`Message`.

    Arrays are zero-copy, read-only views of the frames with the shapes of the header.

    :raises ProtocolError: if the header is not a JSON object with ``v``/``type``/``seq``, if the
        ``arrays`` list does not match the frames (count, dtype, byte length), or if the major
        protocol version differs from this bridge's (the message names both versions).
    """
    if not frames:
        raise ProtocolError("empty message")
    raw = frames[0]
    if type(raw) is not bytes:
        raw = raw.bytes if hasattr(raw, "bytes") else bytes(raw)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"frame 0 is not a UTF-8 JSON header: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("frame 0 must be a JSON object")
    for key in ("v", "type", "seq"):
        if key not in header:
            raise ProtocolError(f"header lacks required field '{key}'")
    if not isinstance(header["type"], str):
        raise ProtocolError("header field 'type' must be a string")
    if not isinstance(header["seq"], int) or isinstance(header["seq"], bool):
        raise ProtocolError("header field 'seq' must be an integer")
    if header["v"] != PROTOCOL_VERSION and major(header["v"]) != _MAJOR:
        raise VersionMismatch(
            f"protocol version mismatch: peer speaks {header['v']}, "
            f"this bridge speaks {PROTOCOL_VERSION}"
        )
    descs = header.get("arrays", [])
    if not isinstance(descs, list):
        raise ProtocolError("header field 'arrays' must be a list")
    if len(descs) != len(frames) - 1:
        raise ProtocolError(
            f"header describes {len(descs)} arrays but the message has {len(frames) - 1} array frames"
        )
    arrays: Dict[str, np.ndarray] = {}
    for desc, frame in zip(descs, frames[1:]):
        try:
            name, dtype_name, shape = desc["name"], desc["dtype"], desc["shape"]
        except (TypeError, KeyError):
            raise ProtocolError("each array descriptor needs 'name', 'dtype' and 'shape'") from None
        dtype = WIRE_DTYPES.get(dtype_name) if isinstance(dtype_name, str) else None
        if dtype is None:
            raise ProtocolError(
                f"array '{name}': dtype {dtype_name!r} not allowed (allowed: {', '.join(WIRE_DTYPES)})"
            )
        if type(shape) is not list or any(type(d) is not int or d < 0 for d in shape):
            raise ProtocolError(f"array '{name}': shape must be a list of non-negative integers")
        buf = frame.buffer if hasattr(frame, "buffer") else frame
        count = math.prod(shape)
        nbytes = len(buf) if type(buf) is bytes else memoryview(buf).nbytes
        if nbytes != count * dtype.itemsize:
            raise ProtocolError(
                f"array '{name}': {dtype_name}{shape} needs {count * dtype.itemsize} bytes, "
                f"frame has {nbytes}"
            )
        arr = np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)
        arrays[name] = arr
    return Message(header, arrays)


def error_fields(exc: BaseException, tb: str, env_index: Optional[int] = None) -> Dict[str, Any]:
    """Header fields of an ERROR message for ``exc``.

    ``exception_type`` is the qualified class name (``ValueError``,
    ``gymnasium.error.NameNotFound``); ``message`` is ``str(exc)``; ``traceback`` the formatted
    traceback text; ``env_index`` the sub-environment that raised, when known.
    """
    cls = type(exc)
    mod = cls.__module__
    name = cls.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{cls.__qualname__}"
    fields: Dict[str, Any] = {"exception_type": name, "message": str(exc), "traceback": tb}
    if env_index is not None:
        fields["env_index"] = int(env_index)
    return fields


def iter_frame_bytes(frames: Iterable[Union[bytes, memoryview]]) -> List[bytes]:
    """Materialises frames as ``bytes`` (used by tests to feed :func:`decode`)."""
    return [bytes(f) for f in frames]
