"""The bridge server end to end: a real subprocess, a Python REQ client, real MuJoCo envs.
Every header sent and received is checked against schemas/bridge-protocol.schema.json."""

import json
import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest

from sparse_rl_bridge import PROTOCOL_VERSION, __version__
from sparse_rl_bridge import protocol as P

from conftest import SRC, actions, wait_gone


def test_hello_reset_step_ping_close_roundtrip(bridge):
    w = bridge.hello("HalfCheetah-v5", num_envs=2, seed=5)
    assert w.type == P.WELCOME
    h = w.header
    assert h["versions"]["bridge"] == __version__ and h["versions"]["protocol"] == PROTOCOL_VERSION
    assert h["versions"]["gymnasium"] == gym.__version__ and "mujoco" in h["versions"]
    assert h["observation_space"]["shape"] == [17] and h["observation_space"]["low"][0] == "-inf"
    assert h["action_space"] == {"type": "box", "shape": [6], "dtype": "float32", "low": [-1.0] * 6, "high": [1.0] * 6}
    assert h["spec"] == {"id": "HalfCheetah-v5", "max_episode_steps": 1000}
    assert h["num_envs"] == 2 and h["autoreset_mode"] == "same-step" and h["vectorization"] == "sync"

    r = bridge.request(P.RESET, {})  # no seed: the HELLO seed applies to the first reset
    obs0 = r.arrays["observations"]
    assert obs0.dtype == np.float32 and obs0.shape == (2, 17)
    ref = [np.asarray(gym.make("HalfCheetah-v5").reset(seed=5 + i)[0], dtype=np.float32) for i in range(2)]
    np.testing.assert_array_equal(obs0, np.stack(ref))

    r = bridge.request(P.RESET, {"seed": 5})
    np.testing.assert_array_equal(r.arrays["observations"], obs0)

    rng = np.random.default_rng(0)
    finished = 0
    for t in range(1000):
        a = rng.uniform(-1, 1, (2, 6)).astype(np.float32)
        s = bridge.request(P.STEP, None, [("actions", a)], check=(t < 5))
        assert s.type == P.STEP_RESULT
        assert s.arrays["observations"].shape == (2, 17) and s.arrays["rewards"].dtype == np.float64
        assert s.arrays["terminated"].dtype == np.uint8 and s.arrays["truncated"].dtype == np.uint8
        if "final_indices" in s.header:
            finished += len(s.header["final_indices"])
            assert s.header["final_indices"] == [0, 1]
            assert s.arrays["final_observations"].shape == (2, 17)
            assert [e["length"] for e in s.header["episodes"]] == [1000, 1000]
            assert s.arrays["truncated"].tolist() == [1, 1]
    assert finished == 2
    assert bridge.request(P.PING).type == P.PONG
    assert bridge.request(P.CLOSE).type == P.CLOSED
    assert bridge.wait_exit() == 0


def test_wrong_token_gets_an_error_and_the_server_stays_up(bridge):
    r = bridge.request(P.HELLO, {"token": "not-the-token", "env_id": "InvertedPendulum-v5", "kwargs": {}, "num_envs": 1})
    assert r.type == P.ERROR and r.header["message"] == "HELLO carried a wrong token"
    assert "not-the-token" not in r.header["message"]
    assert bridge.request(P.RESET, {}).header["message"] == "no environment: send HELLO first"
    assert bridge.hello().type == P.WELCOME


def test_minor_version_mismatch_uses_common_capabilities(bridge):
    """A 1.0 client (no protocol field, no capabilities) and a 1.7 client with unknown extras."""
    h = {"token": bridge.token, "env_id": "InvertedPendulum-v5", "kwargs": {}, "num_envs": 1}
    raw = P.encode(P.HELLO, 1, h)
    head = json.loads(bytes(raw[0]))
    head["v"] = "1.0"
    w = bridge.request(P.HELLO, raw=[json.dumps(head).encode()])
    assert w.type == P.WELCOME and w.header["capabilities"] == [] and w.header["protocol"] == PROTOCOL_VERSION
    bridge.request(P.RESET, {"seed": 0})
    s = bridge.request(P.STEP, None, [("actions", actions(1, 1, 5.0))])  # 1.0: no clipping, passed through
    assert "actions_clipped" not in s.header
    assert bridge.request(P.CLOSE).type == P.CLOSED


