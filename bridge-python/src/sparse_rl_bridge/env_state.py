"""Capture and restore of Gymnasium MuJoCo envs mid-episode (GET_STATE / SET_STATE, protocol 1.2).

A *state payload* is UTF-8 JSON (never pickle): floats travel as base64 of little-endian arrays,
integers that may exceed 2**53 (the PCG64 state, entropy seeds) as decimal strings. It holds
everything a Gymnasium MuJoCo v5 env needs to continue **bit for bit** between two STEPs:

- per env, the MuJoCo physics state ``mj_getState(..., mjSTATE_INTEGRATION)`` (time, qpos, qvel,
  act, the solver warm start, ctrl, applied forces, mocap, userdata, plugin state, history), plus
  the derived MjData arrays that the v5 envs read *before* they simulate (e.g. Ant's torso
  ``xpos``, Humanoid's ``xipos``: after ``mj_step`` these still hold the kinematics of the last
  substep's start, which the physics state alone does not determine; see :data:`DERIVED_FIELDS`);
- per env, the ``np_random`` bit-generator state (PCG64) and ``_np_random_seed``;
- per env, the state of each wrapper of ``gymnasium.make``'s stack: ``TimeLimit._elapsed_steps``,
  ``OrderEnforcing._has_reset``, ``PassiveEnvChecker``'s ``checked_*`` flags;
- per env, the Python attributes of the few v5 envs that keep arrays between reset and step
  (Reacher's ``goal``, Pusher's ``cylinder_pos`` / ``goal_pos``);
- for the vector, the last observations and the episode statistics accumulators.

Same-step autoreset has no pending autoreset flag: an env whose episode ended was already reset
inside that STEP. Only what is proven to be captured is claimed restorable: the env class must be
one of :data:`MUJOCO_V5_ENVS` (exact class, no subclass) and every wrapper one of
:data:`KNOWN_WRAPPERS`; anything else (non-MuJoCo envs, RecordVideo, unknown wrappers) answers
"not restorable" with the reason.

Payload layout (``format: "sparse-rl-env-state"``, ``format_version: 1``)::

    {"format", "format_version", "env_id", "kwargs", "num_envs", "obs_dim", "vectorization",
     "versions": {"gymnasium", "mujoco", "numpy"},
     "observations": b64 <f4 [num_envs * obs_dim], "episode_returns": b64 <f8 [num_envs],
     "episode_lengths": [int, ...],
     "envs": [{"class", "wrappers": [{"type", ...fields}], "np_random": {"bit_generator": "PCG64",
               "state": str, "inc": str, "has_uint32": int, "uinteger": int},
               "np_random_seed": str | null,
               "mujoco": {"spec": int, "state": b64 <f8, "derived": {name: b64 <f8}},
               "attrs": {name: {"dtype", "shape", "data": b64}}}, ...]}
"""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np

from .errors import RequestError

STATE_FORMAT = "sparse-rl-env-state"
STATE_FORMAT_VERSION = 1

#: Gymnasium MuJoCo v5 env classes whose Python-side state is fully known: the class's qualified
#: name -> the array attributes it keeps between reset and step (beyond ``np_random``), captured
#: too. Checked against each class's ``step``/``reset_model`` in Gymnasium 1.2 (and by the tests,
#: which round-trip every one of them).
MUJOCO_V5_ENVS: Dict[str, Tuple[str, ...]] = {
    "gymnasium.envs.mujoco.ant_v5.AntEnv": (),
    "gymnasium.envs.mujoco.half_cheetah_v5.HalfCheetahEnv": (),
    "gymnasium.envs.mujoco.hopper_v5.HopperEnv": (),
    "gymnasium.envs.mujoco.humanoid_v5.HumanoidEnv": (),
    "gymnasium.envs.mujoco.humanoidstandup_v5.HumanoidStandupEnv": (),
    "gymnasium.envs.mujoco.inverted_double_pendulum_v5.InvertedDoublePendulumEnv": (),
    "gymnasium.envs.mujoco.inverted_pendulum_v5.InvertedPendulumEnv": (),
    "gymnasium.envs.mujoco.pusher_v5.PusherEnv": ("cylinder_pos", "goal_pos"),
    "gymnasium.envs.mujoco.reacher_v5.ReacherEnv": ("goal",),
    "gymnasium.envs.mujoco.swimmer_v5.SwimmerEnv": (),
    "gymnasium.envs.mujoco.walker2d_v5.Walker2dEnv": (),
}

