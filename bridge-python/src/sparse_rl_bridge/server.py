"""The bridge server: a ZeroMQ REP socket serving one Gymnasium vector environment.

The TypeScript client binds a loopback endpoint and spawns ``python -m sparse_rl_bridge
--connect <endpoint>``; this server connects, authenticates the client's HELLO with the token
from ``SPARSE_RL_BRIDGE_TOKEN``, and then answers RESET / STEP / PING / CLOSE requests strictly
one at a time. See ``bridge-python/README.md`` for the protocol.

The vector environment is a list of ``gymnasium.make(env_id, **kwargs)`` instances stepped in
order with *same-step autoreset*: an env whose episode ends (terminated or truncated) at a STEP
is reset inside that STEP; the reply's ``observations`` row holds the new episode's first
observation and ``final_observations`` the finished episode's last one. This is exactly
``gymnasium.vector.SyncVectorEnv(..., autoreset_mode=AutoresetMode.SAME_STEP)`` semantics, with
env ``i`` seeded with ``seed + i`` at RESET and continuing its own RNG at autoresets.
"""

from __future__ import annotations

import hmac
import json
import os
import platform
import sys
import time
import traceback
from typing import Any, Dict, List, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np
import zmq

from . import PROTOCOL_VERSION, __version__
from . import protocol as P
from .spaces import encode_space, flat_dim

Frames = List[Any]


class FatalRequestError(Exception):
    """A request after which the server must exit (bad token, protocol major mismatch)."""


class RequestError(ValueError):
    """A malformed request; the server replies ERROR and keeps serving."""


def versions() -> Dict[str, str]:
    """Versions reported in WELCOME: bridge, protocol, python, gymnasium, numpy, pyzmq, libzmq,
    and mujoco when importable."""
    out = {
        "bridge": __version__,
        "protocol": PROTOCOL_VERSION,
        "python": platform.python_version(),
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
    }
    try:
        import mujoco  # noqa: PLC0415

        out["mujoco"] = mujoco.__version__
    except Exception:  # pragma: no cover - mujoco is optional for non-MuJoCo envs
        pass
    return out


