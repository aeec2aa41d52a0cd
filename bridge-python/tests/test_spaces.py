"""JSON encoding of Gymnasium spaces."""

import json
import math

import numpy as np
import pytest
from gymnasium import spaces

from sparse_rl_bridge.spaces import UnsupportedSpaceError, decode_space, encode_space, flat_dim


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
    with pytest.raises(UnsupportedSpaceError, match="Box and Discrete"):
        encode_space(spaces.Dict({"a": spaces.Discrete(2)}))
    with pytest.raises(UnsupportedSpaceError):
        flat_dim(spaces.MultiDiscrete([2, 3]))
    box = spaces.Box(low=-1.0, high=1.0, shape=(1,))
    box.low[0] = math.nan
    with pytest.raises(UnsupportedSpaceError, match="NaN"):
        encode_space(box)
