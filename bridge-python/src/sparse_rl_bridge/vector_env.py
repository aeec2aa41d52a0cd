"""The vector environments served by the bridge (``vectorization: "sync"`` / ``"async"``) and
the validation of STEP actions.

The vector environment is a list of ``gymnasium.make(env_id, **kwargs)`` instances stepped in
order with *same-step autoreset*: an env whose episode ends (terminated or truncated) at a STEP
is reset inside that STEP; the reply's ``observations`` row holds the new episode's first
observation and ``final_observations`` the finished episode's last one. This is exactly
``gymnasium.vector.SyncVectorEnv(..., autoreset_mode=AutoresetMode.SAME_STEP)`` semantics, with
env ``i`` seeded with ``seed + i`` at RESET and continuing its own RNG at autoresets.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import gymnasium as gym
import numpy as np

from gymnasium.vector.async_vector_env import AsyncState
from gymnasium.vector.vector_env import AutoresetMode

from . import protocol as P
from .errors import RequestError
from .spaces import UnsupportedSpaceError, encode_space, flat_dim, flattener

Frames = List[Any]


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
