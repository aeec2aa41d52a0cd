"""Render modes and video recording (protocol 1.2, capability ``render.video``): a render mode that
needs a display is refused with an ERROR (the bridge stays up); HELLO ``video`` records every
episode to MP4 with MuJoCo's offscreen renderer; without an OpenGL backend HELLO fails with one
clear message naming MUJOCO_GL and the Debian packages."""

import os

import numpy as np
import pytest

from sparse_rl_bridge import protocol as P
from sparse_rl_bridge.video import _probe

from conftest import actions


def test_human_render_mode_is_refused_and_the_bridge_keeps_serving(bridge):
    r = bridge.hello("HalfCheetah-v5", kwargs={"render_mode": "human"})
    assert r.type == P.ERROR
    msg = r.header["message"]
    assert "render_mode 'human' needs a display" in msg and "rgb_array" in msg and "video" in msg, msg
    assert bridge.proc.poll() is None
    assert bridge.hello("HalfCheetah-v5", kwargs={"render_mode": "rgb_array"}).type == P.WELCOME


def test_video_needs_sync_vectorization_and_an_absolute_dir(bridge_factory, tmp_path):
    b = bridge_factory()
    r = b.hello("InvertedPendulum-v5", vectorization="async", video={"dir": str(tmp_path)})
    assert r.type == P.ERROR and "vectorization 'sync'" in r.header["message"]
    r = b.hello("InvertedPendulum-v5", video={"dir": "relative/videos"})
    assert r.type == P.ERROR and "absolute path" in r.header["message"]
    r = b.hello("InvertedPendulum-v5", video={"dir": str(tmp_path)}, capabilities=["actions.clip"])
    assert r.type == P.ERROR and "render.video" in r.header["message"]


def _backend_available() -> bool:
    wanted = os.environ.get("MUJOCO_GL")
    return any(_probe(b) is None for b in ([wanted] if wanted else ["egl", "osmesa"]))


@pytest.mark.skipif(not _backend_available(), reason="no offscreen OpenGL backend for MuJoCo (MUJOCO_GL=egl needs libegl1 + libegl-mesa0, osmesa needs libosmesa6)")
def test_video_of_every_episode_is_written(bridge, tmp_path):
    folder = tmp_path / "videos"
    w = bridge.hello("InvertedPendulum-v5", seed=0, video={"dir": str(folder), "name_prefix": "ev"})
    assert w.type == P.WELCOME, w.header
    bridge.request(P.RESET, {})
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(200):  # random pushes topple the pendulum within a few steps
        s = bridge.request(P.STEP, None, [("actions", rng.uniform(-3, 3, (1, 1)).astype(np.float32))], check=False)
        ended += len(s.header.get("final_indices", []))
        if ended == 2:
            break
    assert ended == 2
    files = sorted(os.listdir(folder))
    assert files == ["ev-episode-0.mp4", "ev-episode-1.mp4"], files
    assert all((folder / f).stat().st_size > 0 for f in files)
    # The next episode (reset again before its first step) is not written; the state of a
    # recording env is not claimed restorable.
    bridge.request(P.RESET, {})
    r = bridge.request(P.GET_STATE)
    assert r.header["restorable"] is False and "video.EpisodeVideos" in r.header["reason"]
    bridge.request(P.CLOSE)
    assert bridge.wait_exit() == 0
    assert sorted(os.listdir(folder)) == files


def test_video_with_the_same_seed_steps_like_without(bridge_factory, tmp_path):
    """Rendering does not touch the physics: observations equal those of an env without video."""
    if not _backend_available():
        pytest.skip("no offscreen OpenGL backend for MuJoCo")
    runs = []
    for video in (None, {"dir": str(tmp_path)}):
        b = bridge_factory()
        b.hello("InvertedPendulum-v5", **({"video": video} if video else {}))
        obs = [b.request(P.RESET, {"seed": 4}).arrays["observations"].copy()]
        for t in range(30):
            obs.append(b.request(P.STEP, None, [("actions", actions(1, 1, 0.5 if t % 2 else -0.5))], check=False).arrays["observations"].copy())
        runs.append(np.stack(obs))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_no_gl_backend_gives_one_clear_message(bridge_factory, tmp_path):
    if _probe("osmesa") is None:
        pytest.skip("OSMesa is installed here, so MUJOCO_GL=osmesa cannot demonstrate a missing backend")
    b = bridge_factory(env_extra={"MUJOCO_GL": "osmesa"})
    r = b.hello("InvertedPendulum-v5", video={"dir": str(tmp_path)})
    assert r.type == P.ERROR
    msg = r.header["message"]
    assert "MUJOCO_GL=osmesa is set but does not work" in msg and "libosmesa6" in msg and "libegl1" in msg, msg
    assert "Traceback" not in msg
    assert b.proc.poll() is None