def _route_mujoco_warnings(log) -> None:
    """Sends MuJoCo warnings to stderr (once per text) instead of MUJOCO_LOG.TXT in the cwd."""
    try:
        import mujoco  # noqa: PLC0415
    except Exception:
        return
    seen = set()

    def warn(msg: str) -> None:
        if msg not in seen:
            seen.add(msg)
            print(f"MuJoCo warning: {msg}", file=log, flush=True)

    try:
        mujoco.set_mju_user_warning(warn)
    except Exception:  # pragma: no cover
        pass


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class VectorEnv:
    """``num_envs`` copies of one Gymnasium env with same-step autoreset (see module docstring).

    Observations are returned as float32 ``[num_envs, obs_dim]`` (flattened, C order); rewards
    as float64; terminated/truncated as uint8.
    """

    def __init__(self, env_id: str, kwargs: Dict[str, Any], num_envs: int):
        self.envs: List[gym.Env] = []
        try:
            for _ in range(num_envs):
                self.envs.append(gym.make(env_id, **kwargs))
            first = self.envs[0]
            self.observation_space = first.observation_space
            self.action_space = first.action_space
            self.obs_dim = flat_dim(self.observation_space)
            self.act_dim = flat_dim(self.action_space)
        except BaseException:
            self.close()
            raise
        self.env_id = env_id
        self.num_envs = num_envs
        self.spec = first.spec
        self._discrete_action = isinstance(self.action_space, gym.spaces.Discrete)
        self._action_dtype = self.action_space.dtype
        self._action_shape = self.action_space.shape
        #: True until the first RESET and after an env raised inside STEP.
        self.needs_reset = True
        self.returns = [0.0] * num_envs
        self.lengths = [0] * num_envs

    def reset(self, seed: Optional[int]) -> np.ndarray:
        """Resets every env (env ``i`` with ``seed + i`` when ``seed`` is given).

        :returns: observations float32 ``[num_envs, obs_dim]``.
        """
        obs = np.empty((self.num_envs, self.obs_dim), dtype=np.float32)
        self.needs_reset = True
        for i, env in enumerate(self.envs):
            try:
                o, _info = env.reset(seed=None if seed is None else seed + i)
                obs[i] = np.asarray(o).reshape(-1)
            except Exception as exc:
                exc.env_index = i  # type: ignore[attr-defined]
                raise
            self.returns[i] = 0.0
            self.lengths[i] = 0
        self.needs_reset = False
        return obs

    def check_actions(self, actions: np.ndarray) -> None:
        """Validates a STEP's actions before any env is stepped.

        :raises RequestError: wrong shape, non-finite values, or (Discrete) values that are not
            integers of the space.
        """
        expected = (self.num_envs, self.act_dim)
        if actions.shape != expected:
            raise RequestError(f"actions must have shape {list(expected)}, got {list(actions.shape)}")
        if not np.isfinite(actions).all():
            bad = np.argwhere(~np.isfinite(actions))[0].tolist()
            raise RequestError(f"actions must be finite, got {actions[tuple(bad)]} at index {bad}")
        if self._discrete_action:
            a = actions[:, 0]
            space = self.action_space
            if not (np.all(a == np.round(a)) and np.all(a >= space.start) and np.all(a < space.start + space.n)):
                raise RequestError(
                    f"Discrete actions must be integers in [{space.start}, {space.start + space.n}), got {a.tolist()}"
                )

    def step(self, actions: np.ndarray) -> Tuple[Frames, Dict[str, Any]]:
        """Steps every env with its row of ``actions`` (float32 ``[num_envs, act_dim]``, already
        checked by :meth:`check_actions`), autoresetting finished envs.

        :returns: ``(arrays, fields)`` for the STEP_RESULT message.
        :raises Exception: whatever an env raised, with ``env_index`` set on the exception; the
            vector then needs a RESET.
        """
        n = self.num_envs
        obs = np.empty((n, self.obs_dim), dtype=np.float32)
        rewards = np.empty(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=np.uint8)
        truncated = np.zeros(n, dtype=np.uint8)
        final_idx: List[int] = []
        finals: List[np.ndarray] = []
        episodes: List[Dict[str, Any]] = []
        if self._discrete_action:
            per_env = [int(x) for x in actions[:, 0]]
        else:
            cast = actions.astype(self._action_dtype, copy=True)
            per_env = [cast[i].reshape(self._action_shape) for i in range(n)]
        i = 0
        try:
            for i, env in enumerate(self.envs):
                o, r, term, trunc, _info = env.step(per_env[i])
                r = float(r)
                rewards[i] = r
                self.returns[i] += r
                self.lengths[i] += 1
                if term or trunc:
                    terminated[i] = bool(term)
                    truncated[i] = bool(trunc)
                    final_idx.append(i)
                    finals.append(np.asarray(o).reshape(-1))
                    episodes.append(
                        {"index": i, "return": P.encode_float(self.returns[i]), "length": self.lengths[i]}
                    )
                    self.returns[i] = 0.0
                    self.lengths[i] = 0
                    o, _info = env.reset()
                obs[i] = np.asarray(o).reshape(-1)
        except Exception as exc:
            self.needs_reset = True
            exc.env_index = i  # type: ignore[attr-defined]
            raise
        arrays: List[Tuple[str, np.ndarray]] = [
            ("observations", obs),
            ("rewards", rewards),
            ("terminated", terminated),
            ("truncated", truncated),
        ]
        fields: Dict[str, Any] = {}
        if final_idx:
            final_obs = np.empty((len(final_idx), self.obs_dim), dtype=np.float32)
            for k, f in enumerate(finals):
                final_obs[k] = f
            arrays.append(("final_observations", final_obs))
            fields["final_indices"] = final_idx
            fields["episodes"] = episodes
        return arrays, fields

    def close(self) -> None:
        """Closes every env, ignoring errors."""
        for env in self.envs:
            try:
                env.close()
            except Exception:
                pass
        self.envs = []


