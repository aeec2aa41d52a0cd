"""Vectorization modes, extended spaces, the action policy, fuzzing, and the remote CURVE server,
against real bridge subprocesses (headers schema-checked by the Bridge fixture)."""

import json
import os
import re
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import zmq
import zmq.auth

from sparse_rl_bridge import CAPABILITIES, PROTOCOL_VERSION
from sparse_rl_bridge import protocol as P

import spaces_env  # noqa: F401 - registers the test envs in this process too
from conftest import HERE, SRC, actions


def _rollout(b, n, act_dim, steps, seed, low=-1.0, high=1.0):
    """RESET(seed) then ``steps`` random STEPs; returns every reply's arrays and episode headers."""
    rng = np.random.default_rng(seed)
    out = [b.request(P.RESET, {"seed": seed}).arrays["observations"].copy()]
    for t in range(steps):
        a = rng.uniform(low, high, (n, act_dim)).astype(np.float32)
        s = b.request(P.STEP, None, [("actions", a)], check=(t < 3))
        assert s.type == P.STEP_RESULT, s.header
        out.append({k: v.copy() for k, v in s.arrays.items()})
        out.append({k: s.header.get(k) for k in ("final_indices", "episodes")})
    return out


def _assert_same(x, y):
    assert len(x) == len(y)
    for a, b in zip(x, y):
        if isinstance(a, np.ndarray):
            assert a.tobytes() == b.tobytes()
        elif isinstance(a, dict) and a and isinstance(next(iter(a.values())), np.ndarray):
            assert a.keys() == b.keys()
            for k in a:
                assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k
        else:
            assert a == b


def test_async_is_bit_identical_to_sync_with_early_terminations(bridge_factory):
    sync, asyn = bridge_factory(), bridge_factory()
    assert sync.hello("Hopper-v5", num_envs=3, vectorization="sync").header["vectorization"] == "sync"
    w = asyn.hello("Hopper-v5", num_envs=3, vectorization="async")
    assert w.type == P.WELCOME and w.header["vectorization"] == "async", w.header
    a, b = _rollout(sync, 3, 3, 250, 11), _rollout(asyn, 3, 3, 250, 11)
    _assert_same(a, b)
    ends = [h for h in a[2::2] if h["final_indices"]]
    assert sum(len(h["final_indices"]) for h in ends) >= 3  # Hopper falls over under random actions


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_dict_observations_flattened_and_multidiscrete_actions(bridge_factory, mode):
    b = bridge_factory()
    w = b.hello("spaces_env:DictObs-v0", num_envs=2, vectorization=mode)
    assert w.type == P.WELCOME, w.header
    assert w.header["observation_space"]["type"] == "dict"
    assert [e["key"] for e in w.header["observation_space"]["spaces"]] == ["flags", "mode", "pos"]
    assert w.header["action_space"] == {"type": "multi-discrete", "shape": [2], "nvec": [3, 2], "start": [0, 0]}
    obs = b.request(P.RESET, {"seed": 4}).arrays["observations"]
    envs = [gym.make("spaces_env:DictObs-v0") for _ in range(2)]
    space = envs[0].observation_space
    ref = np.stack([gym.spaces.flatten(space, e.reset(seed=4 + i)[0]) for i, e in enumerate(envs)]).astype(np.float32)
    assert obs.shape == (2, 2 + 3 + 2) and obs.tobytes() == ref.tobytes()
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(60):
        a = np.stack([rng.integers(0, 3, 2), rng.integers(0, 2, 2)], axis=1).astype(np.float32)
        s = b.request(P.STEP, None, [("actions", a)])
        for i, e in enumerate(envs):
            o, r, te, tr, _ = e.step(a[i].astype(np.int64))
            assert s.arrays["rewards"][i] == r and s.arrays["terminated"][i] == te
            if te or tr:
                k = s.header["final_indices"].index(i)
                assert s.arrays["final_observations"][k].tobytes() == gym.spaces.flatten(space, o).astype(np.float32).tobytes()
                o, _ = e.reset()
                ends += 1
            assert s.arrays["observations"][i].tobytes() == gym.spaces.flatten(space, o).astype(np.float32).tobytes()
    assert ends >= 2
    r = b.request(P.STEP, None, [("actions", np.array([[3, 0], [0, 0]], np.float32))])
    assert r.type == P.ERROR and "MultiDiscrete actions must be integers" in r.header["message"]
    r = b.request(P.STEP, None, [("actions", np.array([[0.5, 0], [0, 0]], np.float32))])
    assert r.type == P.ERROR and "MultiDiscrete" in r.header["message"]


def test_tuple_observation_multibinary_actions(bridge):
    w = bridge.hello("spaces_env:BinaryAct-v0", num_envs=1)
    assert w.header["observation_space"]["type"] == "tuple" and w.header["action_space"] == {"type": "multi-binary", "shape": [3]}
    bridge.request(P.RESET, {"seed": 0})
    s = bridge.request(P.STEP, None, [("actions", np.array([[1, 0, 1]], np.float32))])
    assert s.arrays["rewards"][0] == 5.0
    assert s.arrays["observations"][0].tolist() == [0, 1, 0, 0, np.float32(0.05)]  # one-hot(1), then the Box
    r = bridge.request(P.STEP, None, [("actions", np.array([[1, 2, 0]], np.float32))])
    assert r.type == P.ERROR and "MultiBinary actions must be 0 or 1" in r.header["message"]


