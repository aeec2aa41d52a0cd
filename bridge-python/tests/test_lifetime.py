"""Exit paths of a spawned bridge with ``--cleanup-ipc``: its private ``ipc://`` socket folder is
removed on CLOSE and when its parent is SIGKILLed (the kernel's parent-death SIGTERM and the
watchdog), and a SIGTERM while the parent lives exits with code 143."""

import os
import signal
import subprocess
import sys
import tempfile
import time

import zmq

from sparse_rl_bridge import CAPABILITIES, PROTOCOL_VERSION
from sparse_rl_bridge import protocol as P

from conftest import SRC, wait_gone


def _wait_missing(path: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not os.path.exists(path):
            return True
        time.sleep(0.05)
    return not os.path.exists(path)


MIDDLE = (
    "import os, subprocess, sys, time, zmq\n"
    "d = sys.argv[2]\n"
    "ctx = zmq.Context(); s = ctx.socket(zmq.REQ); s.bind('ipc://' + d + '/s')\n"
    "env = dict(os.environ, SPARSE_RL_BRIDGE_TOKEN='t', PYTHONPATH=sys.argv[1])\n"
    "p = subprocess.Popen([sys.executable, '-m', 'sparse_rl_bridge', '--connect', 'ipc://' + d + '/s',\n"
    "                      '--parent-pid', str(os.getpid()), '--cleanup-ipc'], env=env)\n"
    "s.send_multipart([sys.argv[3].encode()])  # a PING: its reply (an ERROR before HELLO) says the bridge is serving\n"
    "s.poll(60000) and s.recv_multipart()\n"
    "print(p.pid, flush=True)\n"
    "time.sleep(120)\n"
)


def test_parent_sigkill_removes_the_socket_folder_and_the_bridge_exits(tmp_path):
    script = tmp_path / "middle.py"
    script.write_text(MIDDLE)
    d = tempfile.mkdtemp(prefix="srl-bridge-test-")
    os.chmod(d, 0o700)
    ping = bytes(P.encode(P.PING, 1)[0]).decode()
    middle = subprocess.Popen([sys.executable, str(script), str(SRC), d, ping], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(middle.stdout.readline())  # printed once the bridge answered a PING
        os.kill(pid, 0)
        assert os.path.exists(os.path.join(d, "s"))
        middle.send_signal(signal.SIGKILL)
        middle.wait(10)
        assert wait_gone(pid, 10), "bridge outlived its parent"
        assert _wait_missing(d, 10), f"socket folder {d} left behind: {os.listdir(d) if os.path.exists(d) else ''}"
    finally:
        if middle.poll() is None:
            middle.kill()
        middle.stdout.close()
        if os.path.exists(d):
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            os.rmdir(d)


def test_close_and_sigterm_remove_the_socket_folder(tmp_path):
    for how in ("close", "sigterm"):
        d = tempfile.mkdtemp(prefix="srl-bridge-test-")
        ctx = zmq.Context()
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(f"ipc://{d}/s")
        env = dict(os.environ, SPARSE_RL_BRIDGE_TOKEN="t", PYTHONPATH=str(SRC))
        proc = subprocess.Popen(
            [sys.executable, "-m", "sparse_rl_bridge", "--connect", f"ipc://{d}/s", "--parent-pid", str(os.getpid()), "--cleanup-ipc"],
            env=env, stderr=subprocess.PIPE,
        )
        try:
            sock.send_multipart(P.encode(P.PING, 1))
            assert sock.poll(60_000), "no reply to PING"
            r = P.decode(sock.recv_multipart())  # before HELLO only HELLO is answered: an ERROR
            assert r.type == P.ERROR and r.header["message"] == "no environment: send HELLO first"
            sock.send_multipart(P.encode(P.HELLO, 2, {"token": "t", "env_id": "InvertedPendulum-v5", "num_envs": 1,
                                                      "protocol": PROTOCOL_VERSION, "capabilities": list(CAPABILITIES)}))
            assert sock.poll(60_000), "no WELCOME"
            assert P.decode(sock.recv_multipart()).type == P.WELCOME
            sock.send_multipart(P.encode(P.PING, 3))
            assert sock.poll(30_000) and P.decode(sock.recv_multipart()).type == P.PONG
            if how == "close":
                sock.send_multipart(P.encode(P.CLOSE, 4))
                assert sock.poll(30_000)
                sock.recv_multipart()
                assert proc.wait(15) == 0
            else:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(15) == 143
            assert _wait_missing(d, 5), how
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            proc.stderr.close()
            sock.close()
            ctx.term()
            if os.path.exists(d):
                for f in os.listdir(d):
                    os.unlink(os.path.join(d, f))
                os.rmdir(d)
