"""``sparse-rl-bridge serve`` (server mode, protocol 1.3) against the real bridge and real MuJoCo:
one session per client connection, every request authenticated (only HELLO is answered before
HELLO; a session's requests only from its own connection), CURVE allow-list plus token, refused
keys logged, bad kwargs refused with the server and its other sessions still up, envs freed when
a client disconnects or idles, IPv6 and 127.0.0.0/8 loopback binds, and no imports from the
working directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

import gymnasium as gym
import numpy as np
import pytest
import zmq
import zmq.auth

from sparse_rl_bridge import CAPABILITIES, PROTOCOL_VERSION
from sparse_rl_bridge import protocol as P
from sparse_rl_bridge.__main__ import drop_cwd_from_sys_path, is_loopback

from conftest import HERE, SRC, actions, assert_valid, wait_gone

TOKEN = "serve-test-token"


class Serve:
    """A ``serve`` process; its stderr lines are collected by a thread (:meth:`wait_log`)."""

    def __init__(self, *args: str, env_extra=None, cwd=None):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), str(HERE)]), SPARSE_RL_BRIDGE_TOKEN=TOKEN)
        env.update(env_extra or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sparse_rl_bridge", "serve", *args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd,
        )
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        m = self.wait_log(r"listening on (tcp://\S+|ipc://\S+)", 30)
        self.endpoint = m.group(1)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_log(self, pattern: str, timeout: float = 10.0) -> "re.Match":
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no stderr line matching {pattern!r}; stderr:\n{self.log()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        self.proc.stderr.close()


class Client:
    """A REQ socket to a ``serve`` endpoint; every header sent and received is schema-checked."""

    def __init__(self, ctx, endpoint: str, schema, curve=None, routing_id: Optional[bytes] = None, ipv6: bool = False):
        self.schema = schema
        self.sock = ctx.socket(zmq.REQ)
        self.sock.setsockopt(zmq.LINGER, 0)
        if ipv6:
            self.sock.setsockopt(zmq.IPV6, 1)
        if routing_id is not None:
            self.sock.setsockopt(zmq.ROUTING_ID, routing_id)
        if curve is not None:
            server_public, cert = curve
            if cert is None:
                pub, sec = zmq.curve_keypair()
            else:
                pub, sec = zmq.auth.load_certificate(str(cert))
            self.sock.curve_publickey, self.sock.curve_secretkey, self.sock.curve_serverkey = pub, sec, server_public
            self.public_key = pub.decode()
        self.sock.connect(endpoint)
        self.seq = 0

    def request(self, msg_type: str, fields=None, arrays=None, timeout: float = 60.0, check: bool = True) -> P.Message:
        """Sends one request (schema-checked unless ``check=False``, for deliberately malformed
        ones) and returns the reply."""
        self.seq += 1
        frames = P.encode(msg_type, self.seq, fields, arrays)
        if check:
            assert_valid(P.decode(frames).header, self.schema)
        self.sock.send_multipart(frames)
        if not self.sock.poll(int(timeout * 1000)):
            raise TimeoutError(f"no reply to {msg_type} within {timeout} s")
        reply = P.decode(self.sock.recv_multipart())
        assert_valid(reply.header, self.schema)
        assert reply.seq == self.seq
        return reply

    def hello(self, token: str = TOKEN, env_id: str = "InvertedPendulum-v5", num_envs: int = 1, check: bool = True, **extra) -> P.Message:
        fields = {"token": token, "env_id": env_id, "kwargs": {}, "num_envs": num_envs,
                  "protocol": PROTOCOL_VERSION, "capabilities": list(CAPABILITIES), **extra}
        return self.request(P.HELLO, fields, check=check)

    def close(self) -> None:
        self.sock.close(0)


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.term()


@pytest.fixture
def keys(tmp_path):
    """Key pairs: the server's, alice's (allowed: in ``clients/``) and mallory's (not allowed)."""
    for sub, name in (("server", "server"), ("clients", "alice"), ("other", "mallory")):
        (tmp_path / sub).mkdir()
        zmq.auth.create_certificates(str(tmp_path / sub), name)
    server_public, _ = zmq.auth.load_certificate(str(tmp_path / "server" / "server.key"))
    return {
        "dir": tmp_path,
        "secret": str(tmp_path / "server" / "server.key_secret"),
        "public": server_public,
        "clients": str(tmp_path / "clients"),
        "alice": tmp_path / "clients" / "alice.key_secret",
        "mallory": tmp_path / "other" / "mallory.key_secret",
    }