#: Wrappers of ``gymnasium.make``'s stack (exact classes) -> the attributes that are their state.
KNOWN_WRAPPERS: Dict[str, Tuple[str, ...]] = {
    "gymnasium.wrappers.common.TimeLimit": ("_elapsed_steps",),
    "gymnasium.wrappers.common.OrderEnforcing": ("_has_reset",),
    "gymnasium.wrappers.common.PassiveEnvChecker": ("checked_reset", "checked_step", "checked_render"),
}

#: Derived (model-sized) MjData arrays restored after ``mj_setState``: the kinematics, com-based
#: and force quantities that ``mj_step`` + ``mj_rnePostConstraint`` leave behind and that an env
#: may read before its next ``do_simulation``. Everything else is recomputed by ``mj_step`` from
#: the physics state.
DERIVED_FIELDS: Tuple[str, ...] = (
    "xpos", "xquat", "xmat", "xipos", "ximat", "xanchor", "xaxis",
    "geom_xpos", "geom_xmat", "site_xpos", "site_xmat", "cam_xpos", "cam_xmat",
    "subtree_com", "cinert", "cdof", "cvel", "cdof_dot", "cacc", "cfrc_int", "cfrc_ext",
    "subtree_linvel", "subtree_angmom",
    "actuator_length", "actuator_velocity", "actuator_force", "qfrc_actuator",
    "qfrc_bias", "qfrc_passive", "qfrc_constraint", "qfrc_smooth", "qacc_smooth", "qacc",
    "ten_length", "ten_velocity", "sensordata", "energy",
)


class NotRestorable(Exception):
    """The env's state cannot be captured completely; ``str(exc)`` is the reason."""


def _qualname(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _b64(arr: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype=np.dtype(dtype)).tobytes()).decode("ascii")