class BridgeServer:
    """Protocol state machine: turns one decoded request into one reply.

    :param token: the secret the client must present in HELLO.
    :param log: text stream for diagnostics (stderr).
    """

    def __init__(self, token: str, log=sys.stderr):
        self.token = token
        self.log = log
        self.vec: Optional[VectorEnv] = None
        self.default_seed: Optional[int] = None
        self.first_reset = True
        #: Set when the server must exit after sending the current reply.
        self.stop = False
        #: Process exit code to use when :attr:`stop` is set (0 after CLOSE, 2 when fatal).
        self.exit_code = 0

    # -- dispatch ----------------------------------------------------------------------------
    def handle_frames(self, frames: Sequence[Any]) -> Frames:
        """Decodes ``frames``, handles the request and returns the reply frames.

        Sets :attr:`stop` when the server must exit after sending the reply (CLOSE, bad token,
        protocol major mismatch at HELLO).
        """
        seq = -1
        env_index: Optional[int] = None
        try:
            try:
                msg = P.decode(frames)
            except P.ProtocolError:
                seq = self._peek_seq(frames)
                raise
            seq = msg.seq
            return self.handle(msg)
        except (FatalRequestError, P.VersionMismatch) as exc:
            self.stop = True
            self.exit_code = 2
            print(f"sparse-rl-bridge: fatal: {exc}", file=self.log, flush=True)
            return P.encode(P.ERROR, seq, P.error_fields(exc, traceback.format_exc()))
        except Exception as exc:
            env_index = getattr(exc, "env_index", None)
            return P.encode(P.ERROR, seq, P.error_fields(exc, traceback.format_exc(), env_index))

    @staticmethod
    def _peek_seq(frames: Sequence[Any]) -> int:
        try:
            raw = frames[0]
            seq = json.loads(bytes(raw.bytes if hasattr(raw, "bytes") else raw)).get("seq", -1)
            return seq if _is_int(seq) else -1
        except Exception:
            return -1

    def handle(self, msg: P.Message) -> Frames:
        """Handles one decoded request (see :meth:`handle_frames`)."""
        t = msg.type
        if t == P.STEP:
            return self._step(msg)
        if t == P.RESET:
            return self._reset(msg)
        if t == P.PING:
            return P.encode(P.PONG, msg.seq)
        if t == P.HELLO:
            return self._hello(msg)
        if t == P.CLOSE:
            self.stop = True
            self.exit_code = 0
            if self.vec is not None:
                self.vec.close()
                self.vec = None
            return P.encode(P.CLOSED, msg.seq)
        raise RequestError(
            f"unknown message type {t!r} (expected one of {', '.join(P.REPLY_TYPES)})"
        )

    # -- handlers ----------------------------------------------------------------------------
    def _hello(self, msg: P.Message) -> Frames:
        h = msg.header
        token = h.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self.token.encode()):
            raise FatalRequestError("HELLO carried a wrong token; exiting")
        if self.vec is not None:
            raise RequestError("HELLO was already accepted; the environment exists")
        env_id = h.get("env_id")
        if not isinstance(env_id, str) or not env_id:
            raise RequestError("HELLO.env_id must be a non-empty string")
        kwargs = h.get("kwargs", {})
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, dict):
            raise RequestError("HELLO.kwargs must be a JSON object")
        num_envs = h.get("num_envs", 1)
        if not _is_int(num_envs) or num_envs < 1:
            raise RequestError(f"HELLO.num_envs must be an integer >= 1, got {num_envs!r}")
        seed = h.get("seed")
        if seed is not None and (not _is_int(seed) or seed < 0):
            raise RequestError(f"HELLO.seed must be a non-negative integer, got {seed!r}")
        vec = VectorEnv(env_id, kwargs, num_envs)
        try:
            fields = {
                "versions": versions(),
                "observation_space": encode_space(vec.observation_space),
                "action_space": encode_space(vec.action_space),
                "spec": {
                    "id": vec.spec.id if vec.spec is not None else env_id,
                    "max_episode_steps": vec.spec.max_episode_steps if vec.spec is not None else None,
                },
                "num_envs": num_envs,
                "autoreset_mode": "same-step",
            }
        except BaseException:
            vec.close()
            raise
        self.vec = vec
        self.default_seed = seed
        print(
            f"sparse-rl-bridge: serving {env_id} x{num_envs} "
            f"(obs {vec.obs_dim}, act {vec.act_dim}, max_episode_steps {fields['spec']['max_episode_steps']})",
            file=self.log,
            flush=True,
        )
        return P.encode(P.WELCOME, msg.seq, fields)

    def _require_env(self) -> VectorEnv:
        if self.vec is None:
            raise RequestError("no environment: send HELLO first")
        return self.vec

    def _reset(self, msg: P.Message) -> Frames:
        vec = self._require_env()
        seed = msg.header.get("seed")
        if seed is not None and (not _is_int(seed) or seed < 0):
            raise RequestError(f"RESET.seed must be a non-negative integer, got {seed!r}")
        if seed is None and self.first_reset:
            seed = self.default_seed
        obs = vec.reset(seed)
        self.first_reset = False
        return P.encode(P.RESET_RESULT, msg.seq, None, [("observations", obs)])

    def _step(self, msg: P.Message) -> Frames:
        vec = self._require_env()
        if vec.needs_reset:
            raise RequestError("send RESET before STEP (after HELLO and after an environment error)")
        actions = msg.arrays.get("actions")
        if actions is None or len(msg.arrays) != 1:
            raise RequestError("STEP must carry exactly one array, 'actions'")
        if actions.dtype != np.dtype("<f4"):
            raise RequestError(f"actions must be float32, got {msg.header['arrays'][0]['dtype']}")
        vec.check_actions(actions)
        arrays, fields = vec.step(actions)
        return P.encode(P.STEP_RESULT, msg.seq, fields, arrays)