def _reference(env_id: str, seed: int, acts: List[np.ndarray]):
    """Observations and rewards of ``gym.make(env_id)`` reset with ``seed`` and stepped with
    ``acts`` (same-step autoreset, as the bridge does)."""
    env = gym.make(env_id)
    obs = [np.asarray(env.reset(seed=seed)[0], np.float32)]
    rewards = []
    for a in acts:
        o, r, term, trunc, _ = env.step(a[0])
        if term or trunc:
            o, _ = env.reset()
        obs.append(np.asarray(o, np.float32))
        rewards.append(r)
    env.close()
    return obs, rewards


def _expect_error(reply: P.Message, text: str) -> None:
    assert reply.type == P.ERROR, reply.header
    assert text in reply.header["message"], reply.header


@pytest.mark.parametrize("curve", [False, True], ids=["plain-loopback", "curve-any-key"])
def test_sessions_are_isolated_and_every_request_is_authenticated(ctx, keys, protocol_schema, curve):
    """Client A's session cannot be reached by a second client: without the token, or with it
    from another connection; PING and CLOSE before HELLO get an ERROR; A's trajectory stays
    bit-identical to direct Gymnasium while B opens, resets, steps and closes its own session.
    Under CURVE's default (any client key admitted) the token and the session binding still apply."""
    args = ["--bind", "tcp://127.0.0.1:*"] + (["--curve-secret-key", keys["secret"]] if curve else [])
    server = Serve(*args)
    cv = (keys["public"], None) if curve else None
    a = b = None
    try:
        a = Client(ctx, server.endpoint, protocol_schema, curve=cv)
        b = Client(ctx, server.endpoint, protocol_schema, curve=cv)
        # Before HELLO nothing but HELLO is answered, for either client.
        for req in (P.PING, P.CLOSE, P.RESET, P.GET_STATE):
            _expect_error(b.request(req), "no environment: send HELLO first")
        w = a.hello()
        assert w.type == P.WELCOME and w.header["session"] == 1 and w.header["protocol"] == PROTOCOL_VERSION
        rng = np.random.default_rng(5)
        acts = [rng.uniform(-3, 3, (1, 1)).astype(np.float32) for _ in range(60)]
        ref_obs, ref_rewards = _reference("InvertedPendulum-v5", 11, acts)
        got = a.request(P.RESET, {"seed": 11})
        assert got.arrays["observations"][0].tobytes() == ref_obs[0].tobytes()

        # B without the token: its HELLO is refused and A's session is out of its reach.
        _expect_error(b.hello(token="not-the-token"), "HELLO carried a wrong token")
        _expect_error(b.request(P.RESET, {"seed": 0}), "no environment: send HELLO first")
        _expect_error(b.request(P.STEP, None, [("actions", actions(1, 1, 0.5))]), "no environment: send HELLO first")
        _expect_error(b.request(P.CLOSE), "no environment: send HELLO first")
        assert "not-the-token" not in server.log()
        server.wait_log(r"refused a HELLO with a wrong token from peer 127\.0\.0\.1")

        for t in range(30):  # A unaffected
            s = a.request(P.STEP, None, [("actions", acts[t])])
            assert s.arrays["observations"][0].tobytes() == ref_obs[t + 1].tobytes() and s.arrays["rewards"][0] == ref_rewards[t]

        # B with the token, from its own connection: a session of its own, other envs, other seed.
        wb = b.hello(num_envs=2)
        assert wb.type == P.WELCOME and wb.header["session"] == 2 and wb.header["num_envs"] == 2
        assert b.request(P.RESET, {"seed": 999}).arrays["observations"].shape == (2, 4)
        for t in range(30, 60):  # interleaved: B's requests never touch A's envs
            assert b.request(P.STEP, None, [("actions", actions(2, 1, -2.0))]).type == P.STEP_RESULT
            s = a.request(P.STEP, None, [("actions", acts[t])])
            assert s.arrays["observations"][0].tobytes() == ref_obs[t + 1].tobytes() and s.arrays["rewards"][0] == ref_rewards[t]
        assert b.request(P.CLOSE).type == P.CLOSED
        server.wait_log(r"session 2 \(peer 127\.0\.0\.1.*\) ended: CLOSE")
        # B's connection has no session any more; A's is still there, and still A's only.
        _expect_error(b.request(P.STEP, None, [("actions", actions(1, 1))]), "no environment: send HELLO first")
        assert a.request(P.PING).type == P.PONG
        assert a.request(P.STEP, None, [("actions", acts[0])]).type == P.STEP_RESULT
        if curve:
            server.wait_log(rf"session 1 \(peer 127\.0\.0\.1, CURVE key {re.escape(a.public_key)}\): serving InvertedPendulum-v5 x1")
        assert a.request(P.CLOSE).type == P.CLOSED
        assert server.alive()
    finally:
        for c in (a, b):
            if c is not None:
                c.close()
        server.close()