def _unb64(text: Any, dtype: str, count: int, what: str) -> np.ndarray:
    if not isinstance(text, str):
        raise RequestError(f"SET_STATE: {what} must be a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except Exception:
        raise RequestError(f"SET_STATE: {what} is not valid base64") from None
    dt = np.dtype(dtype)
    if len(raw) != count * dt.itemsize:
        raise RequestError(f"SET_STATE: {what} holds {len(raw) // dt.itemsize} values, this env needs {count}")
    return np.frombuffer(raw, dtype=dt, count=count).copy()


def _big_int(x: Any, what: str) -> int:
    if not isinstance(x, str) or not x.lstrip("-").isdigit():
        raise RequestError(f"SET_STATE: {what} must be a decimal string")
    return int(x)


def _wrappers(env: gym.Env) -> List[gym.Wrapper]:
    out = []
    while isinstance(env, gym.Wrapper):
        out.append(env)
        env = env.env
    return out


def check_restorable(env: gym.Env) -> None:
    """Checks that every piece of ``env``'s state is known (see the module docstring).

    :raises NotRestorable: naming the env class or wrapper that is not known.
    """
    for w in _wrappers(env):
        name = _qualname(w)
        if name not in KNOWN_WRAPPERS:
            raise NotRestorable(f"wrapper {name} is not one whose state the bridge can capture (known: {', '.join(KNOWN_WRAPPERS)})")
    u = env.unwrapped
    cls = _qualname(u)
    if cls not in MUJOCO_V5_ENVS:
        raise NotRestorable(
            f"{cls} is not a Gymnasium MuJoCo v5 env whose state the bridge can capture "
            "(state capture covers the MuJoCo v5 tasks: physics state, RNG, time limit)"
        )
    if getattr(u, "_np_random", None) is None:
        raise NotRestorable("the env has not been reset yet")
    if u.np_random.bit_generator.state.get("bit_generator") != "PCG64":
        raise NotRestorable(f"np_random uses {u.np_random.bit_generator.state.get('bit_generator')}, only PCG64 is captured")


def _array_attr(value: Any) -> Dict[str, Any]:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise NotRestorable(f"attribute of dtype {arr.dtype} cannot be captured")
    dt = arr.dtype.newbyteorder("<").str
    return {"dtype": dt, "shape": list(arr.shape), "data": _b64(arr, dt)}


def capture_env(env: gym.Env) -> Dict[str, Any]:
    """The JSON-ready state of one env (a ``gymnasium.make`` result) between two steps.

    :raises NotRestorable: see :func:`check_restorable`.
    """
    import mujoco  # noqa: PLC0415 - only MuJoCo envs get here

    check_restorable(env)
    u = env.unwrapped
    m, d = u.model, u.data
    spec = int(mujoco.mjtState.mjSTATE_INTEGRATION)
    state = np.empty(mujoco.mj_stateSize(m, spec), dtype=np.float64)
    mujoco.mj_getState(m, d, state, spec)
    bg = u.np_random.bit_generator.state
    seed = getattr(u, "_np_random_seed", None)
    wrappers = []
    for w in _wrappers(env):
        name = _qualname(w)
        entry: Dict[str, Any] = {"type": name}
        for attr in KNOWN_WRAPPERS[name]:
            v = getattr(w, attr)
            if v is not None and not isinstance(v, (bool, int)):
                raise NotRestorable(f"{name}.{attr} is {type(v).__name__}, not an int or bool")
            entry[attr.lstrip("_")] = v if isinstance(v, bool) or v is None else int(v)
        wrappers.append(entry)
    return {
        "class": _qualname(u),
        "wrappers": wrappers,
        "np_random": {
            "bit_generator": "PCG64",
            "state": str(int(bg["state"]["state"])),
            "inc": str(int(bg["state"]["inc"])),
            "has_uint32": int(bg["has_uint32"]),
            "uinteger": int(bg["uinteger"]),
        },
        "np_random_seed": None if seed is None else str(int(seed)),
        "mujoco": {
            "spec": spec,
            "state": _b64(state, "<f8"),
            "derived": {name: _b64(getattr(d, name), "<f8") for name in DERIVED_FIELDS if hasattr(d, name)},
        },
        "attrs": {name: _array_attr(getattr(u, name)) for name in MUJOCO_V5_ENVS[_qualname(u)]},
    }


def validate_env_state(env: gym.Env, s: Any, index: int) -> None:
    """Checks that state ``s`` (one entry of a payload's ``envs``) fits ``env``, without changing it.

    :raises RequestError: naming what does not match; :raises NotRestorable: ``env`` itself
        cannot be restored (unknown class or wrapper).
    """
    import mujoco  # noqa: PLC0415

    where = f"envs[{index}]"
    if not isinstance(s, dict):
        raise RequestError(f"SET_STATE: {where} must be an object")
    for w in _wrappers(env):
        if _qualname(w) not in KNOWN_WRAPPERS:
            raise NotRestorable(f"wrapper {_qualname(w)} is not one whose state the bridge can restore")
    u = env.unwrapped
    if s.get("class") != _qualname(u):
        raise RequestError(f"SET_STATE: {where}.class is {s.get('class')!r}, this env is {_qualname(u)!r}")
    if _qualname(u) not in MUJOCO_V5_ENVS:
        raise NotRestorable(f"{_qualname(u)} is not a Gymnasium MuJoCo v5 env whose state the bridge can restore")
    types = [w.get("type") if isinstance(w, dict) else None for w in s.get("wrappers", [])] if isinstance(s.get("wrappers"), list) else None
    mine = [_qualname(w) for w in _wrappers(env)]
    if types != mine:
        raise RequestError(f"SET_STATE: {where}.wrappers are {types}, this env has {mine}")
    for w, entry in zip(_wrappers(env), s["wrappers"]):
        for attr in KNOWN_WRAPPERS[_qualname(w)]:
            key = attr.lstrip("_")
            v = entry.get(key, "missing")
            if key == "elapsed_steps":
                ok = v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)
            else:
                ok = isinstance(v, bool)
            if not ok:
                raise RequestError(f"SET_STATE: {where}.wrappers {_qualname(w)}.{key} is {v!r}")
    r = s.get("np_random")
    if not isinstance(r, dict) or r.get("bit_generator") != "PCG64":
        raise RequestError(f"SET_STATE: {where}.np_random must be a PCG64 state")
    _big_int(r.get("state"), f"{where}.np_random.state")
    _big_int(r.get("inc"), f"{where}.np_random.inc")
    if s.get("np_random_seed") is not None:
        _big_int(s.get("np_random_seed"), f"{where}.np_random_seed")
    mj = s.get("mujoco")
    if not isinstance(mj, dict) or mj.get("spec") != int(mujoco.mjtState.mjSTATE_INTEGRATION):
        raise RequestError(f"SET_STATE: {where}.mujoco.spec must be mjSTATE_INTEGRATION ({int(mujoco.mjtState.mjSTATE_INTEGRATION)})")
    _unb64(mj.get("state"), "<f8", mujoco.mj_stateSize(u.model, mj["spec"]), f"{where}.mujoco.state")
    derived = mj.get("derived")
    want = [name for name in DERIVED_FIELDS if hasattr(u.data, name)]
    if not isinstance(derived, dict) or sorted(derived) != sorted(want):
        raise RequestError(f"SET_STATE: {where}.mujoco.derived must hold {want}")
    for name in want:
        _unb64(derived[name], "<f8", getattr(u.data, name).size, f"{where}.mujoco.derived.{name}")
    attrs = s.get("attrs")
    names = MUJOCO_V5_ENVS[_qualname(u)]
    if not isinstance(attrs, dict) or sorted(attrs) != sorted(names):
        raise RequestError(f"SET_STATE: {where}.attrs must hold {list(names)}")
    for name in names:
        _attr_array(u, name, attrs[name], f"{where}.attrs.{name}")