# -- process-level helpers -------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve(
    endpoint: str,
    token: str,
    idle_timeout: float = 0.0,
    parent_pid: Optional[int] = None,
    log=sys.stderr,
) -> int:
    """Connects a REP socket to ``endpoint`` and serves requests until CLOSE, a fatal request,
    the parent's death, or ``idle_timeout`` seconds without a request (0 = never).

    :returns: the process exit code (0 after CLOSE, 2 after a fatal request (bad token,
        protocol major mismatch), 4 when the parent died, 5 on idle timeout).
    """
    _route_mujoco_warnings(log)
    initial_ppid = os.getppid()
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 2000)
    poll_ms = 1000 if idle_timeout <= 0 else max(10, min(1000, int(idle_timeout * 1000)))
    sock.setsockopt(zmq.RCVTIMEO, poll_ms)
    sock.connect(endpoint)
    print(
        f"sparse-rl-bridge {__version__} (protocol {PROTOCOL_VERSION}, pid {os.getpid()}) "
        f"connected to {endpoint}",
        file=log,
        flush=True,
    )
    server = BridgeServer(token, log)
    last = time.monotonic()
    code = 0
    try:
        while True:
            try:
                frames = sock.recv_multipart()
            except zmq.Again:
                if os.getppid() != initial_ppid or (parent_pid is not None and not _alive(parent_pid)):
                    print("sparse-rl-bridge: parent process is gone; exiting", file=log, flush=True)
                    code = 4
                    break
                if idle_timeout > 0 and time.monotonic() - last > idle_timeout:
                    print(
                        f"sparse-rl-bridge: no request for {idle_timeout:g} s; exiting",
                        file=log,
                        flush=True,
                    )
                    code = 5
                    break
                continue
            reply = server.handle_frames(frames)
            sock.send_multipart(reply)
            last = time.monotonic()
            if server.stop:
                code = server.exit_code
                break
    finally:
        if server.vec is not None:
            server.vec.close()
        sock.close()
        ctx.term()
    return code