def test_a_routing_id_of_a_closed_connection_finds_no_session_and_disconnect_frees_async_envs(ctx, protocol_schema):
    """A client that disconnects without CLOSE has its session ended and its envs (here
    AsyncVectorEnv worker processes) closed; a new connection that presents the same routing id
    finds no session."""
    server = Serve("--bind", "tcp://127.0.0.1:*")
    try:
        a = Client(ctx, server.endpoint, protocol_schema, routing_id=b"victim")
        assert a.hello(num_envs=2, vectorization="async").type == P.WELCOME
        assert a.request(P.RESET, {"seed": 0}).type == P.RESET_RESULT
        children_file = f"/proc/{server.proc.pid}/task/{server.proc.pid}/children"
        workers = [int(p) for p in open(children_file).read().split()] if os.path.exists(children_file) else []
        assert len(workers) >= 2, workers
        a.close()  # vanishes: no CLOSE
        server.wait_log(r"session 1 \(peer 127\.0\.0\.1\) ended: its client disconnected; its envs are closed", 15)
        for pid in workers:
            assert wait_gone(pid, 15), f"env worker {pid} outlived its session"
        m = Client(ctx, server.endpoint, protocol_schema, routing_id=b"victim")
        _expect_error(m.request(P.RESET, {"seed": 0}), "no environment: send HELLO first")
        _expect_error(m.request(P.STEP, None, [("actions", actions(2, 1))]), "no environment: send HELLO first")
        m.close()
        assert server.alive()
    finally:
        server.close()


def test_bad_kwargs_get_an_error_and_the_server_and_other_sessions_stay_up(ctx, protocol_schema):
    server = Serve("--bind", "tcp://127.0.0.1:*")
    try:
        a = Client(ctx, server.endpoint, protocol_schema)
        assert a.hello().type == P.WELCOME
        assert a.request(P.RESET, {"seed": 1}).type == P.RESET_RESULT
        bad = Client(ctx, server.endpoint, protocol_schema)
        _expect_error(bad.hello(kwargs={"render_mode": "human"}), "render_mode 'human' needs a display")
        _expect_error(bad.hello(kwargs={"render_mode": ["human"]}), "HELLO.kwargs.render_mode must be a string or null")
        _expect_error(bad.hello(kwargs=["not", "an", "object"], check=False), "HELLO.kwargs must be a JSON object, got list")
        r = bad.hello(kwargs={"no_such_kwarg": {"a": [1, None]}})
        assert r.type == P.ERROR and r.header["exception_type"] == "TypeError" and "no_such_kwarg" in r.header["message"], r.header
        _expect_error(bad.request(P.STEP, None, [("actions", actions(1, 1))]), "no environment: send HELLO first")
        time.sleep(0.3)
        assert server.alive()
        for _ in range(5):
            assert a.request(P.STEP, None, [("actions", actions(1, 1, 0.1))]).type == P.STEP_RESULT
        assert bad.hello(kwargs={"render_mode": None}).type == P.WELCOME  # the same connection may still open one
        assert bad.request(P.CLOSE).type == P.CLOSED and a.request(P.CLOSE).type == P.CLOSED
        bad.close()
        a.close()
    finally:
        server.close()