def test_minor_newer_client_warns_and_async_needs_the_capability(bridge_factory):
    b = bridge_factory()
    w = b.hello(protocol="1.7", capabilities=["spaces.extended", "future.thing"])
    assert w.type == P.WELCOME and w.header["capabilities"] == ["spaces.extended"]
    b2 = bridge_factory()
    r = b2.hello(capabilities=[], vectorization="async")
    assert r.type == P.ERROR and "vectorization.async" in r.header["message"]
    b.request(P.CLOSE)
    assert b.wait_exit() == 0
    assert f"client speaks protocol 1.7, this bridge {PROTOCOL_VERSION}; using the common capabilities [spaces.extended]" in b.stderr()


def test_major_mismatch_in_hello_protocol_field_is_fatal(bridge):
    r = bridge.hello(protocol="2.3")
    assert r.type == P.ERROR and "client speaks 2.3" in r.header["message"] and PROTOCOL_VERSION in r.header["message"]
    assert bridge.wait_exit() == 2


def test_major_version_mismatch_names_both_versions_and_is_fatal(bridge):
    head = {"v": "2.0", "type": "HELLO", "seq": 7, "token": bridge.token, "env_id": "InvertedPendulum-v5", "num_envs": 1}
    r = bridge.request(P.HELLO, raw=[json.dumps(head).encode()])
    assert r.type == P.ERROR and r.seq == 7
    assert "2.0" in r.header["message"] and PROTOCOL_VERSION in r.header["message"]
    assert bridge.wait_exit() == 2


def test_unknown_env_id_returns_gymnasiums_message_and_server_stays_up(bridge):
    r = bridge.hello("NoSuchEnv")
    assert r.type == P.ERROR
    assert r.header["exception_type"] == "gymnasium.error.NameNotFound"
    assert r.header["message"] == "Environment `NoSuchEnv` doesn't exist."
    assert "Traceback" in r.header["traceback"]
    r = bridge.request(P.PING)  # still no session: only HELLO is answered, PING gets an ERROR
    assert r.type == P.ERROR and r.header["message"] == "no environment: send HELLO first"
    assert bridge.hello("InvertedPendulum-v5").type == P.WELCOME
    assert bridge.request(P.PING).type == P.PONG


def test_requests_before_hello_and_unknown_types(bridge):
    r = bridge.request(P.RESET, {})
    assert r.type == P.ERROR and "HELLO first" in r.header["message"]
    r = bridge.request("FROBNICATE", check=False)
    assert r.type == P.ERROR and "unknown message type 'FROBNICATE'" in r.header["message"]
    r = bridge.request("X", raw=[b"{not json"])
    assert r.type == P.ERROR and r.seq == -1 and r.header["exception_type"] == "sparse_rl_bridge.protocol.ProtocolError"
    assert bridge.hello().type == P.WELCOME
    assert bridge.request("FROBNICATE", check=False).type == P.ERROR
    assert bridge.request(P.PING).type == P.PONG


def test_step_before_reset_and_second_hello(bridge):
    assert bridge.hello(num_envs=2).type == P.WELCOME
    r = bridge.request(P.STEP, None, [("actions", actions(2, 1))])
    assert r.type == P.ERROR and "RESET" in r.header["message"]
    assert bridge.hello().type == P.ERROR


@pytest.mark.parametrize(
    "bad, match",
    [
        (actions(2, 2), r"shape \[2, 1\]"),
        (actions(1, 1), r"shape \[2, 1\]"),
        (actions(2, 1, dtype=np.float64), "float32"),
        (np.array([[0.0], [np.nan]], dtype=np.float32), "finite"),
        (np.array([[np.inf], [0.0]], dtype=np.float32), "finite"),
    ],
)
def test_bad_actions_give_error_and_server_keeps_serving(bridge, bad, match):
    bridge.hello("InvertedPendulum-v5", num_envs=2)
    bridge.request(P.RESET, {"seed": 0})
    r = bridge.request(P.STEP, None, [("actions", bad)], check=False)
    assert r.type == P.ERROR, r.header
    assert r.header["exception_type"] == "sparse_rl_bridge.server.RequestError"
    assert "env_index" not in r.header
    import re

    assert re.search(match, r.header["message"]), r.header["message"]
    ok = bridge.request(P.STEP, None, [("actions", actions(2, 1, 0.1))])
    assert ok.type == P.STEP_RESULT and ok.arrays["observations"].shape == (2, 4)


def test_missing_or_extra_step_arrays(bridge):
    bridge.hello()
    bridge.request(P.RESET, {})
    assert bridge.request(P.STEP, None, None, check=False).type == P.ERROR
    r = bridge.request(P.STEP, None, [("actions", actions(1, 1)), ("more", actions(1, 1))], check=False)
    assert r.type == P.ERROR and "exactly one array" in r.header["message"]
    assert bridge.request(P.STEP, None, [("actions", actions(1, 1))]).type == P.STEP_RESULT


