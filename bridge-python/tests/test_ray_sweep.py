"""Unit tests of the Ray sweep driver's run planning, exit classification and lock waiting (no cluster)."""

import json
import os
import socket

import pytest

from sparse_rl_bridge import ray_sweep


def _run(tmp_path, status=None, checkpoint=False, error=None):
    d = tmp_path / "run"
    d.mkdir(parents=True)
    if status is not None:
        meta = {"status": status, **({"error": error} if error else {})}
        (d / "metadata.json").write_text(json.dumps(meta))
    if checkpoint:
        (d / "checkpoints" / "step-000000500").mkdir(parents=True)
        (d / "checkpoints" / "step-000000500" / "state.json").write_text("{}")
        (d / "checkpoints" / "step-000001000").mkdir()  # incomplete: no state.json
    return str(d)


def test_plan(tmp_path):
    assert ray_sweep.plan(str(tmp_path / "missing")) == "fresh"
    assert ray_sweep.plan(_run(tmp_path / "a", "completed", checkpoint=True)) == "skip"


@pytest.mark.parametrize("status,checkpoint,expected", [("interrupted", True, "resume"), ("failed", False, "fresh"), ("running", True, "resume")])
def test_plan_resume_or_fresh(tmp_path, status, checkpoint, expected):
    d = _run(tmp_path, status, checkpoint)
    assert ray_sweep.plan(d) == expected
    if checkpoint:
        assert ray_sweep.latest_checkpoint(d).endswith("step-000000500")


def test_classify(tmp_path):
    assert ray_sweep.classify(_run(tmp_path / "a", "completed"), 0) == {"status": "completed", "retryable": False}
    assert ray_sweep.classify(_run(tmp_path / "b", "interrupted"), 143)["retryable"] is True
    assert ray_sweep.classify(_run(tmp_path / "c"), 1)["retryable"] is False  # config error before the run directory was made
    cfg = ray_sweep.classify(_run(tmp_path / "d", "failed", error={"name": "ConfigError", "message": "bad"}), 1)
    assert cfg == {"status": "failed", "retryable": False, "message": "bad"}
    assert ray_sweep.classify(_run(tmp_path / "e", "failed", error={"name": "EnvironmentError", "message": "bridge died"}), 1)["retryable"] is True


def test_wait_for_lock(tmp_path):
    d = _run(tmp_path, "running")
    lock = os.path.join(d, ".lock")
    # a dead holder on this host: left to the trainer (it takes stale locks over)
    with open(lock, "w") as f:
        json.dump({"pid": 2**22 + 12345, "hostname": socket.gethostname()}, f)
    ray_sweep.wait_for_lock(d, stale_s=60, timeout_s=1, log=lambda _m: None)
    assert os.path.exists(lock)
    # a live holder on this host: waits, then times out
    with open(lock, "w") as f:
        json.dump({"pid": os.getpid(), "hostname": socket.gethostname()}, f)
    with pytest.raises(TimeoutError):
        ray_sweep.wait_for_lock(d, stale_s=60, timeout_s=0.3, log=lambda _m: None)
    # another host, nothing changed for longer than stale_s: removed
    with open(lock, "w") as f:
        json.dump({"pid": 1, "hostname": "lost-node"}, f)
    old = os.path.getmtime(lock) - 1000
    for p in (lock, os.path.join(d, "metadata.json")):
        os.utime(p, (old, old))
    messages = []
    ray_sweep.wait_for_lock(d, stale_s=60, timeout_s=1, log=messages.append)
    assert not os.path.exists(lock) and "node lost" in messages[0]
