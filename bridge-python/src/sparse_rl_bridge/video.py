"""Video recording of evaluation episodes (HELLO ``video``, capability ``render.video``) and the
render-mode policy of the bridge.

The bridge runs headless: a ``render_mode`` that opens a window (``"human"``) is refused at HELLO
(:func:`check_render_mode`), never attempted. Videos are made offscreen: the env is created with
``render_mode="rgb_array"`` and wrapped in Gymnasium's ``RecordVideo`` (every episode, into
``dir``), whose frames come from MuJoCo's offscreen renderer. The OpenGL backend is the one named
by ``MUJOCO_GL`` (``egl`` or ``osmesa``; ``glfw`` needs a display); when ``MUJOCO_GL`` is unset
the bridge probes ``egl`` then ``osmesa`` in a subprocess (a failed backend cannot be unloaded
from a process) and uses the first that renders. When none does, HELLO fails with one clear
message naming ``MUJOCO_GL`` and the Debian packages to install (:data:`GL_PACKAGES`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any, Dict, List, Mapping, Optional

import gymnasium as gym

from .errors import RequestError

#: Offscreen backends probed, in order, when ``MUJOCO_GL`` is unset.
GL_BACKENDS = ("egl", "osmesa")

#: What each ``MUJOCO_GL`` backend needs (Debian / Ubuntu packages).
GL_PACKAGES: Dict[str, str] = {
    "egl": "libegl1 and libegl-mesa0 (apt-get install libegl1 libegl-mesa0; or a GPU driver's EGL)",
    "osmesa": "libosmesa6 (apt-get install libosmesa6)",
    "glfw": "a display ($DISPLAY) and libglfw3",
}

#: A ``render_mode`` containing one of these needs a display and is refused.
_DISPLAY_MODES = re.compile(r"human", re.IGNORECASE)

#: Renders one frame of a trivial MuJoCo model with the backend named by MUJOCO_GL.
_PROBE = (
    "import mujoco\n"
    "m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=\"1\"/></worldbody></mujoco>')\n"
    "r = mujoco.Renderer(m, 16, 16)\n"
    "d = mujoco.MjData(m)\n"
    "r.update_scene(d)\n"
    "assert r.render().shape == (16, 16, 3)\n"
    "r.close()\n"
)

_chosen: Optional[str] = None


def check_render_mode(kwargs: Mapping[str, Any]) -> None:
    """Refuses a ``render_mode`` that needs a display.

    :raises RequestError: for ``render_mode: "human"`` (and any mode naming ``human``), advising
        ``rgb_array`` or the plugin's ``video`` option.
    """
    mode = kwargs.get("render_mode")
    if isinstance(mode, str) and _DISPLAY_MODES.search(mode):
        raise RequestError(
            f"render_mode {mode!r} needs a display, and the bridge runs headless (it would open a window): "
            "use render_mode 'rgb_array' for frames, or the environment.gymnasium option "
            "`video: { dir }` to record evaluation episodes to MP4"
        )


def _probe(backend: str) -> Optional[str]:
    """``None`` when ``backend`` renders in a fresh interpreter, else the error's last line."""
    env = dict(os.environ, MUJOCO_GL=backend)
    if backend in ("egl", "osmesa"):
        env["PYOPENGL_PLATFORM"] = backend
    try:
        p = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{type(exc).__name__}: {exc}"
    if p.returncode == 0:
        return None
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit code {p.returncode}"


def choose_gl_backend(log=sys.stderr) -> str:
    """The offscreen OpenGL backend for MuJoCo (``MUJOCO_GL`` if set, else the first of
    :data:`GL_BACKENDS` that renders); sets ``MUJOCO_GL`` (and ``PYOPENGL_PLATFORM``) in this
    process so that Gymnasium's renderer uses it. Cached per process.

    :raises RequestError: when no backend renders: names ``MUJOCO_GL``, the error of each backend
        tried and the Debian packages that provide them.
    """
    global _chosen
    if _chosen is not None:
        return _chosen
    requested = os.environ.get("MUJOCO_GL", "").strip().lower()
    candidates: List[str] = [requested] if requested else list(GL_BACKENDS)
    tried = []
    for backend in candidates:
        err = _probe(backend)
        if err is None:
            os.environ["MUJOCO_GL"] = backend
            if backend in ("egl", "osmesa") and not os.environ.get("PYOPENGL_PLATFORM"):
                os.environ["PYOPENGL_PLATFORM"] = backend
            print(f"sparse-rl-bridge: video: MuJoCo renders offscreen with MUJOCO_GL={backend}", file=log, flush=True)
            _chosen = backend
            return backend
        tried.append(f"MUJOCO_GL={backend}: {err}")
    how = (
        f"MUJOCO_GL={requested} is set but does not work"
        if requested
        else f"MUJOCO_GL is unset and none of {', '.join(GL_BACKENDS)} works"
    )
    need = "; ".join(f"{b} needs {GL_PACKAGES[b]}" for b in GL_BACKENDS)
    raise RequestError(
        f"video recording needs an offscreen OpenGL backend for MuJoCo, and {how} ({'; '.join(tried)}). "
        f"Set MUJOCO_GL=egl or MUJOCO_GL=osmesa and install its libraries: {need}."
    )