def test_extended_spaces_need_the_capability(bridge):
    r = bridge.hello("spaces_env:DictObs-v0", capabilities=[])
    assert r.type == P.ERROR and "spaces.extended" in r.header["message"]


def test_out_of_bound_box_actions_are_clipped_and_counted(bridge):
    bridge.hello("HalfCheetah-v5", num_envs=2)
    bridge.request(P.RESET, {"seed": 1})
    a = np.array([[3.0, -7.0, 0.5, 0.0, 1.0, -1.0], [0.1] * 6], np.float32)
    s = bridge.request(P.STEP, None, [("actions", a)])
    assert s.header["actions_clipped"] == 2
    ref = [gym.make("HalfCheetah-v5") for _ in range(2)]
    for i, e in enumerate(ref):
        e.reset(seed=1 + i)
        o, r, *_ = e.step(np.clip(a[i], -1, 1))
        assert s.arrays["rewards"][i] == r
        assert s.arrays["observations"][i].tobytes() == np.asarray(o, np.float32).tobytes()
    assert "actions_clipped" not in bridge.request(P.STEP, None, [("actions", actions(2, 6, 1.0))]).header


# -- fuzz ------------------------------------------------------------------------------------
def _fuzz_messages(rng, token_free_hello):
    """Random and mutated requests (never CLOSE, never a HELLO of another major version: those
    end the session by design)."""
    valid_step = P.encode(P.STEP, 1, None, [("actions", np.zeros((2, 6), np.float32))])
    bases = [
        [bytes(f) for f in valid_step],
        [bytes(f) for f in P.encode(P.RESET, 1, {"seed": 3})],
        [bytes(f) for f in P.encode(P.PING, 1)],
        [bytes(f) for f in token_free_hello],
    ]
    junk_values = [None, True, -1, 2**70, 1.5, "x" * 50, [], {}, [1, "a"], {"a": [None]}, "nan", float("1e308"), "PING", "CLOSED"]
    dtypes = ["float32", "float64", "int64", "uint8", "int32", "float16", "object", 7, None]
    for _ in range(3000):
        kind = rng.integers(8)
        if kind == 0:  # random bytes
            yield [rng.bytes(int(rng.integers(0, 64))) for _ in range(int(rng.integers(1, 4)))]
            continue
        frames = [bytearray(f) for f in bases[int(rng.integers(len(bases)))]]
        if kind == 1:  # flip bytes of any frame
            f = frames[int(rng.integers(len(frames)))]
            for _ in range(int(rng.integers(1, 4))):
                if f:
                    f[int(rng.integers(len(f)))] = int(rng.integers(256))
        elif kind == 2:  # truncate / extend / drop / add frames
            op = rng.integers(4)
            if op == 0 and len(frames) > 1:
                frames[-1] = frames[-1][: int(rng.integers(len(frames[-1]) + 1))]
            elif op == 1:
                frames[-1] += rng.bytes(int(rng.integers(1, 9)))
            elif op == 2 and len(frames) > 1:
                frames.pop()
            else:
                frames.append(bytearray(rng.bytes(int(rng.integers(0, 32)))))
        else:  # structured header mutations
            try:
                head = json.loads(bytes(frames[0]))
            except ValueError:
                head = {}
            if kind == 3:
                head[str(rng.choice(["type", "seq", "v", "arrays", "seed", "token", "num_envs", "kwargs", "env_id"]))] = junk_values[int(rng.integers(len(junk_values)))]
            elif kind == 4 and head.get("arrays"):
                d = head["arrays"][0]
                d["dtype"] = dtypes[int(rng.integers(len(dtypes)))]
                d["shape"] = [int(x) for x in rng.integers(-2, 9, int(rng.integers(0, 4)))]
            elif kind == 5 and len(frames) > 1:  # actions full of NaN / inf / huge / tiny values
                a = np.frombuffer(bytes(frames[1]), np.float32).copy()
                if a.size:
                    a[int(rng.integers(a.size))] = rng.choice([np.nan, np.inf, -np.inf, 1e38, -1e-45, 3.0])
                frames[1] = bytearray(a.tobytes())
            elif kind == 6:
                head["type"] = str(rng.choice(["FROB", "STEP_RESULT", "WELCOME", "", "step", "ERROR", "HELLO"]))
            else:
                head["v"] = str(rng.choice(["1.0", "1.9", "2.0", "0.1", "x", ""]))
            frames[0] = bytearray(json.dumps(head).encode())
        try:
            h = json.loads(bytes(frames[0]))
            if isinstance(h, dict):
                if h.get("type") == P.CLOSE:
                    continue
                if h.get("type") == P.HELLO and not (isinstance(h.get("v"), str) and h["v"].startswith("1.")):
                    continue
        except (ValueError, UnicodeDecodeError, RecursionError):
            pass
        yield [bytes(f) for f in frames]


