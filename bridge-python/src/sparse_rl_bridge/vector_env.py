"""The vector environments served by the bridge (``vectorization: "sync"`` / ``"async"``) and
the validation of STEP actions.

The vector environment is a list of ``gymnasium.make(env_id, **kwargs)`` instances stepped in
order with *same-step autoreset*: an env whose episode ends (terminated or truncated) at a STEP
is reset inside that STEP; the reply's ``observations`` row holds the new episode's first
observation and ``final_observations`` the finished episode's last one. This is exactly
``gymnasium.vector.SyncVectorEnv(..., autoreset_mode=AutoresetMode.SAME_STEP)`` semantics, with
env ``i`` seeded with ``seed + i`` at RESET and continuing its own RNG at autoresets.

Both vector envs can capture and restore their state between two STEPs (GET_STATE / SET_STATE,
see :mod:`.env_state`): :meth:`VectorEnv.get_state` / :meth:`VectorEnv.set_state`.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import gymnasium as gym
import numpy as np

from gymnasium.vector.async_vector_env import AsyncState
from gymnasium.vector.vector_env import AutoresetMode

from . import protocol as P
from .env_state import NotRestorable, capture_env, restore_env, validate_env_state
from .errors import RequestError
from .spaces import UnsupportedSpaceError, encode_space, flat_dim, flattener
from .video import make_recording_env

Frames = List[Any]


#: Action arrays up to this many values are checked with Python floats (see ActionAdapter.convert).
_SMALL = 256


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
        if actions.size <= _SMALL:
            # Few values: Python floats are cheaper than numpy reductions. The float64 sum of
            # float32 values is finite exactly when every value is (it cannot overflow).
            vals = actions.ravel().tolist()
            finite = math.isfinite(sum(vals))
            lo, hi = (min(vals), max(vals)) if finite and vals else (0.0, 0.0)
        else:
            # min/max propagate NaN: two reductions check finiteness and, usually, the bounds too.
            lo, hi = float(actions.min()), float(actions.max())
            finite = math.isfinite(lo) and math.isfinite(hi)
        if not finite:
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
    :param video: ``{"dir", "name_prefix"}``: make every env with ``render_mode="rgb_array"`` and
        record every episode to MP4 (see :func:`.video.make_recording_env`).
    :raises UnsupportedSpaceError: for spaces the session cannot carry; Gymnasium's errors from
        ``gymnasium.make``; RequestError when video recording cannot work.
    """

    mode = "sync"

    def __init__(
        self,
        env_id: str,
        kwargs: Dict[str, Any],
        num_envs: int,
        clip_actions: bool = False,
        extended_spaces: bool = False,
        video: Optional[Dict[str, str]] = None,
    ):
        self.envs: List[gym.Env] = []
        self.last_obs: Optional[np.ndarray] = None
        try:
            for i in range(num_envs):
                self.envs.append(make_recording_env(env_id, kwargs, video, i, num_envs) if video else gym.make(env_id, **kwargs))
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
        self._flat_obs = isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1
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
        self.last_obs = obs
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
        # A 1-D Box observation is stored into its row as it is (what flatten's reshape(-1) gives).
        flat = self._flat_obs
        eps = self.episodes
        returns, lengths = eps.returns, eps.lengths
        i = 0
        try:
            for i, env in enumerate(self.envs):
                o, r, term, trunc, _info = env.step(per_env[i])
                r = float(r)
                rewards[i] = r
                returns[i] += r
                lengths[i] += 1
                if term or trunc:
                    terminated[i] = bool(term)
                    truncated[i] = bool(trunc)
                    final_idx.append(i)
                    finals.append(flatten(o))
                    episodes.append(eps.finish(i))
                    o, _info = env.reset()
                obs[i] = o if flat else flatten(o)
        except Exception as exc:
            self.needs_reset = True
            exc.env_index = i  # type: ignore[attr-defined]
            raise
        self.last_obs = obs
        return _result(obs, rewards, terminated, truncated, final_idx, finals, episodes, self.obs_dim, clipped)

    # -- state (GET_STATE / SET_STATE) ------------------------------------------------------
    def _capture_envs(self) -> List[Dict[str, Any]]:
        return [capture_env(env) for env in self.envs]

    def _restore_envs(self, states: List[Dict[str, Any]]) -> None:
        """Validates every env's state, then applies them all (``needs_reset`` when applying fails)."""
        for i, (env, st) in enumerate(zip(self.envs, states)):
            try:
                validate_env_state(env, st, i)
            except (RequestError, NotRestorable):
                raise
            except Exception as exc:
                raise RequestError(f"SET_STATE: envs[{i}] is malformed ({type(exc).__name__}: {exc})") from None
        try:
            for env, st in zip(self.envs, states):
                restore_env(env, st)
        except Exception:
            self.needs_reset = True
            raise

    def get_state(self) -> Tuple[np.ndarray, List[float], List[int], List[Dict[str, Any]]]:
        """The vector's state between two STEPs: ``(observations [num_envs, obs_dim] float32,
        episode returns, episode lengths, per-env states of :func:`.env_state.capture_env`)``.

        :raises NotRestorable: before the first RESET or after an env raised (a RESET is
            pending), or for an env whose state cannot be captured completely (the reason).
        """
        if self.needs_reset or self.last_obs is None:
            raise NotRestorable("the envs need a RESET first (none was made yet, or an env raised)")
        envs = self._capture_envs()
        return self.last_obs.copy(), list(self.episodes.returns), list(self.episodes.lengths), envs

    def set_state(self, observations: np.ndarray, returns: List[float], lengths: List[int], states: List[Dict[str, Any]]) -> np.ndarray:
        """Restores a state of :meth:`get_state` (checked first: on a mismatch nothing changes).

        :returns: the restored observations ``[num_envs, obs_dim]`` float32.
        :raises RequestError: a per-env state that does not fit (names the field);
            NotRestorable: an env of this vector cannot be restored.
        """
        self._restore_envs(states)
        self.episodes.returns[:] = [float(x) for x in returns]
        self.episodes.lengths[:] = [int(x) for x in lengths]
        self.last_obs = np.array(observations, dtype=np.float32, copy=True)
        self.needs_reset = False
        return self.last_obs

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