def test_curve_allow_list_and_token_both_apply_and_refused_keys_are_logged(ctx, keys, protocol_schema):
    server = Serve("--bind", "tcp://127.0.0.1:*", "--curve-secret-key", keys["secret"], "--curve-client-keys", keys["clients"], "--once")
    try:
        server.wait_log(r"CURVE on \(server public key .*; clients: 1 keys in ")
        mallory = Client(ctx, server.endpoint, protocol_schema, curve=(keys["public"], keys["mallory"]))
        mallory.sock.send_multipart(P.encode(P.HELLO, 1, {"token": TOKEN, "env_id": "InvertedPendulum-v5", "num_envs": 1}))
        assert not mallory.sock.poll(700)  # the handshake never completes: no answer at all
        server.wait_log(rf"refused a CURVE client key {re.escape(mallory.public_key)} from 127\.0\.0\.1 \(ZAP 400: Unknown key\)")
        mallory.close()
        plain = ctx.socket(zmq.REQ)  # no CURVE at all
        plain.setsockopt(zmq.LINGER, 0)
        plain.connect(server.endpoint)
        plain.send_multipart(P.encode(P.PING, 1))
        assert not plain.poll(500)
        plain.close(0)
        server.wait_log(r"failed its ZeroMQ handshake")
        alice = Client(ctx, server.endpoint, protocol_schema, curve=(keys["public"], keys["alice"]))
        _expect_error(alice.hello(token="wrong"), "HELLO carried a wrong token")  # an allowed key still needs the token
        _expect_error(alice.request(P.RESET), "no environment: send HELLO first")
        w = alice.hello()
        assert w.type == P.WELCOME and w.header["session"] == 1
        assert alice.request(P.RESET, {"seed": 0}).type == P.RESET_RESULT
        assert alice.request(P.CLOSE).type == P.CLOSED
        alice.close()
        assert server.proc.wait(15) == 0  # --once: the only session ended with CLOSE
    finally:
        server.close()


def test_idle_sessions_are_ended_and_others_go_on(ctx, protocol_schema):
    server = Serve("--bind", "tcp://127.0.0.1:*", "--idle-timeout", "1")
    try:
        idle = Client(ctx, server.endpoint, protocol_schema)
        busy = Client(ctx, server.endpoint, protocol_schema)
        assert idle.hello().type == P.WELCOME and busy.hello().type == P.WELCOME
        busy.request(P.RESET, {"seed": 0})
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            assert busy.request(P.STEP, None, [("actions", actions(1, 1))]).type == P.STEP_RESULT
            time.sleep(0.2)
        server.wait_log(r"session 1 \(peer 127\.0\.0\.1\) ended: no request for 1 s")
        _expect_error(idle.request(P.RESET), "no environment: send HELLO first")
        assert busy.request(P.PING).type == P.PONG
        idle.close()
        busy.close()
    finally:
        server.close()


def _ipv6_loopback() -> bool:
    import socket  # noqa: PLC0415

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_ipv6_loopback_bind_serves(ctx, protocol_schema):
    server = Serve("--bind", "tcp://[::1]:*")  # loopback: no CURVE needed
    try:
        assert server.endpoint.startswith("tcp://[::1]:")
        c = Client(ctx, server.endpoint, protocol_schema, ipv6=True)
        assert c.hello().type == P.WELCOME
        assert c.request(P.RESET, {"seed": 0}).arrays["observations"].shape == (1, 4)
        assert c.request(P.STEP, None, [("actions", actions(1, 1))]).type == P.STEP_RESULT
        server.wait_log(r"session 1 \(peer ::1\): serving")
        assert c.request(P.CLOSE).type == P.CLOSED
        c.close()
    finally:
        server.close()


