"""JSON encoding of Gymnasium spaces."""

import json
import math

import numpy as np
import pytest
from gymnasium import spaces

from sparse_rl_bridge.spaces import UnsupportedSpaceError, decode_space, encode_space, flat_dim, flattener


def test_box_with_infinite_bounds_is_strict_json_and_roundtrips():
    box = spaces.Box(low=np.array([-np.inf, -1.0, 0.0]), high=np.array([np.inf, 1.0, 2.5]), dtype=np.float64)
    desc = encode_space(box)
    text = json.dumps(desc, allow_nan=False)  # would raise on a raw inf
    assert desc == {"type": "box", "shape": [3], "dtype": "float64", "low": ["-inf", -1.0, 0.0], "high": ["inf", 1.0, 2.5]}
    back = decode_space(json.loads(text))
    assert back == box


def test_box_float32_multidim_bounds_exact():
    low = np.array([[-1.5, -np.float32(0.1)], [0, -np.inf]], dtype=np.float32)
    box = spaces.Box(low=low, high=np.float32(3.4028235e38), dtype=np.float32)
    desc = encode_space(box)
    assert desc["shape"] == [2, 2] and desc["dtype"] == "float32"
    assert desc["low"][1] == float(np.float32(0.1)) * -1 and desc["low"][3] == "-inf"
    back = decode_space(json.loads(json.dumps(desc, allow_nan=False)))
    np.testing.assert_array_equal(back.low, box.low)
    np.testing.assert_array_equal(back.high, box.high)
    assert flat_dim(box) == 4


def test_discrete():
    d = spaces.Discrete(5, start=-2)
    assert encode_space(d) == {"type": "discrete", "n": 5, "start": -2}
    assert decode_space(encode_space(d)) == d
    assert flat_dim(d) == 1


def test_unsupported_spaces_and_nan_bounds():
    with pytest.raises(UnsupportedSpaceError, match="observations only"):
        encode_space(spaces.Dict({"a": spaces.Discrete(2)}), composite=False)
    with pytest.raises(UnsupportedSpaceError, match="not supported"):
        flat_dim(spaces.Text(5))
    box = spaces.Box(low=-1.0, high=1.0, shape=(1,))
    box.low[0] = math.nan
    with pytest.raises(UnsupportedSpaceError, match="NaN"):
        encode_space(box)


def test_extended_spaces_roundtrip_and_flat_layout():
    md = spaces.MultiDiscrete(np.array([[3, 4], [2, 5]]), start=np.array([[0, 1], [-1, 0]]))
    mb = spaces.MultiBinary([2, 3])
    box16 = spaces.Box(low=-2, high=np.inf, shape=(2,), dtype=np.float16)
    boxi = spaces.Box(low=0, high=255, shape=(3,), dtype=np.uint8)
    d = spaces.Dict({"b": spaces.Discrete(3), "a": box16, "t": spaces.Tuple([md, mb, boxi])})
    for sp in (md, mb, box16, boxi, d):
        desc = encode_space(sp)
        assert decode_space(json.loads(json.dumps(desc, allow_nan=False))) == sp
    assert encode_space(md) == {"type": "multi-discrete", "shape": [2, 2], "nvec": [3, 4, 2, 5], "start": [0, 1, -1, 0]}
    assert encode_space(mb) == {"type": "multi-binary", "shape": [2, 3]}
    assert encode_space(box16)["high"] == ["inf", "inf"] and encode_space(box16)["dtype"] == "float16"
    # Dict keys in Gymnasium's (sorted) order; nested Discrete/MultiDiscrete one-hot
    assert [e["key"] for e in encode_space(d)["spaces"]] == ["a", "b", "t"]
    assert flat_dim(md) == 4 and flat_dim(mb) == 6 and flat_dim(spaces.Discrete(7)) == 1
    assert flat_dim(d) == 2 + 3 + (3 + 4 + 2 + 5) + 6 + 3 == spaces.flatdim(d)
    x = d.sample()
    np.testing.assert_array_equal(flattener(d)(x), spaces.flatten(d, x))
    np.testing.assert_array_equal(flattener(md)(md.sample()).shape, (4,))