def test_env_exception_reports_env_index_and_requires_reset(bridge):
    w = bridge.request(P.HELLO, {"token": bridge.token, "env_id": "raising_env:Raising-v0", "kwargs": {"fail_at": 2, "fail_env": 1}, "num_envs": 2})
    assert w.type == P.WELCOME, w.header
    bridge.request(P.RESET, {"seed": 1})
    assert bridge.request(P.STEP, None, [("actions", actions(2, 1))]).type == P.STEP_RESULT
    r = bridge.request(P.STEP, None, [("actions", actions(2, 1))])
    assert r.type == P.ERROR
    assert r.header["exception_type"] == "RuntimeError" and r.header["message"] == "boom at step 2"
    assert r.header["env_index"] == 1 and "raising_env.py" in r.header["traceback"]
    r = bridge.request(P.STEP, None, [("actions", actions(2, 1))])
    assert r.type == P.ERROR and "RESET" in r.header["message"]
    bridge.request(P.RESET, {})
    assert bridge.request(P.STEP, None, [("actions", actions(2, 1))]).type == P.STEP_RESULT


def test_terminations_autoreset_in_the_same_step(bridge):
    """InvertedPendulum terminates quickly under strong actions; the reply must carry the final
    observation and the new episode's first observation, as direct Gymnasium gives them."""
    bridge.hello("InvertedPendulum-v5", num_envs=1)
    bridge.request(P.RESET, {"seed": 3})
    ref = gym.make("InvertedPendulum-v5")
    ref.reset(seed=3)
    rets, ret = [], 0.0
    for t in range(200):
        a = np.array([[3.0 if t % 20 < 10 else -3.0]], dtype=np.float32)
        s = bridge.request(P.STEP, None, [("actions", a)], check=False)
        o, r, te, tr, _ = ref.step(a[0])
        ret += r
        assert s.arrays["rewards"][0] == r
        assert bool(s.arrays["terminated"][0]) == te and bool(s.arrays["truncated"][0]) == tr
        if te or tr:
            np.testing.assert_array_equal(s.arrays["final_observations"][0], np.asarray(o, np.float32))
            assert s.header["episodes"][0]["return"] == ret
            rets.append(ret)
            ret = 0.0
            o, _ = ref.reset()
        np.testing.assert_array_equal(s.arrays["observations"][0], np.asarray(o, np.float32))
    assert len(rets) >= 3


def test_idle_timeout_exits(bridge_factory):
    b = bridge_factory(extra_args=["--idle-timeout", "1"])
    assert b.wait_exit(15) == 5
    assert "no request for 1 s" in b.stderr()


def test_missing_token_refuses_to_start(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("SPARSE_RL_BRIDGE_TOKEN", None)
    p = subprocess.run([sys.executable, "-m", "sparse_rl_bridge", "--connect", "tcp://127.0.0.1:1"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 64 and "SPARSE_RL_BRIDGE_TOKEN" in p.stderr


def test_missing_modules_are_reported_in_one_line(tmp_path):
    """With -S (no site-packages) the stdlib-only entry point reports the missing modules."""
    env = dict(os.environ, PYTHONPATH=str(SRC), SPARSE_RL_BRIDGE_TOKEN="t")
    base = getattr(sys, "_base_executable", sys.executable)
    p = subprocess.run([base, "-S", "-m", "sparse_rl_bridge", "--connect", "tcp://127.0.0.1:1"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 3, p.stderr
    assert "SPARSE_RL_BRIDGE_MISSING_MODULES=numpy,zmq,gymnasium" in p.stderr


def test_bridge_dies_with_its_parent(tmp_path, protocol_schema):
    """A middle process spawns the bridge and is SIGKILLed: the bridge must exit by itself."""
    script = tmp_path / "middle.py"
    script.write_text(
        "import os, subprocess, sys, time\n"
        "env = dict(os.environ, SPARSE_RL_BRIDGE_TOKEN='t', PYTHONPATH=sys.argv[1])\n"
        "p = subprocess.Popen([sys.executable, '-m', 'sparse_rl_bridge', '--connect', 'tcp://127.0.0.1:9', '--parent-pid', str(os.getpid())], env=env)\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    middle = subprocess.Popen([sys.executable, str(script), str(SRC)], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(middle.stdout.readline())
        time.sleep(1.0)
        os.kill(pid, 0)  # running
        middle.send_signal(signal.SIGKILL)
        middle.wait(10)
        assert wait_gone(pid, 5), "bridge outlived its parent"
    finally:
        if middle.poll() is None:
            middle.kill()
        middle.stdout.close()