def check_moviepy() -> None:
    """:raises RequestError: when moviepy (used by RecordVideo to write MP4) is not importable."""
    try:
        import moviepy  # noqa: F401, PLC0415
    except Exception as exc:
        raise RequestError(
            f"video recording needs the Python package moviepy ({type(exc).__name__}: {exc}); "
            "`npm run setup` installs it (bridge-python/requirements.txt), or pip install moviepy"
        ) from None


class EpisodeVideos(gym.wrappers.RecordVideo):
    """``RecordVideo`` of every episode, named ``<prefix>-episode-<k>.mp4`` with ``k`` counting
    the videos written (continuing after those already in the folder, so a restarted bridge or a
    resumed run does not overwrite them). An episode reset again before its first step (the
    bridge's same-step autoreset followed by the evaluator's RESET) is not an episode and is not
    written."""

    def __init__(self, env: gym.Env, video_folder: str, name_prefix: str):
        super().__init__(env, video_folder=video_folder, name_prefix=name_prefix, episode_trigger=lambda _ep: True, disable_logger=True)
        pattern = re.compile(re.escape(name_prefix) + r"-episode-(\d+)\.mp4$")
        taken = [int(m.group(1)) for f in os.listdir(self.video_folder) if (m := pattern.match(f))]
        self.videos_written = max(taken) + 1 if taken else 0

    def stop_recording(self):
        """Writes the episode's video (unless it has only its reset frame)."""
        if len(self.recorded_frames) <= 1:
            self.recorded_frames = []
            self.recording = False
            self._video_name = None
            return
        self._video_name = f"{self.name_prefix}-episode-{self.videos_written}"
        self.videos_written += 1
        super().stop_recording()


def parse_video(video: Any) -> Optional[Dict[str, str]]:
    """Checks HELLO's ``video`` field: ``{"dir": str, "name_prefix": str}`` or absent.

    :raises RequestError: for another shape, a relative ``dir`` or a prefix with path characters.
    """
    if video is None:
        return None
    if not isinstance(video, dict) or set(video) - {"dir", "name_prefix"}:
        raise RequestError("HELLO.video must be an object {dir, name_prefix?}")
    d = video.get("dir")
    if not isinstance(d, str) or not os.path.isabs(d):
        raise RequestError(f"HELLO.video.dir must be an absolute path, got {d!r}")
    prefix = video.get("name_prefix", "eval")
    if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", prefix):
        raise RequestError(f"HELLO.video.name_prefix must match [A-Za-z0-9._-]+, got {prefix!r}")
    return {"dir": d, "name_prefix": prefix}


def make_recording_env(env_id: str, kwargs: Mapping[str, Any], video: Mapping[str, str], index: int, num_envs: int, log=sys.stderr) -> gym.Env:
    """``gymnasium.make(env_id, render_mode="rgb_array", **kwargs)`` wrapped in
    :class:`EpisodeVideos` (env ``index`` of ``num_envs``: the prefix gets ``-env<index>`` when
    there are several). The first frame is rendered here, so a renderer that fails does so at
    HELLO.

    :raises RequestError: another ``render_mode`` in ``kwargs``; no GL backend (see
        :func:`choose_gl_backend`); no moviepy; a frame that cannot be rendered.
    """
    mode = kwargs.get("render_mode", "rgb_array")
    if mode != "rgb_array":
        raise RequestError(f"video recording makes the env with render_mode 'rgb_array'; kwargs ask for {mode!r}")
    check_moviepy()
    choose_gl_backend(log)
    env = gym.make(env_id, **{**kwargs, "render_mode": "rgb_array"})
    try:
        try:
            env.unwrapped.render()
        except Exception as exc:
            raise RequestError(
                f"video recording: the env could not render a frame with MUJOCO_GL={os.environ.get('MUJOCO_GL')} "
                f"({type(exc).__name__}: {exc})"
            ) from None
        prefix = video["name_prefix"] if num_envs == 1 else f"{video['name_prefix']}-env{index}"
        return EpisodeVideos(env, video["dir"], prefix)
    except BaseException:
        env.close()
        raise


__all__ = ["GL_BACKENDS", "GL_PACKAGES", "EpisodeVideos", "check_moviepy", "check_render_mode", "choose_gl_backend", "make_recording_env", "parse_video"]