def test_all_of_127_0_0_0_8_is_loopback(ctx, protocol_schema):
    for ep in ("tcp://127.0.0.1:1", "tcp://127.0.0.2:5555", "tcp://127.255.255.254:1", "tcp://[::1]:5555", "tcp://localhost:1", "ipc:///tmp/x/s"):
        assert is_loopback(ep), ep
    for ep in ("tcp://0.0.0.0:1", "tcp://*:1", "tcp://[::]:1", "tcp://10.0.0.1:1", "tcp://128.0.0.1:1", "tcp://eth0:1", "tcp://example.org:1", "udp://127.0.0.1:1"):
        assert not is_loopback(ep), ep
    server = Serve("--bind", "tcp://127.0.0.2:*")  # accepted without CURVE
    try:
        assert server.endpoint.startswith("tcp://127.0.0.2:")
        c = Client(ctx, server.endpoint, protocol_schema)
        assert c.hello().type == P.WELCOME
        assert c.request(P.CLOSE).type == P.CLOSED
        c.close()
    finally:
        server.close()
    env = dict(os.environ, PYTHONPATH=str(SRC), SPARSE_RL_BRIDGE_TOKEN=TOKEN)
    r = subprocess.run([sys.executable, "-m", "sparse_rl_bridge", "serve", "--bind", "tcp://[::]:1"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 64 and "non-loopback --bind tcp://[::]:1" in r.stderr


EVIL = (
    "import pathlib\n"
    "pathlib.Path(__file__).with_name('IMPORTED').write_text('the bridge imported me')\n"
    "import gymnasium\n"
    "gymnasium.register('Evil-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv')\n"
)


def test_the_bridge_never_imports_from_its_working_directory(tmp_path, bridge_factory, ctx, protocol_schema):
    work = tmp_path / "work"
    work.mkdir()
    (work / "evil_env.py").write_text(EVIL)
    # Spawned mode, started in that directory.
    cwd = os.getcwd()
    os.chdir(work)
    try:
        b = bridge_factory()
    finally:
        os.chdir(cwd)
    r = b.hello("evil_env:Evil-v0")
    assert r.type == P.ERROR and "evil_env" in r.header["message"], r.header
    assert not (work / "IMPORTED").exists()
    # Server mode, likewise.
    server = Serve("--bind", "tcp://127.0.0.1:*", cwd=str(work))
    try:
        c = Client(ctx, server.endpoint, protocol_schema)
        r = c.hello(env_id="evil_env:Evil-v0")
        assert r.type == P.ERROR and "evil_env" in r.header["message"], r.header
        assert not (work / "IMPORTED").exists()
        c.close()
    finally:
        server.close()
    # A module dir named explicitly in PYTHONPATH is used.
    server = Serve("--bind", "tcp://127.0.0.1:*", cwd=str(work), env_extra={"PYTHONPATH": os.pathsep.join([str(SRC), str(work)])})
    try:
        c = Client(ctx, server.endpoint, protocol_schema)
        assert c.hello(env_id="evil_env:Evil-v0").type == P.WELCOME
        assert (work / "IMPORTED").exists()
        c.close()
    finally:
        server.close()


def test_drop_cwd_from_sys_path_keeps_explicit_entries(tmp_path):
    here = str(tmp_path)
    path = ["", here, "/usr/lib/python3", here + "/"]
    assert drop_cwd_from_sys_path(path, cwd=here, pythonpath="") == ["", here, here + "/"]
    assert path == ["/usr/lib/python3"]
    path = ["", here, "/usr/lib/python3"]
    assert drop_cwd_from_sys_path(path, cwd=here, pythonpath=os.pathsep.join(["/x", here])) == [""]
    assert path == [here, "/usr/lib/python3"]


def test_sigterm_closes_every_session(ctx, protocol_schema):
    server = Serve("--bind", "tcp://127.0.0.1:*")
    try:
        c = Client(ctx, server.endpoint, protocol_schema)
        assert c.hello(num_envs=2, vectorization="async").type == P.WELCOME
        children_file = f"/proc/{server.proc.pid}/task/{server.proc.pid}/children"
        workers = [int(p) for p in open(children_file).read().split()] if os.path.exists(children_file) else []
        server.proc.terminate()
        assert server.proc.wait(20) == 143
        for pid in workers:
            assert wait_gone(pid, 15), f"env worker {pid} outlived the server"
        server.wait_log(r"session 1 \(peer 127\.0\.0\.1\) ended: the server is shutting down")
        c.close()
    finally:
        server.close()
