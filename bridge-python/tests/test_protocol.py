"""Frame encoding/decoding of protocol 1.x."""

import json
import math
import re

import numpy as np
import pytest

from sparse_rl_bridge import PROTOCOL_VERSION
from sparse_rl_bridge import protocol as P


def test_roundtrip_all_dtypes_and_shapes():
    arrays = [
        ("a", np.arange(6, dtype=np.float32).reshape(2, 3)),
        ("b", np.array([math.pi, -0.0, math.inf], dtype=np.float64)),
        ("c", np.array([0, 1, 255], dtype=np.uint8)),
        ("d", np.array([[-7], [2**31 - 1]], dtype=np.int32)),
        ("e", np.array([-(2**62), 5], dtype=np.int64)),
        ("empty", np.zeros((0, 4), dtype=np.float32)),
    ]
    frames = P.encode(P.STEP_RESULT, 42, {"x": [1, "y"]}, arrays)
    assert len(frames) == 1 + len(arrays)
    msg = P.decode([bytes(f) for f in frames])
    assert msg.type == P.STEP_RESULT and msg.seq == 42
    assert msg.header["v"] == PROTOCOL_VERSION and msg.header["x"] == [1, "y"]
    assert [d["dtype"] for d in msg.header["arrays"]] == ["float32", "float64", "uint8", "int32", "int64", "float32"]
    for name, arr in arrays:
        got = msg.arrays[name]
        assert got.dtype == arr.dtype and got.shape == arr.shape
        assert got.tobytes() == arr.tobytes()


def test_non_contiguous_big_endian_and_bool_like_inputs_are_normalised():
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    strided = base[:, ::2]
    big = np.arange(3, dtype=">f4")
    msg = P.decode([bytes(f) for f in P.encode("X", 1, None, [("s", strided), ("b", big)])])
    np.testing.assert_array_equal(msg.arrays["s"], strided)
    np.testing.assert_array_equal(msg.arrays["b"], big.astype("<f4"))
    assert msg.header["arrays"][1]["dtype"] == "float32"


def test_header_is_strict_json():
    frames = P.encode(P.PONG, 1, {"r": P.encode_float(math.inf)})
    head = json.loads(bytes(frames[0]))
    assert head == {"v": P.PROTOCOL_VERSION, "type": "PONG", "seq": 1, "r": "inf"}
    with pytest.raises(ValueError):
        P.encode(P.PONG, 1, {"r": math.nan})  # raw NaN is refused, not written as NaN


def test_float_encoding():
    assert [P.encode_float(x) for x in (1.5, math.inf, -math.inf)] == [1.5, "inf", "-inf"]
    assert P.encode_float(math.nan) == "nan"
    assert P.decode_float("inf") == math.inf and P.decode_float("-inf") == -math.inf
    assert math.isnan(P.decode_float("nan"))
    with pytest.raises(P.ProtocolError):
        P.decode_float("Infinity")
    with pytest.raises(P.ProtocolError):
        P.decode_float(True)


def _frame(header, *arrays):
    return [json.dumps(header).encode(), *arrays]


@pytest.mark.parametrize(
    "frames, match",
    [
        ([b"not json"], "JSON header"),
        ([b"[1, 2]"], "JSON object"),
        (_frame({"type": "PING", "seq": 1}), "'v'"),
        (_frame({"v": "1.0", "type": 3, "seq": 1}), "'type'"),
        (_frame({"v": "1.0", "type": "PING", "seq": "1"}), "'seq'"),
        (_frame({"v": "one", "type": "PING", "seq": 1}), "1.0"),
        (_frame({"v": "1.0", "type": "STEP", "seq": 1}, b"1234"), "array frames"),
        (_frame({"v": "1.0", "type": "STEP", "seq": 1, "arrays": [{"name": "a", "dtype": "float32", "shape": [2]}]}, b"1234"), "needs 8 bytes"),
        (_frame({"v": "1.0", "type": "STEP", "seq": 1, "arrays": [{"name": "a", "dtype": "object", "shape": [1]}]}, b"12345678"), "not allowed"),
        (_frame({"v": "1.0", "type": "STEP", "seq": 1, "arrays": [{"name": "a", "dtype": "uint8", "shape": [-1]}]}, b""), "non-negative"),
        (_frame({"v": "1.0", "type": "STEP", "seq": 1, "arrays": [{"name": "a"}]}, b""), "need"),
    ],
)
def test_decode_rejects_malformed(frames, match):
    with pytest.raises(P.ProtocolError, match=match):
        P.decode(frames)


def test_major_version_mismatch_names_both_versions():
    with pytest.raises(P.VersionMismatch, match=rf"peer speaks 2\.0, this bridge speaks {re.escape(PROTOCOL_VERSION)}"):
        P.decode(_frame({"v": "2.0", "type": "HELLO", "seq": 1}))
    assert P.decode(_frame({"v": "1.9", "type": "PING", "seq": 1})).type == "PING"


def test_error_fields_qualified_names():
    import gymnasium.error

    f = P.error_fields(ValueError("bad"), "tb", env_index=2)
    assert f == {"exception_type": "ValueError", "message": "bad", "traceback": "tb", "env_index": 2}
    f = P.error_fields(gymnasium.error.NameNotFound("x"), "tb")
    assert f["exception_type"] == "gymnasium.error.NameNotFound" and "env_index" not in f
