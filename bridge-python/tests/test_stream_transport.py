"""The ``unix://`` stream transport (``serve_stream``) and the decode fast path.

- framing: :func:`protocol.stream_buffers` / :func:`protocol.stream_split` round trips, 8-byte
  alignment, malformed prefixes;
- :func:`protocol.decode`'s layout cache gives exactly what the full decode gives (seq, arrays,
  errors), and is never fooled by a nested ``"seq":``;
- a real bridge subprocess over ``unix://`` with real MuJoCo: every STEP bit-identical to the
  same session over ZeroMQ, the same ERROR replies, exit codes (CLOSE 0, idle 5, client gone 4)
  and clean-up of the socket folder with ``--cleanup-ipc``.
Every header sent and received is checked against schemas/bridge-protocol.schema.json.
"""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from sparse_rl_bridge import CAPABILITIES, PROTOCOL_VERSION
from sparse_rl_bridge import protocol as P

from conftest import HERE, SRC, assert_valid, closing_factory, wait_gone


# -- framing ---------------------------------------------------------------------------------
def _join(bufs):
    return b"".join(bytes(memoryview(b).cast("B")) for b in bufs)


def test_stream_framing_round_trips_and_aligns_frames():
    arrays = [
        ("observations", np.arange(34, dtype=np.float32).reshape(2, 17)),
        ("rewards", np.array([1.5, -2.25])),
        ("terminated", np.array([0, 1], dtype=np.uint8)),
        ("empty", np.zeros((0, 3), dtype=np.float32)),
    ]
    frames = P.encode(P.STEP_RESULT, 42, {"x": 1}, arrays)
    data = _join(P.stream_buffers(frames))
    assert len(data) % 8 == 0 and int.from_bytes(data[:4], "little") == len(data) - 4
    back = P.stream_split(data)
    assert [bytes(f) for f in back] == [bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f for f in frames]
    base = np.frombuffer(data, np.uint8).ctypes.data
    for f in back:
        assert (np.frombuffer(f, np.uint8).ctypes.data - base) % 8 == 0 or len(f) == 0
    m = P.decode(back)
    assert m.header["seq"] == 42 and m.header["x"] == 1
    for name, a in arrays:
        np.testing.assert_array_equal(m.arrays[name], a)
        assert not m.arrays[name].flags.writeable  # read-only views, as over ZeroMQ


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b: b[:4] + (0).to_bytes(4, "little") + b[8:], "malformed"),  # no frames
        (lambda b: b[:8] + (10**6).to_bytes(4, "little") + b[12:], "exceed"),  # frame too long
        (lambda b: b[:8] + (1).to_bytes(4, "little") + b[12:], "add up"),  # frame too short
        (lambda b: b[:-8], "malformed"),  # size does not match
    ],
)
def test_stream_split_refuses_prefixes_that_do_not_add_up(mutate, match):
    data = _join(P.stream_buffers([b'{"v":"1.3","type":"PING","seq":1}', bytes(24)]))
    with pytest.raises(P.ProtocolError, match=match):
        P.stream_split(mutate(data))


# -- decode fast path --------------------------------------------------------------------------
def _step_frames(seq, a):
    return P.iter_frame_bytes(P.encode(P.STEP, seq, None, [("actions", a)]))


def test_cached_decode_equals_full_decode():
    rng = np.random.default_rng(0)
    for seq in [1, 2, 10, 999, 2**40, 0, 7]:
        a = rng.standard_normal((3, 5)).astype(np.float32)
        frames = _step_frames(seq, a)
        m, full = P.decode(frames), P._decode_full(frames, frames[0])
        assert m.header == full.header and m.header["seq"] == seq
        assert list(m.arrays) == ["actions"] and m.arrays["actions"].dtype == np.float32
        np.testing.assert_array_equal(m.arrays["actions"], a)
        assert not m.arrays["actions"].flags.writeable
    assert any(k[0].startswith(b'{"v":"1.3","type":"STEP","seq":') for k in P._LAYOUTS)
    # A cached layout with frames of another size: the full checks, the same error.
    frames = _step_frames(5, np.zeros((3, 5), np.float32))
    frames[1] = frames[1][:-4]
    with pytest.raises(P.ProtocolError, match=r"needs 60 bytes, frame has 56"):
        P.decode(frames)
    with pytest.raises(P.ProtocolError, match="describes 1 arrays but the message has 0"):
        P.decode(frames[:1])
    # PING: no arrays.
    for seq in (3, 4):
        assert P.decode(P.iter_frame_bytes(P.encode(P.PING, seq))).header == {"v": PROTOCOL_VERSION, "type": "PING", "seq": seq}