def _attr_array(u: gym.Env, name: str, a: Any, what: str) -> np.ndarray:
    """Decodes a captured array attribute; its shape must be the one ``u`` has (an env that was
    never reset may not have the attribute yet: then the saved shape, at most 1024 entries)."""
    if not isinstance(a, dict) or not isinstance(a.get("dtype"), str) or not isinstance(a.get("shape"), list):
        raise RequestError(f"SET_STATE: {what} must be an object with dtype, shape and data")
    shape = a["shape"]
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in shape):
        raise RequestError(f"SET_STATE: {what}.shape must be a list of non-negative integers")
    if hasattr(u, name):
        cur = list(np.shape(getattr(u, name)))
        if shape != cur:
            raise RequestError(f"SET_STATE: {what}.shape is {shape}, this env has {cur}")
    count = int(np.prod(shape)) if shape else 1
    if count > 1024:
        raise RequestError(f"SET_STATE: {what} is too large ({count} entries)")
    try:
        dt = np.dtype(a["dtype"])
    except TypeError:
        raise RequestError(f"SET_STATE: {what}.dtype {a['dtype']!r} is not a dtype") from None
    if dt.kind not in "fiu" or dt.byteorder == ">":
        raise RequestError(f"SET_STATE: {what}.dtype must be a little-endian numeric dtype")
    return _unb64(a.get("data"), a["dtype"], count, what).reshape(shape)


def restore_env(env: gym.Env, s: Mapping[str, Any]) -> None:
    """Restores a state of :func:`capture_env` into ``env`` (validate first with
    :func:`validate_env_state`; this only applies it)."""
    import mujoco  # noqa: PLC0415

    u = env.unwrapped
    m, d = u.model, u.data
    mj = s["mujoco"]
    mujoco.mj_setState(m, d, _unb64(mj["state"], "<f8", mujoco.mj_stateSize(m, mj["spec"]), "state"), mj["spec"])
    for name, text in mj["derived"].items():
        target = getattr(d, name)
        target[...] = _unb64(text, "<f8", target.size, name).reshape(target.shape)
    r = s["np_random"]
    gen = np.random.Generator(np.random.PCG64())
    gen.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int(r["state"]), "inc": int(r["inc"])},
        "has_uint32": int(r["has_uint32"]),
        "uinteger": int(r["uinteger"]),
    }
    u._np_random = gen
    u._np_random_seed = None if s["np_random_seed"] is None else int(s["np_random_seed"])
    for name, a in s["attrs"].items():
        setattr(u, name, _attr_array(u, name, a, name))
    for w, entry in zip(_wrappers(env), s["wrappers"]):
        for attr in KNOWN_WRAPPERS[_qualname(w)]:
            setattr(w, attr, entry[attr.lstrip("_")])


