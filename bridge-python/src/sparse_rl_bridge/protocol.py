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
import re
import struct
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


#: ``"seq":<JSON integer>`` followed by ``,`` or ``}`` (see :func:`_decode_cached`).
_SEQ = re.compile(rb'"seq":(-?(?:0|[1-9][0-9]*))(?=[,}])')
#: Header keys of the messages whose layout is cached (no other fields: no token, no seed).
_CACHEABLE_KEYS = frozenset(("v", "type", "seq", "arrays"))
#: Most header layouts kept by :func:`_decode_cached` (cleared when full).
_CACHE_MAX = 64
#: (header bytes before the seq digits, after them) -> (header without seq, array layout), for
#: headers that passed the full validation of :func:`_decode_full` once.
_LAYOUTS: Dict[Tuple[bytes, bytes], Tuple[Dict[str, Any], Tuple[Tuple[str, np.dtype, Tuple[int, ...], int], ...]]] = {}


def decode(frames: Sequence[Union[bytes, memoryview, Any]]) -> Message:
    """Decodes ZeroMQ frames into a :class:`Message`.

    Arrays are zero-copy, read-only views of the frames with the shapes of the header.

    A header that differs from one already validated only in its ``seq`` digits (every STEP of a
    session, PING) is decoded from that layout without parsing the JSON again; everything else,
    and every frame that does not match the layout, goes through the full checks (same errors).

    :raises ProtocolError: if the header is not a JSON object with ``v``/``type``/``seq``, if the
        ``arrays`` list does not match the frames (count, dtype, byte length), or if the major
        protocol version differs from this bridge's (the message names both versions).
    """
    if frames:
        raw = frames[0]
        if type(raw) is not bytes:
            raw = raw.bytes if hasattr(raw, "bytes") else bytes(raw)
        m = _SEQ.search(raw)
        if m is not None:
            key = (raw[: m.start(1)], raw[m.end(1):])
            layout = _LAYOUTS.get(key)
            if layout is not None and len(layout[1]) == len(frames) - 1:
                arrays: Dict[str, np.ndarray] = {}
                for (name, dtype, shape, nbytes), frame in zip(layout[1], frames[1:]):
                    buf = frame.buffer if hasattr(frame, "buffer") else frame
                    if (len(buf) if type(buf) is bytes else memoryview(buf).nbytes) != nbytes:
                        break
                    arrays[name] = np.ndarray(shape, dtype, buf)  # a view, like np.frombuffer
                else:
                    header = dict(layout[0])
                    header["seq"] = int(m.group(1))
                    return Message(header, arrays)
            msg = _decode_full(frames, raw)
            if layout is None and msg.header.keys() <= _CACHEABLE_KEYS:
                _remember(key, msg)
            return msg
        return _decode_full(frames, raw)
    return _decode_full(frames, b"")


def _remember(key: Tuple[bytes, bytes], msg: Message) -> None:
    """Caches the layout of a validated header, after checking that the ``"seq":`` found by
    :data:`_SEQ` is the top-level seq (replacing its digits changes that and nothing else)."""
    header = msg.header
    try:
        probe = json.loads(key[0] + b"1" + key[1])
    except ValueError:  # pragma: no cover - the digits were a JSON integer
        return
    if probe != {**header, "seq": 1}:
        return
    layout = tuple(
        (name, arr.dtype, arr.shape, arr.nbytes) for name, arr in msg.arrays.items()
    )
    if len(layout) != len(header.get("arrays", ())):  # duplicate array names: never cached
        return
    if len(_LAYOUTS) >= _CACHE_MAX:
        _LAYOUTS.clear()
    template = dict(header)
    del template["seq"]
    _LAYOUTS[key] = (template, layout)


def _decode_full(frames: Sequence[Union[bytes, memoryview, Any]], raw: bytes) -> Message:
    """The full checks of :func:`decode` (``raw``: frame 0 as bytes)."""
    if not frames:
        raise ProtocolError("empty message")
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


# -- stream framing (the ``unix://`` transport) -------------------------------------------------
#: Most bytes one stream message may announce (a guard against a corrupt length prefix).
STREAM_MAX_BYTES = 1 << 31
#: Most frames one stream message may announce.
STREAM_MAX_FRAMES = 4096
_U32 = struct.Struct("<I")
_PAD = bytes(8)


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def stream_prefix(lengths: Sequence[int]) -> bytes:
    """The prefix of one message on a ``unix://`` stream: ``u32 size, u32 nframes, u32 length *
    nframes`` (little-endian), zero-padded to a multiple of 8 bytes. ``size`` counts every byte
    after itself; each frame follows, zero-padded to a multiple of 8 bytes (so that array frames
    stay 8-byte aligned relative to the message start)."""
    n = len(lengths)
    head = _pad8(8 + 4 * n)
    size = head - 4 + sum(_pad8(x) for x in lengths)
    return struct.pack(f"<II{n}I", size, n, *lengths) + bytes(head - 8 - 4 * n)


def stream_buffers(frames: Sequence[Any]) -> List[Any]:
    """``frames`` (bytes or buffer-protocol objects such as numpy arrays) as the list of buffers
    of one stream message: the prefix of :func:`stream_prefix`, each frame, padding."""
    views = [f if type(f) is bytes else memoryview(f).cast("B") for f in frames]
    lengths = [len(v) for v in views]
    out: List[Any] = [stream_prefix(lengths)]
    for v, n in zip(views, lengths):
        if n:
            out.append(v)
        if n & 7:
            out.append(_PAD[: 8 - (n & 7)])
    return out


def stream_split(data: Union[bytes, memoryview]) -> List[memoryview]:
    """The frames of one complete stream message ``data`` (starting at its ``size`` field), as
    read-only views of ``data`` when it is ``bytes``.

    :raises ProtocolError: for a frame count or lengths that do not add up to the size.
    """
    mv = memoryview(data)
    if len(mv) < 8:
        raise ProtocolError("stream message shorter than its prefix")
    size, n = struct.unpack_from("<II", mv, 0)
    if n < 1 or n > STREAM_MAX_FRAMES or size + 4 != len(mv):
        raise ProtocolError(f"malformed stream message prefix (size {size}, {n} frames, {len(mv)} bytes)")
    lengths = struct.unpack_from(f"<{n}I", mv, 8)
    off = _pad8(8 + 4 * n)
    frames = []
    for x in lengths:
        if off + x > len(mv):
            raise ProtocolError("stream message frame lengths exceed its size")
        frames.append(mv[off : off + x])
        off += _pad8(x)
    if off != len(mv):
        raise ProtocolError("stream message frame lengths do not add up to its size")
    return frames