def test_fuzz_thousands_of_bad_messages_then_a_correct_step(bridge):
    assert bridge.hello("HalfCheetah-v5", num_envs=2).type == P.WELCOME
    no_token = P.encode(P.HELLO, 1, {"token": "wrong", "env_id": "HalfCheetah-v5", "num_envs": 1})
    rng = np.random.default_rng(1234)
    counts = {}
    for frames in _fuzz_messages(rng, no_token):
        bridge.sock.send_multipart(frames)
        assert bridge.sock.poll(10_000), "the bridge stopped answering"
        reply = P.decode(bridge.sock.recv_multipart())
        counts[reply.type] = counts.get(reply.type, 0) + 1
        if reply.type == P.ERROR:
            assert reply.header["message"], reply.header  # every ERROR names its problem
    assert bridge.proc.poll() is None
    assert counts.get(P.ERROR, 0) > 2000 and sum(counts.values()) > 2500, counts
    # Still exactly right: compare with fresh envs stepped identically.
    out = _rollout(bridge, 2, 6, 40, 77)
    ref = [gym.make("HalfCheetah-v5") for _ in range(2)]
    first = np.stack([np.asarray(e.reset(seed=77 + i)[0], np.float32) for i, e in enumerate(ref)])
    assert out[0].tobytes() == first.tobytes()
    rng = np.random.default_rng(77)
    for t in range(40):
        a = rng.uniform(-1, 1, (2, 6)).astype(np.float32)
        for i, e in enumerate(ref):
            o, r, *_ = e.step(a[i])
            assert out[1 + 2 * t]["rewards"][i] == r
            assert out[1 + 2 * t]["observations"][i].tobytes() == np.asarray(o, np.float32).tobytes()


# -- remote server with CURVE ----------------------------------------------------------------
def _run(*args, **kw):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), str(HERE)]))
    env.update(kw.pop("env", {}))
    return subprocess.run([sys.executable, "-m", "sparse_rl_bridge", *args], env=env, capture_output=True, text=True, timeout=60, **kw)


def test_keygen_and_curve_server_on_loopback(tmp_path, protocol_schema):
    k = _run("keygen", "--dir", str(tmp_path / "server"), "--name", "server")
    assert k.returncode == 0, k.stderr
    assert oct(os.stat(tmp_path / "server" / "server.key_secret").st_mode & 0o777) == "0o600"
    assert _run("keygen", "--dir", str(tmp_path / "clients"), "--name", "alice").returncode == 0
    assert _run("keygen", "--dir", str(tmp_path / "other"), "--name", "mallory").returncode == 0
    server_public, _ = zmq.auth.load_certificate(str(tmp_path / "server" / "server.key"))
    assert server_public.decode() in k.stdout

    # A non-loopback bind without CURVE is refused.
    r = _run("serve", "--bind", "tcp://0.0.0.0:1", "--once", env={"SPARSE_RL_BRIDGE_TOKEN": "t"})
    assert r.returncode == 64 and "CURVE" in r.stderr

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), str(HERE)]), SPARSE_RL_BRIDGE_TOKEN="tok")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparse_rl_bridge", "serve", "--bind", "tcp://127.0.0.1:*", "--once",
         "--curve-secret-key", str(tmp_path / "server" / "server.key_secret"), "--curve-client-keys", str(tmp_path / "clients")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    ctx = zmq.Context()
    try:
        endpoint = None
        for line in proc.stderr:
            m = re.search(r"listening on (tcp://\S+)", line)
            if m:
                endpoint = m.group(1)
                break
        assert endpoint

        def client(cert):
            s = ctx.socket(zmq.REQ)
            s.setsockopt(zmq.LINGER, 0)
            if cert is not None:
                pub, sec = zmq.auth.load_certificate(str(cert))
                s.curve_publickey, s.curve_secretkey, s.curve_serverkey = pub, sec, server_public
            s.connect(endpoint)
            return s

        hello = P.encode(P.HELLO, 1, {"token": "tok", "env_id": "InvertedPendulum-v5", "num_envs": 1,
                                      "protocol": PROTOCOL_VERSION, "capabilities": list(CAPABILITIES)})
        for cert in (None, tmp_path / "other" / "mallory.key_secret"):  # no CURVE / unknown key: no answer
            s = client(cert)
            s.send_multipart(hello)
            assert not s.poll(700)
            s.close()
        s = client(tmp_path / "clients" / "alice.key_secret")
        s.send_multipart(hello)
        assert s.poll(30_000)
        w = P.decode(s.recv_multipart())
        assert w.type == P.WELCOME, w.header
        s.send_multipart(P.encode(P.RESET, 2, {"seed": 0}))
        assert P.decode(s.recv_multipart()).type == P.RESET_RESULT
        s.send_multipart(P.encode(P.STEP, 3, None, [("actions", actions(1, 1, 0.2))]))
        assert P.decode(s.recv_multipart()).type == P.STEP_RESULT
        s.send_multipart(P.encode(P.CLOSE, 4))
        assert P.decode(s.recv_multipart()).type == P.CLOSED
        s.close()
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
        ctx.term()