def test_cached_decode_is_not_fooled_by_a_nested_seq_key():
    def frames(top, nested):
        head = ('{"v":"1.3","type":"STEP","arrays":[{"seq":%d,"name":"actions","dtype":"float32","shape":[1,2]}],"seq":%d}' % (nested, top)).encode()
        return [head, np.array([[1, 2]], np.float32).tobytes()]

    for top, nested in [(5, 5), (6, 5), (7, 1), (8, 8)]:
        m = P.decode(frames(top, nested))
        assert m.header["seq"] == top and m.header["arrays"][0]["seq"] == nested
    # Whitespace, non-integers, leading zeros and booleans take the full path (same errors).
    assert P.decode([b'{"v": "1.3", "type": "PING", "seq": 3}']).header["seq"] == 3
    for bad in (b'{"v":"1.3","type":"PING","seq":3.0}', b'{"v":"1.3","type":"PING","seq":true}'):
        with pytest.raises(P.ProtocolError, match="must be an integer"):
            P.decode([bad])
    with pytest.raises(P.ProtocolError, match="not a UTF-8 JSON header"):
        P.decode([b'{"v":"1.3","type":"PING","seq":03}'])


def test_headers_with_other_fields_are_not_cached():
    before = dict(P._LAYOUTS)
    P.decode(P.iter_frame_bytes(P.encode(P.HELLO, 1, {"token": "secret", "env_id": "X"})))
    P.decode(P.iter_frame_bytes(P.encode(P.RESET, 2, {"seed": 3})))
    assert not any(b"secret" in k[0] or b'"seed"' in k[0] + k[1] for k in set(P._LAYOUTS) - set(before))


# -- a real bridge over unix:// ---------------------------------------------------------------
class StreamBridge:
    """A bridge child process connected to a Unix stream socket listening here (what the TS
    client's ``transport: 'unix'`` does); same interface as conftest's ZeroMQ ``Bridge``."""

    def __init__(self, schema, token="secret-token", extra_args=()):
        self.schema = schema
        self.token = token
        self.dir = tempfile.mkdtemp(prefix="srl-bridge-test-")
        self.path = os.path.join(self.dir, "s")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.endpoint = f"unix://{self.path}"
        env = dict(os.environ)
        env["SPARSE_RL_BRIDGE_TOKEN"] = token
        env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sparse_rl_bridge", "--connect", self.endpoint, *extra_args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.listener.settimeout(60)
        self.sock, _ = self.listener.accept()
        self.sock.settimeout(60)
        self.seq = 0

    def send_raw(self, data: bytes) -> P.Message:
        self.sock.sendall(data)
        return self.receive()

    def receive(self) -> P.Message:
        buf = b""
        while len(buf) < 4 or len(buf) < int.from_bytes(buf[:4], "little") + 4:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("bridge closed the connection")
            buf += chunk
        reply = P.decode(P.stream_split(buf))
        assert_valid(reply.header, self.schema)
        return reply

    def request(self, msg_type, fields=None, arrays=None, check=True, raw=None):
        self.seq += 1
        frames = raw if raw is not None else P.encode(msg_type, self.seq, fields, arrays)
        if check and raw is None:
            assert_valid(json.loads(bytes(frames[0])), self.schema)
        return self.send_raw(_join(P.stream_buffers(frames)))

    def hello(self, env_id="InvertedPendulum-v5", num_envs=1, **extra):
        fields = {"token": self.token, "env_id": env_id, "kwargs": {}, "num_envs": num_envs,
                  "protocol": PROTOCOL_VERSION, "capabilities": list(CAPABILITIES), **extra}
        return self.request(P.HELLO, fields)

    def wait_exit(self, timeout=15.0):
        return self.proc.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stderr.close()
        self.sock.close()
        self.listener.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
        if os.path.isdir(self.dir):
            os.rmdir(self.dir)


@pytest.fixture
def stream_factory(protocol_schema):
    yield from closing_factory(StreamBridge, protocol_schema)