# -- the payload -------------------------------------------------------------------------------
def _canonical(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"))


def encode_payload(
    env_id: str,
    kwargs: Mapping[str, Any],
    vectorization: str,
    versions: Mapping[str, str],
    observations: np.ndarray,
    returns: Sequence[float],
    lengths: Sequence[int],
    envs: Sequence[Dict[str, Any]],
) -> bytes:
    """The payload bytes (UTF-8 JSON) of a vector env's state (see the module docstring)."""
    n, obs_dim = observations.shape
    doc = {
        "format": STATE_FORMAT,
        "format_version": STATE_FORMAT_VERSION,
        "env_id": env_id,
        "kwargs": dict(kwargs),
        "num_envs": int(n),
        "obs_dim": int(obs_dim),
        "vectorization": vectorization,
        "versions": {k: versions[k] for k in ("gymnasium", "mujoco", "numpy") if k in versions},
        "observations": _b64(observations, "<f4"),
        "episode_returns": _b64(np.asarray(returns, dtype=np.float64), "<f8"),
        "episode_lengths": [int(x) for x in lengths],
        "envs": list(envs),
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")


def decode_payload(
    raw: bytes, env_id: str, kwargs: Mapping[str, Any], num_envs: int, obs_dim: int, versions: Mapping[str, str]
) -> Dict[str, Any]:
    """Parses and checks a payload against this session (env id, kwargs, number of envs,
    observation size, Gymnasium / MuJoCo / NumPy versions).

    :returns: the payload with ``observations`` (float32 ``[num_envs, obs_dim]``),
        ``episode_returns`` (list of float) and ``episode_lengths`` decoded.
    :raises RequestError: not a payload of this format, or a field that does not match (the
        message names the field and both values).
    """
    try:
        doc = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(f"SET_STATE: the state is not a {STATE_FORMAT} payload (not UTF-8 JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
        raise RequestError(f"SET_STATE: the state is not a {STATE_FORMAT} payload")
    if doc.get("format_version") != STATE_FORMAT_VERSION:
        raise RequestError(f"SET_STATE: format_version {doc.get('format_version')!r} is not supported (this bridge reads {STATE_FORMAT_VERSION})")
    for field, mine in (("env_id", env_id), ("num_envs", num_envs), ("obs_dim", obs_dim)):
        if doc.get(field) != mine:
            raise RequestError(f"SET_STATE: {field} mismatch: the state is of {field} {doc.get(field)!r}, this session has {mine!r}")
    if _canonical(doc.get("kwargs")) != _canonical(dict(kwargs)):
        raise RequestError(f"SET_STATE: kwargs mismatch: the state is of kwargs {_canonical(doc.get('kwargs'))}, this session has {_canonical(dict(kwargs))}")
    theirs = doc.get("versions") if isinstance(doc.get("versions"), dict) else {}
    for k in ("gymnasium", "mujoco", "numpy"):
        if theirs.get(k) != versions.get(k):
            raise RequestError(
                f"SET_STATE: versions.{k} mismatch: the state was saved with {k} {theirs.get(k)!r}, this bridge runs {versions.get(k)!r} "
                "(a bit-exact continuation needs the same versions)"
            )
    envs = doc.get("envs")
    if not isinstance(envs, list) or len(envs) != num_envs:
        raise RequestError(f"SET_STATE: envs must be a list of {num_envs} env states")
    lengths = doc.get("episode_lengths")
    if not isinstance(lengths, list) or len(lengths) != num_envs or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in lengths):
        raise RequestError(f"SET_STATE: episode_lengths must be {num_envs} non-negative integers")
    doc["observations"] = _unb64(doc.get("observations"), "<f4", num_envs * obs_dim, "observations").reshape(num_envs, obs_dim)
    doc["episode_returns"] = _unb64(doc.get("episode_returns"), "<f8", num_envs, "episode_returns").tolist()
    return doc


__all__ = [
    "DERIVED_FIELDS", "KNOWN_WRAPPERS", "MUJOCO_V5_ENVS", "NotRestorable", "STATE_FORMAT", "STATE_FORMAT_VERSION",
    "capture_env", "check_restorable", "decode_payload", "encode_payload", "restore_env", "validate_env_state",
]