class _StateAccess(gym.Wrapper):
    """Outermost wrapper of each async worker's env: lets the bridge capture and restore the env
    inside its worker (``AsyncVectorEnv.call`` / ``set_attr``); reset and step pass straight
    through. Its methods never raise (a worker exits after any exception): they answer
    ``{"ok": bool, ...}``."""

    #: ``{"index", "state"}`` to restore, set by ``set_attr("srl_pending", [...])``.
    srl_pending: Any = None

    def srl_capture(self) -> Dict[str, Any]:
        try:
            return {"ok": True, "state": capture_env(self.env)}
        except NotRestorable as exc:
            return {"ok": False, "not_restorable": str(exc)}
        except Exception as exc:  # pragma: no cover - defensive
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    def srl_validate(self) -> Dict[str, Any]:
        try:
            validate_env_state(self.env, self.srl_pending["state"], self.srl_pending["index"])
            return {"ok": True}
        except NotRestorable as exc:
            return {"ok": False, "not_restorable": str(exc)}
        except RequestError as exc:
            return {"ok": False, "request": str(exc)}
        except Exception as exc:  # pragma: no cover - defensive
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    def srl_apply(self) -> Dict[str, Any]:
        try:
            restore_env(self.env, self.srl_pending["state"])
            return {"ok": True}
        except Exception as exc:  # pragma: no cover - validated before
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            self.srl_pending = None


def _make_flat(env_id: str, kwargs: Dict[str, Any]) -> gym.Env:
    env = gym.make(env_id, **kwargs)
    if isinstance(env.observation_space, (gym.spaces.Dict, gym.spaces.Tuple)):
        env = gym.wrappers.FlattenObservation(env)
    return _StateAccess(env)


class AsyncVectorEnvAdapter(VectorEnv):
    """``num_envs`` copies in worker processes: ``gymnasium.vector.AsyncVectorEnv`` with
    ``autoreset_mode=SAME_STEP`` (``vectorization: "async"``). Same wire results as
    :class:`VectorEnv` (tested bit for bit); Dict/Tuple observations are flattened inside the
    workers with ``FlattenObservation`` (same layout). After an env raised, the workers are
    rebuilt at the next RESET.
    """

    mode = "async"

    def __init__(
        self,
        env_id: str,
        kwargs: Dict[str, Any],
        num_envs: int,
        clip_actions: bool = False,
        extended_spaces: bool = False,
        video: Optional[Dict[str, str]] = None,
    ):
        if video:
            raise RequestError("video recording needs vectorization 'sync' (the evaluation env is always sync)")
        self.envs = []
        self.last_obs = None
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
        self.last_obs = self._obs(o)
        return self.last_obs

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
        self.last_obs = obs
        return _result(obs, rewards, terminated, truncated, final_idx, finals, episodes, self.obs_dim, clipped)

    def _worker_results(self, name: str, *args: Any) -> List[Dict[str, Any]]:
        if self.vec is None:
            raise NotRestorable("the envs need a RESET first (the workers are being rebuilt after an env raised)")
        try:
            return list(self.vec.call(name, *args))
        except Exception:
            self.needs_reset = True
            self._discard()
            raise

    def _capture_envs(self) -> List[Dict[str, Any]]:
        states = []
        for i, r in enumerate(self._worker_results("srl_capture")):
            if not r["ok"]:
                if "not_restorable" in r:
                    raise NotRestorable(r["not_restorable"])
                raise RuntimeError(f"env {i}: {r['error']}")
            states.append(r["state"])
        return states

    def _restore_envs(self, states: List[Dict[str, Any]]) -> None:
        if self.vec is None:
            self._build()
        try:
            self.vec.set_attr("srl_pending", [{"index": i, "state": st} for i, st in enumerate(states)])
        except Exception:
            self.needs_reset = True
            self._discard()
            raise
        for i, r in enumerate(self._worker_results("srl_validate")):
            if not r["ok"]:
                if "request" in r:
                    raise RequestError(r["request"])
                if "not_restorable" in r:
                    raise NotRestorable(r["not_restorable"])
                raise RequestError(f"SET_STATE: envs[{i}] is malformed ({r['error']})")
        failed = [f"env {i}: {r['error']}" for i, r in enumerate(self._worker_results("srl_apply")) if not r["ok"]]
        if failed:
            self.needs_reset = True
            raise RuntimeError(f"restoring the state failed in a worker ({'; '.join(failed)})")

    def close(self) -> None:
        """Stops the worker processes."""
        self._discard()