@pytest.mark.parametrize("env_id, num_envs, steps, scale", [("Hopper-v5", 2, 400, 1.5), ("HalfCheetah-v5", 1, 1010, 1.0)])
def test_every_step_is_bit_identical_to_the_zeromq_transport(stream_factory, bridge_factory, env_id, num_envs, steps, scale):
    """The same session (seed, actions, clipping, episode ends) over unix:// and over ZeroMQ."""
    s, z = stream_factory(), bridge_factory()
    for b in (s, z):
        assert b.hello(env_id, num_envs=num_envs, seed=4).type == P.WELCOME
    r1, r2 = s.request(P.RESET, {}), z.request(P.RESET, {})
    assert r1.arrays["observations"].tobytes() == r2.arrays["observations"].tobytes()
    act_dim = 3 if env_id == "Hopper-v5" else 6
    rng = np.random.default_rng(1)
    ends = clipped = 0
    for t in range(steps):
        a = (rng.uniform(-1, 1, (num_envs, act_dim)) * scale).astype(np.float32)
        m1 = s.request(P.STEP, None, [("actions", a)], check=t < 3)
        m2 = z.request(P.STEP, None, [("actions", a)], check=t < 3)
        assert m1.header == {**m2.header, "seq": m1.header["seq"]}, t
        assert m1.arrays.keys() == m2.arrays.keys()
        for k in m1.arrays:
            assert m1.arrays[k].dtype == m2.arrays[k].dtype and m1.arrays[k].tobytes() == m2.arrays[k].tobytes(), (t, k)
        ends += len(m1.header.get("final_indices", []))
        clipped += m1.header.get("actions_clipped", 0)
    assert ends > 0
    assert (clipped > 0) == (scale > 1)
    assert s.request(P.PING).type == P.PONG
    assert s.request(P.CLOSE).type == P.CLOSED
    assert s.wait_exit() == 0


def test_errors_are_the_same_and_the_bridge_keeps_serving(stream_factory):
    b = stream_factory()
    r = b.request(P.PING)
    assert r.type == P.ERROR and "send HELLO first" in r.header["message"]
    b.hello("InvertedPendulum-v5", num_envs=2)
    r = b.request(P.STEP, None, [("actions", np.zeros((2, 1), np.float32))])
    assert r.type == P.ERROR and "RESET" in r.header["message"]
    b.request(P.RESET, {"seed": 0})
    for bad, match in [(np.zeros((2, 2), np.float32), r"shape \[2, 1\]"), (np.array([[0.0], [np.nan]], np.float32), "finite"), (np.zeros((2, 1)), "float32")]:
        r = b.request(P.STEP, None, [("actions", bad)], check=False)
        assert r.type == P.ERROR and re.search(match, r.header["message"]), r.header
    # A message whose frame lengths do not add up: an ERROR, and the stream stays in step.
    data = bytearray(_join(P.stream_buffers([b'{"v":"1.3","type":"PING","seq":9}', bytes(8)])))
    data[8:12] = (1).to_bytes(4, "little")
    r = b.send_raw(bytes(data))
    assert r.type == P.ERROR and r.header["seq"] == -1 and "add up" in r.header["message"]
    r = b.request(P.STEP, None, [("actions", np.full((2, 1), 0.1, np.float32))])
    assert r.type == P.STEP_RESULT and r.arrays["observations"].shape == (2, 4)


def test_close_exits_0_and_cleanup_removes_the_socket_folder(stream_factory):
    b = stream_factory(extra_args=["--cleanup-ipc"])
    b.hello()
    assert b.request(P.CLOSE).type == P.CLOSED
    assert b.wait_exit() == 0
    assert not os.path.exists(b.dir)


def test_exits_4_when_the_client_closes_the_connection_and_5_when_idle(stream_factory):
    b = stream_factory(extra_args=["--cleanup-ipc"])
    b.hello()
    b.sock.close()
    assert b.wait_exit() == 4
    assert not os.path.exists(b.dir)
    assert "closed the connection" in b.proc.stderr.read().decode()
    idle = stream_factory(extra_args=["--idle-timeout", "1"])
    assert idle.wait_exit(15) == 5


def test_sigterm_exits_143_and_a_dead_parent_exits_4(stream_factory):
    import signal

    b = stream_factory()
    b.hello()
    b.proc.send_signal(signal.SIGTERM)
    assert b.wait_exit() == 143
    # --parent-pid of a process that dies: the watchdog ends the bridge (exit 4).
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        c = stream_factory(extra_args=["--parent-pid", str(parent.pid), "--cleanup-ipc"])
        c.hello()
        parent.kill()
        parent.wait()
        assert c.wait_exit() == 4
        assert wait_gone(c.proc.pid, 5)
        assert not os.path.exists(c.dir)
    finally:
        if parent.poll() is None:
            parent.kill()
