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
import math
import os
import platform
import sys
import time
import traceback
from typing import Any, Dict, List, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np
import zmq

from gymnasium.vector.async_vector_env import AsyncState
from gymnasium.vector.vector_env import AutoresetMode

from . import CAPABILITIES, PROTOCOL_VERSION, __version__
from . import protocol as P
from .spaces import UnsupportedSpaceError, encode_space, flat_dim, flattener

Frames = List[Any]


class FatalRequestError(Exception):
    """A request after which the server must exit (reserved; protocol major mismatches use P.VersionMismatch)."""


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


#: Most sub-environments one HELLO may ask for (guards against absurd requests).
MAX_NUM_ENVS = 1024


class ActionAdapter:
    """Validates a STEP's flat float32 actions ``[num_envs, act_dim]`` and converts them to what
    the action space expects.

    Policy (documented in the README): non-finite values are refused (RequestError); Discrete,
    MultiDiscrete and MultiBinary values must be integral and inside the space, else RequestError;
    Box values outside ``[low, high]`` are **clipped** to the bounds when ``clip`` is set (the
    ``actions.clip`` capability; MuJoCo clamps controls to ``ctrlrange`` anyway, so this matches
    direct Gymnasium for MuJoCo tasks) and passed through unchanged otherwise (protocol 1.0).
    """

    def __init__(self, space: gym.Space, num_envs: int, clip: bool):
        self.space = space
        self.num_envs = num_envs
        self.act_dim = flat_dim(space)
        self.clip = clip and isinstance(space, gym.spaces.Box)
        if self.clip:
            self._low = np.asarray(space.low, dtype=np.float64).reshape(-1)
            self._high = np.asarray(space.high, dtype=np.float64).reshape(-1)
            self._low32 = self._low.astype(np.float32)
            self._low_max = float(self._low.max()) if self._low.size else -math.inf
            self._high_min = float(self._high.min()) if self._high.size else math.inf
            self._high32 = self._high.astype(np.float32)
            # Clip in float32 when the bounds are exactly representable (no rounding surprises).
            self._clip32 = bool(np.array_equal(self._low32.astype(np.float64), self._low, equal_nan=True)) and bool(
                np.array_equal(self._high32.astype(np.float64), self._high, equal_nan=True)
            )

    def convert(self, actions: np.ndarray) -> Tuple[np.ndarray, int]:
        """Checks ``actions`` and returns ``(batched, clipped)``: ``batched`` has shape
        ``[num_envs, *space.shape]`` (``[num_envs]`` for Discrete) and the space's dtype;
        ``clipped`` is how many Box entries were clipped.

        :raises RequestError: wrong shape, non-finite values, or integer-space values that are not
            integers of the space (the message names the offending values).
        """
        n, space = self.num_envs, self.space
        expected = (n, self.act_dim)
        if actions.shape != expected:
            raise RequestError(f"actions must have shape {list(expected)}, got {list(actions.shape)}")
        # min/max propagate NaN: two reductions check finiteness and, usually, the bounds too.
        lo, hi = float(actions.min()), float(actions.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            bad = np.argwhere(~np.isfinite(actions))[0].tolist()
            raise RequestError(f"actions must be finite, got {actions[tuple(bad)]} at index {bad}")
        if isinstance(space, gym.spaces.Box):
            clipped = 0
            a = actions
            if self.clip and not (lo >= self._low_max and hi <= self._high_min):
                if self._clip32:
                    out = (a < self._low32) | (a > self._high32)
                    clipped = int(out.sum())
                    if clipped:
                        a = np.clip(a, self._low32, self._high32)
                else:
                    a64 = a.astype(np.float64)
                    out = (a64 < self._low) | (a64 > self._high)
                    clipped = int(out.sum())
                    if clipped:
                        a = np.clip(a64, self._low, self._high)
            return np.asarray(a, dtype=space.dtype).reshape((n, *space.shape)), clipped
        if isinstance(space, gym.spaces.Discrete):
            a = actions[:, 0]
            if not (np.all(a == np.round(a)) and np.all(a >= space.start) and np.all(a < space.start + space.n)):
                raise RequestError(
                    f"Discrete actions must be integers in [{space.start}, {space.start + space.n}), got {a.tolist()}"
                )
            return a.astype(np.int64), 0
        if isinstance(space, gym.spaces.MultiDiscrete):
            lo = np.asarray(space.start, dtype=np.float64).reshape(-1)
            hi = lo + np.asarray(space.nvec, dtype=np.float64).reshape(-1)
            if not (np.all(actions == np.round(actions)) and np.all(actions >= lo) and np.all(actions < hi)):
                raise RequestError(
                    f"MultiDiscrete actions must be integers with start <= a < start + nvec "
                    f"(start {lo.tolist()}, nvec {np.asarray(space.nvec).reshape(-1).tolist()}), got {actions.tolist()}"
                )
            return actions.astype(space.dtype).reshape((n, *space.shape)), 0
        if isinstance(space, gym.spaces.MultiBinary):
            if not np.all((actions == 0) | (actions == 1)):
                raise RequestError(f"MultiBinary actions must be 0 or 1, got {actions.tolist()}")
            return actions.astype(space.dtype).reshape((n, *space.shape)), 0
        raise RequestError(f"unsupported action space {space!r}")  # pragma: no cover - refused at HELLO


class _Episodes:
    """Running return (float64 sum of rewards) and length of every sub-environment's episode."""

    def __init__(self, n: int):
        self.returns = [0.0] * n
        self.lengths = [0] * n

    def clear(self) -> None:
        for i in range(len(self.returns)):
            self.returns[i] = 0.0
            self.lengths[i] = 0

    def add(self, i: int, r: float) -> None:
        self.returns[i] += r
        self.lengths[i] += 1

    def finish(self, i: int) -> Dict[str, Any]:
        ep = {"index": i, "return": P.encode_float(self.returns[i]), "length": self.lengths[i]}
        self.returns[i] = 0.0
        self.lengths[i] = 0
        return ep


def _result(obs, rewards, terminated, truncated, final_idx, finals, episodes, obs_dim, clipped):
    arrays: List[Tuple[str, np.ndarray]] = [
        ("observations", obs),
        ("rewards", rewards),
        ("terminated", terminated),
        ("truncated", truncated),
    ]
    fields: Dict[str, Any] = {}
    if final_idx:
        final_obs = np.empty((len(final_idx), obs_dim), dtype=np.float32)
        for k, f in enumerate(finals):
            final_obs[k] = f
        arrays.append(("final_observations", final_obs))
        fields["final_indices"] = final_idx
        fields["episodes"] = episodes
    if clipped:
        fields["actions_clipped"] = clipped
    return arrays, fields


class VectorEnv:
    """``num_envs`` copies of one Gymnasium env stepped in order in this process, with same-step
    autoreset (``vectorization: "sync"``; see module docstring).

    This hand-rolled loop is what ``gymnasium.vector.SyncVectorEnv(autoreset_mode=SAME_STEP)``
    does, minus its batching machinery (measured faster for small observation vectors; parity
    with direct Gymnasium is tested). Observations are returned as float32 ``[num_envs, obs_dim]``
    (flat wire layout of :mod:`.spaces`); rewards float64; terminated/truncated uint8.

    :param clip_actions: clip out-of-bound Box actions (``actions.clip`` capability).
    :param extended_spaces: allow MultiDiscrete/MultiBinary/Dict/Tuple (``spaces.extended``).
    :raises UnsupportedSpaceError: for spaces the session cannot carry; Gymnasium's errors from
        ``gymnasium.make``.
    """

    mode = "sync"

    def __init__(self, env_id: str, kwargs: Dict[str, Any], num_envs: int, clip_actions: bool = False, extended_spaces: bool = False):
        self.envs: List[gym.Env] = []
        try:
            for _ in range(num_envs):
                self.envs.append(gym.make(env_id, **kwargs))
            first = self.envs[0]
            self._init_spaces(first.observation_space, first.action_space, first.spec, num_envs, clip_actions, extended_spaces)
        except BaseException:
            self.close()
            raise
        self.env_id = env_id

    def _init_spaces(self, obs_space, act_space, spec, num_envs, clip_actions, extended_spaces) -> None:
        self.observation_space = obs_space
        self.action_space = act_space
        self.spec = spec
        basic = (gym.spaces.Box, gym.spaces.Discrete)
        if not extended_spaces:
            for what, sp in (("observation", obs_space), ("action", act_space)):
                if not isinstance(sp, basic):
                    raise UnsupportedSpaceError(
                        f"{what} space {sp!r} needs the 'spaces.extended' capability (protocol >= 1.1); "
                        "this client only supports Box and Discrete spaces"
                    )
        self.obs_dim = flat_dim(obs_space)
        encode_space(act_space, composite=False)  # refuses Dict/Tuple actions with a clear message
        self.actions = ActionAdapter(act_space, num_envs, clip_actions)
        self.act_dim = self.actions.act_dim
        self.num_envs = num_envs
        self._flatten = flattener(obs_space)
        self._discrete_action = isinstance(act_space, gym.spaces.Discrete)
        #: True until the first RESET and after an env raised inside STEP.
        self.needs_reset = True
        self.episodes = _Episodes(num_envs)

    def reset(self, seed: Optional[int]) -> np.ndarray:
        """Resets every env (env ``i`` with ``seed + i`` when ``seed`` is given).

        :returns: observations float32 ``[num_envs, obs_dim]``.
        :raises Exception: what an env raised, with ``env_index`` set on it.
        """
        obs = np.empty((self.num_envs, self.obs_dim), dtype=np.float32)
        self.needs_reset = True
        for i, env in enumerate(self.envs):
            try:
                o, _info = env.reset(seed=None if seed is None else seed + i)
                obs[i] = self._flatten(o)
            except Exception as exc:
                exc.env_index = i  # type: ignore[attr-defined]
                raise
        self.episodes.clear()
        self.needs_reset = False
        return obs

    def step(self, actions: np.ndarray) -> Tuple[Frames, Dict[str, Any]]:
        """Steps every env with its row of ``actions`` (float32 ``[num_envs, act_dim]``),
        autoresetting finished envs.

        :returns: ``(arrays, fields)`` for the STEP_RESULT message.
        :raises RequestError: invalid actions (nothing was stepped).
        :raises Exception: whatever an env raised, with ``env_index`` set on the exception; the
            vector then needs a RESET.
        """
        batched, clipped = self.actions.convert(actions)
        n = self.num_envs
        obs = np.empty((n, self.obs_dim), dtype=np.float32)
        rewards = np.empty(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=np.uint8)
        truncated = np.zeros(n, dtype=np.uint8)
        final_idx: List[int] = []
        finals: List[np.ndarray] = []
        episodes: List[Dict[str, Any]] = []
        per_env = [int(x) for x in batched] if self._discrete_action else batched
        flatten = self._flatten
        eps = self.episodes
        i = 0
        try:
            for i, env in enumerate(self.envs):
                o, r, term, trunc, _info = env.step(per_env[i])
                r = float(r)
                rewards[i] = r
                eps.add(i, r)
                if term or trunc:
                    terminated[i] = bool(term)
                    truncated[i] = bool(trunc)
                    final_idx.append(i)
                    finals.append(flatten(o))
                    episodes.append(eps.finish(i))
                    o, _info = env.reset()
                obs[i] = flatten(o)
        except Exception as exc:
            self.needs_reset = True
            exc.env_index = i  # type: ignore[attr-defined]
            raise
        return _result(obs, rewards, terminated, truncated, final_idx, finals, episodes, self.obs_dim, clipped)

    def close(self) -> None:
        """Closes every env, ignoring errors."""
        for env in self.envs:
            try:
                env.close()
            except Exception:
                pass
        self.envs = []


class _AsyncVectorEnv(gym.vector.AsyncVectorEnv):
    """Gymnasium's AsyncVectorEnv, but an env's exception keeps its worker index and traceback."""

    def _raise_if_errors(self, successes):  # noqa: D401 - same contract as the base class
        if all(successes):
            return
        num_errors = self.num_envs - sum(successes)
        for k in range(num_errors):
            index, exctype, value, trace = self.error_queue.get()
            self.parent_pipes[index].close()
            self.parent_pipes[index] = None
            if k == num_errors - 1:
                self._state = AsyncState.DEFAULT
                try:
                    exc = exctype(value)
                except Exception:  # an exception class with another constructor
                    exc = RuntimeError(f"{getattr(exctype, '__name__', exctype)}: {value}")
                exc.env_index = index  # type: ignore[attr-defined]
                exc.remote_traceback = trace  # type: ignore[attr-defined]
                raise exc


def _make_flat(env_id: str, kwargs: Dict[str, Any]) -> gym.Env:
    env = gym.make(env_id, **kwargs)
    if isinstance(env.observation_space, (gym.spaces.Dict, gym.spaces.Tuple)):
        env = gym.wrappers.FlattenObservation(env)
    return env


class AsyncVectorEnvAdapter(VectorEnv):
    """``num_envs`` copies in worker processes: ``gymnasium.vector.AsyncVectorEnv`` with
    ``autoreset_mode=SAME_STEP`` (``vectorization: "async"``). Same wire results as
    :class:`VectorEnv` (tested bit for bit); Dict/Tuple observations are flattened inside the
    workers with ``FlattenObservation`` (same layout). After an env raised, the workers are
    rebuilt at the next RESET.
    """

    mode = "async"

    def __init__(self, env_id: str, kwargs: Dict[str, Any], num_envs: int, clip_actions: bool = False, extended_spaces: bool = False):
        self.envs = []
        self.env_id, self.kwargs = env_id, dict(kwargs)
        probe = gym.make(env_id, **kwargs)  # spaces and spec, and Gymnasium's errors in this process
        try:
            self._init_spaces(probe.observation_space, probe.action_space, probe.spec, num_envs, clip_actions, extended_spaces)
        finally:
            probe.close()
        self.vec: Optional[_AsyncVectorEnv] = None
        self._build()

    def _build(self) -> None:
        env_id, kwargs = self.env_id, self.kwargs
        self.vec = _AsyncVectorEnv(
            [lambda: _make_flat(env_id, kwargs)] * self.num_envs,
            autoreset_mode=AutoresetMode.SAME_STEP,
        )

    def _obs(self, o: Any) -> np.ndarray:
        return np.asarray(o).reshape(self.num_envs, -1).astype(np.float32)

    def reset(self, seed: Optional[int]) -> np.ndarray:
        """See :meth:`VectorEnv.reset` (env ``i`` gets ``seed + i``, as in Gymnasium)."""
        self.needs_reset = True
        if self.vec is None:
            self._build()
        try:
            o, _info = self.vec.reset(seed=seed)
        except Exception:
            self._discard()
            raise
        self.episodes.clear()
        self.needs_reset = False
        return self._obs(o)

    def _discard(self) -> None:
        vec, self.vec = self.vec, None
        if vec is not None:
            try:
                vec.close(terminate=True)
            except Exception:
                pass

    def step(self, actions: np.ndarray) -> Tuple[Frames, Dict[str, Any]]:
        """See :meth:`VectorEnv.step`."""
        batched, clipped = self.actions.convert(actions)
        try:
            o, r, te, tr, info = self.vec.step(batched)
        except Exception:
            self.needs_reset = True
            self._discard()
            raise
        n = self.num_envs
        obs = self._obs(o)
        rewards = np.asarray(r, dtype=np.float64).reshape(n)
        terminated = np.asarray(te, dtype=np.uint8).reshape(n)
        truncated = np.asarray(tr, dtype=np.uint8).reshape(n)
        eps = self.episodes
        final_idx: List[int] = []
        finals: List[np.ndarray] = []
        episodes: List[Dict[str, Any]] = []
        for i in range(n):
            eps.add(i, float(rewards[i]))
            if terminated[i] or truncated[i]:
                final_idx.append(i)
                finals.append(np.asarray(info["final_obs"][i]).reshape(-1))
                episodes.append(eps.finish(i))
        return _result(obs, rewards, terminated, truncated, final_idx, finals, episodes, self.obs_dim, clipped)

    def close(self) -> None:
        """Stops the worker processes."""
        self._discard()


class BridgeServer:
    """Protocol state machine: turns one decoded request into one reply.

    :param token: the secret the client must present in HELLO.
    :param log: text stream for diagnostics (stderr).
    :param rehello: accept a HELLO with the right token while an environment exists (it
        replaces the session); used by ``serve --bind``, where a client may vanish mid-session.
    """

    def __init__(self, token: str, log=sys.stderr, rehello: bool = False):
        self.token = token
        self.log = log
        self.rehello = rehello
        self.vec: Optional[VectorEnv] = None
        self.default_seed: Optional[int] = None
        self.first_reset = True
        #: Capabilities agreed with the client at HELLO.
        self.capabilities: Tuple[str, ...] = ()
        #: Set when the server must exit after sending the current reply.
        self.stop = False
        #: Process exit code to use when :attr:`stop` is set (0 after CLOSE, 2 when fatal).
        self.exit_code = 0
        #: Wrong-token HELLOs seen (each gets an ERROR; the server keeps serving).
        self.bad_tokens = 0
        #: STEP_RESULT header bytes (before, after the seq) by array shapes.
        self._step_heads: Dict[Tuple[Any, ...], Tuple[bytes, bytes]] = {}

    def end_session(self) -> None:
        """Closes the environment, if any, and forgets the session (the token stays)."""
        if self.vec is not None:
            self.vec.close()
        self.vec = None
        self.default_seed = None
        self.first_reset = True
        self.capabilities = ()

    # -- dispatch ----------------------------------------------------------------------------
    def handle_frames(self, frames: Sequence[Any]) -> Frames:
        """Decodes ``frames``, handles the request and returns the reply frames (never raises
        for any input: every failure becomes an ERROR reply naming the problem).

        Sets :attr:`stop` when the server must exit after sending the reply (CLOSE, protocol
        major mismatch).
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
            if isinstance(exc, P.VersionMismatch) and self._peek_type(frames) != P.HELLO:
                # Only the handshake is fatal; a stray message of another major gets an ERROR.
                return P.encode(P.ERROR, seq, P.error_fields(exc, traceback.format_exc()))
            self.stop = True
            self.exit_code = 2
            print(f"sparse-rl-bridge: fatal: {exc}", file=self.log, flush=True)
            return P.encode(P.ERROR, seq, P.error_fields(exc, traceback.format_exc()))
        except Exception as exc:
            env_index = getattr(exc, "env_index", None)
            tb = getattr(exc, "remote_traceback", None) or traceback.format_exc()
            try:
                return P.encode(P.ERROR, seq, P.error_fields(exc, tb, env_index))
            except Exception:  # e.g. an un-encodable message: still answer
                return P.encode(P.ERROR, seq, {"exception_type": type(exc).__name__, "message": repr(exc)[:2000], "traceback": ""})

    @staticmethod
    def _peek_type(frames: Sequence[Any]) -> Any:
        try:
            raw = frames[0]
            return json.loads(bytes(raw.bytes if hasattr(raw, "bytes") else raw)).get("type")
        except Exception:
            return None

    @staticmethod
    def _peek_seq(frames: Sequence[Any]) -> int:
        try:
            raw = frames[0]
            seq = json.loads(bytes(raw.bytes if hasattr(raw, "bytes") else raw)).get("seq", -1)
            return seq if _is_int(seq) and -(2**53) < seq < 2**53 else -1
        except Exception:
            return -1

    def handle(self, msg: P.Message) -> Frames:
        """Handles one decoded request (see :meth:`handle_frames`).

        :raises RequestError: for an unknown type or a malformed request (caught by
            :meth:`handle_frames`).
        """
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
            self.end_session()
            return P.encode(P.CLOSED, msg.seq)
        raise RequestError(
            f"unknown message type {t!r} (expected one of {', '.join(P.REPLY_TYPES)})"
        )

    # -- handlers ----------------------------------------------------------------------------
    def _negotiate(self, h: Dict[str, Any]) -> Tuple[str, ...]:
        """Protocol version and capabilities of a HELLO (semver: major must match, minor may
        differ; the session uses the common capabilities)."""
        proto = h.get("protocol", h.get("v"))
        if P.major(proto) != P.major(PROTOCOL_VERSION):
            raise P.VersionMismatch(
                f"protocol version mismatch: client speaks {proto}, this bridge speaks {PROTOCOL_VERSION}"
            )
        caps = h.get("capabilities", [])
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise RequestError("HELLO.capabilities must be a list of strings")
        common = tuple(c for c in CAPABILITIES if c in caps)
        if proto != PROTOCOL_VERSION:
            print(
                f"sparse-rl-bridge: warning: client speaks protocol {proto}, this bridge {PROTOCOL_VERSION}; "
                f"using the common capabilities [{', '.join(common)}]",
                file=self.log,
                flush=True,
            )
        return common

    def _hello(self, msg: P.Message) -> Frames:
        h = msg.header
        token = h.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self.token.encode()):
            self.bad_tokens += 1
            print(f"sparse-rl-bridge: refused a HELLO with a wrong token ({self.bad_tokens} so far)", file=self.log, flush=True)
            raise RequestError("HELLO carried a wrong token")
        if self.vec is not None:
            if not self.rehello:
                raise RequestError("HELLO was already accepted; the environment exists")
            print("sparse-rl-bridge: new HELLO: closing the previous session", file=self.log, flush=True)
            self.end_session()
        caps = self._negotiate(h)
        env_id = h.get("env_id")
        if not isinstance(env_id, str) or not env_id:
            raise RequestError("HELLO.env_id must be a non-empty string")
        kwargs = h.get("kwargs", {})
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, dict):
            raise RequestError("HELLO.kwargs must be a JSON object")
        num_envs = h.get("num_envs", 1)
        if not _is_int(num_envs) or not 1 <= num_envs <= MAX_NUM_ENVS:
            raise RequestError(f"HELLO.num_envs must be an integer in [1, {MAX_NUM_ENVS}], got {num_envs!r}")
        seed = h.get("seed")
        if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**32):
            raise RequestError(f"HELLO.seed must be an integer in [0, 2**32), got {seed!r}")
        mode = h.get("vectorization", "sync")
        if mode not in ("sync", "async"):
            raise RequestError(f"HELLO.vectorization must be 'sync' or 'async', got {mode!r}")
        if mode == "async" and "vectorization.async" not in caps:
            raise RequestError("HELLO.vectorization 'async' needs the 'vectorization.async' capability")
        cls = AsyncVectorEnvAdapter if mode == "async" else VectorEnv
        vec = cls(env_id, kwargs, num_envs, clip_actions="actions.clip" in caps, extended_spaces="spaces.extended" in caps)
        try:
            fields = {
                "protocol": PROTOCOL_VERSION,
                "capabilities": list(caps),
                "versions": versions(),
                "observation_space": encode_space(vec.observation_space),
                "action_space": encode_space(vec.action_space, composite=False),
                "spec": {
                    "id": vec.spec.id if vec.spec is not None else env_id,
                    "max_episode_steps": vec.spec.max_episode_steps if vec.spec is not None else None,
                },
                "num_envs": num_envs,
                "vectorization": mode,
                "autoreset_mode": "same-step",
            }
        except BaseException:
            vec.close()
            raise
        self.vec = vec
        self.capabilities = caps
        self.default_seed = seed
        self.first_reset = True
        print(
            f"sparse-rl-bridge: serving {env_id} x{num_envs} ({mode}) "
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
        if msg.arrays:
            raise RequestError("RESET carries no arrays")
        seed = msg.header.get("seed")
        if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**32):
            raise RequestError(f"RESET.seed must be an integer in [0, 2**32), got {seed!r}")
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
        arrays, fields = vec.step(actions)
        if fields:
            return P.encode(P.STEP_RESULT, msg.seq, fields, arrays)
        # Fast path (most steps): the header differs only in seq, so it is built once.
        key = tuple(a.shape for _, a in arrays)
        cached = self._step_heads.get(key)
        if cached is None:
            text = bytes(P.encode(P.STEP_RESULT, 0, None, arrays)[0])
            pre, post = text.split(b'"seq":0', 1)
            cached = self._step_heads[key] = (pre + b'"seq":', post)
        return [b"%s%d%s" % (cached[0], msg.seq, cached[1]), *(a for _, a in arrays)]


# -- process-level helpers -------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_curve(ctx: "zmq.Context", sock: "zmq.Socket", secret_key_file: str, client_keys_dir: Optional[str], log):
    """Makes ``sock`` a CURVE server with the key pair in ``secret_key_file`` (a
    ``zmq.auth`` ``.key_secret`` file) and starts a ZAP authenticator admitting the public keys
    in ``client_keys_dir`` (``*.key`` files), or any client that speaks CURVE when None.

    :returns: the authenticator (stop it when done).
    :raises OSError / ValueError: unreadable or malformed key files.
    """
    import zmq.auth  # noqa: PLC0415
    from zmq.auth.thread import ThreadAuthenticator  # noqa: PLC0415

    public, secret = zmq.auth.load_certificate(secret_key_file)
    if secret is None:
        raise ValueError(f"{secret_key_file} holds no secret key (use the .key_secret file made by `sparse-rl-bridge keygen`)")
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=client_keys_dir if client_keys_dir else zmq.auth.CURVE_ALLOW_ANY)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    print(
        f"sparse-rl-bridge: CURVE on (server public key {public.decode()}; clients: "
        f"{'keys in ' + client_keys_dir if client_keys_dir else 'any key, authenticated by token'})",
        file=log,
        flush=True,
    )
    return auth


def serve(
    endpoint: str,
    token: str,
    idle_timeout: float = 0.0,
    parent_pid: Optional[int] = None,
    log=sys.stderr,
    bind: bool = False,
    curve_secret_key_file: Optional[str] = None,
    curve_client_keys_dir: Optional[str] = None,
    once: bool = False,
) -> int:
    """Serves requests on a REP socket until CLOSE, a fatal request, the parent's death, or
    ``idle_timeout`` seconds without a request (0 = never).

    :param endpoint: ZeroMQ endpoint; connected to (spawned by the client, the default) or, with
        ``bind``, bound (``sparse-rl-bridge serve``; e.g. ``tcp://0.0.0.0:5555``).
    :param bind: server mode: sessions are served one after another (a CLOSE, a fatal request
        or ``idle_timeout`` ends the session, not the process, unless ``once``); a HELLO with the
        right token replaces a session whose client vanished.
    :param curve_secret_key_file: enable CURVE encryption with this key pair (see
        :func:`_start_curve`).
    :param curve_client_keys_dir: with CURVE, admit only these client public keys.
    :returns: the process exit code (0 after CLOSE, 2 after a fatal request (protocol major
        mismatch), 4 when the parent died, 5 on idle timeout).
    """
    _route_mujoco_warnings(log)
    initial_ppid = os.getppid()
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 2000)
    poll_ms = 1000 if idle_timeout <= 0 else max(10, min(1000, int(idle_timeout * 1000)))
    sock.setsockopt(zmq.RCVTIMEO, poll_ms)
    auth = None
    if curve_secret_key_file:
        auth = _start_curve(ctx, sock, curve_secret_key_file, curve_client_keys_dir, log)
    if bind:
        sock.bind(endpoint)
        endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
    else:
        sock.connect(endpoint)
    print(
        f"sparse-rl-bridge {__version__} (protocol {PROTOCOL_VERSION}, pid {os.getpid()}) "
        f"{'listening on' if bind else 'connected to'} {endpoint}",
        file=log,
        flush=True,
    )
    server = BridgeServer(token, log, rehello=bind)
    last = time.monotonic()
    code = 0
    try:
        while True:
            try:
                frames = sock.recv_multipart()  # requests are small: plain bytes are cheapest
            except zmq.Again:
                if not bind and (os.getppid() != initial_ppid or (parent_pid is not None and not _alive(parent_pid))):
                    print("sparse-rl-bridge: parent process is gone; exiting", file=log, flush=True)
                    code = 4
                    break
                if idle_timeout > 0 and time.monotonic() - last > idle_timeout:
                    print(f"sparse-rl-bridge: no request for {idle_timeout:g} s; exiting", file=log, flush=True)
                    code = 5
                    if bind and not once:
                        server.end_session()
                        last = time.monotonic()
                        continue
                    break
                continue
            reply = server.handle_frames(frames)
            # copy=False: frames above pyzmq's copy_threshold (64 KB, e.g. image observations)
            # are sent zero-copy; reply arrays are fresh per request, so nothing mutates them.
            sock.send_multipart(reply, copy=False)
            last = time.monotonic()
            if server.stop:
                code = server.exit_code
                if bind and not once:
                    server.end_session()
                    server.stop = False
                    continue
                break
    finally:
        server.end_session()
        sock.close()
        if auth is not None:
            auth.stop()
        ctx.term()
    return code
