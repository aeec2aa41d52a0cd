"""GET_STATE / SET_STATE (protocol 1.2, capability ``state.snapshot``): a state captured mid-episode
and restored into a *fresh* bridge continues bit for bit (real MuJoCo, sync and async, episode
ends and autoresets included); mismatches are refused naming the field; envs that cannot be
captured say why. Every header is checked against schemas/bridge-protocol.schema.json."""

import json

import gymnasium as gym
import numpy as np
import pytest

from sparse_rl_bridge import CAPABILITIES
from sparse_rl_bridge import env_state as S
from sparse_rl_bridge import protocol as P

from conftest import actions

K, M = 40, 120  # steps before the capture, steps compared after it


def _steps(b, acts):
    """Steps ``b`` with each of ``acts``; returns every array and the episode headers."""
    out = []
    for a in acts:
        s = b.request(P.STEP, None, [("actions", a)], check=False)
        assert s.type == P.STEP_RESULT, s.header
        out.append(({k: np.array(v) for k, v in s.arrays.items()}, s.header.get("final_indices"), s.header.get("episodes")))
    return out


def _assert_same(ref, got):
    assert len(ref) == len(got)
    for t, ((ra, ri, re), (ga, gi, ge)) in enumerate(zip(ref, got)):
        assert ri == gi and re == ge, f"step {t}: episodes differ: {re} vs {ge}"
        assert sorted(ra) == sorted(ga), t
        for k in ra:
            assert ra[k].dtype == ga[k].dtype and np.array_equal(ra[k], ga[k]), f"step {t}: {k} differs"


def _get_state(b) -> bytes:
    r = b.request(P.GET_STATE)
    assert r.type == P.GET_STATE_RESULT and r.header["restorable"] is True, r.header
    return r.arrays["state"].tobytes()


def _set_state(b, payload: bytes) -> P.Message:
    return b.request(P.SET_STATE, None, [("state", np.frombuffer(payload, dtype=np.uint8))])


CASES = [
    # HalfCheetah never terminates: a 60-step time limit puts a truncation + autoreset inside M.
    ("HalfCheetah-v5", {"max_episode_steps": 60}, "sync", "sync"),
    ("HalfCheetah-v5", {"max_episode_steps": 60}, "async", "async"),
    ("Hopper-v5", {}, "sync", "sync"),
    ("Hopper-v5", {}, "async", "async"),
    ("Hopper-v5", {}, "sync", "async"),  # the payload does not depend on the vectorization
]


@pytest.mark.parametrize("env_id,kwargs,save_mode,restore_mode", CASES)
def test_restored_state_continues_bit_for_bit(bridge_factory, env_id, kwargs, save_mode, restore_mode):
    a = bridge_factory()
    w = a.hello(env_id, num_envs=2, seed=7, kwargs=kwargs, vectorization=save_mode)
    assert "state.snapshot" in w.header["capabilities"]
    act_dim = w.header["action_space"]["shape"][0]
    rng = np.random.default_rng(11)
    acts = [rng.uniform(-1, 1, (2, act_dim)).astype(np.float32) for _ in range(K + M)]
    a.request(P.RESET, {})
    before = _steps(a, acts[:K])
    payload = _get_state(a)
    ref = _steps(a, acts[K:])
    ends = sum(len(i or []) for _, i, _ in ref)
    assert ends >= 1, "the compared steps must include an episode end (autoreset: np_random matters)"
    assert any(i for _, i, _ in before) or env_id == "HalfCheetah-v5"  # Hopper also ends before the capture
    ref_reset = a.request(P.RESET, {}).arrays["observations"].copy()  # continues each env's RNG

    b = bridge_factory()  # a fresh bridge: other HELLO seed, never reset
    b.hello(env_id, num_envs=2, seed=999, kwargs=kwargs, vectorization=restore_mode)
    r = _set_state(b, payload)
    assert r.type == P.SET_STATE_RESULT
    np.testing.assert_array_equal(r.arrays["observations"], before[-1][0]["observations"])
    assert r.arrays["episode_lengths"].dtype == np.int64 and r.arrays["episode_returns"].dtype == np.float64
    _assert_same(ref, _steps(b, acts[K:]))
    # A RESET without seed continues the restored RNG streams (not HELLO's seed 999).
    np.testing.assert_array_equal(b.request(P.RESET, {}).arrays["observations"], ref_reset)


def test_restore_into_a_bridge_that_has_been_stepping(bridge_factory):
    a = bridge_factory()
    a.hello("Ant-v5", num_envs=1, seed=3)
    a.request(P.RESET, {})
    rng = np.random.default_rng(5)
    acts = [rng.uniform(-1, 1, (1, 8)).astype(np.float32) for _ in range(60)]
    _steps(a, acts[:20])
    payload = _get_state(a)
    ref = _steps(a, acts[20:])
    b = bridge_factory()
    b.hello("Ant-v5", num_envs=1)
    b.request(P.RESET, {"seed": 123})
    _steps(b, acts[:7])
    _set_state(b, payload)
    _assert_same(ref, _steps(b, acts[20:]))


def test_the_payload_is_versioned_json_with_big_ints_as_strings(bridge):
    bridge.hello("Hopper-v5", num_envs=2, kwargs={"ctrl_cost_weight": 0.002})
    bridge.request(P.RESET, {"seed": 1})
    bridge.request(P.STEP, None, [("actions", actions(2, 3, 0.1))])
    doc = json.loads(_get_state(bridge).decode("utf-8"))
    assert doc["format"] == "sparse-rl-env-state" and doc["format_version"] == 1
    assert (doc["env_id"], doc["kwargs"], doc["num_envs"], doc["obs_dim"]) == ("Hopper-v5", {"ctrl_cost_weight": 0.002}, 2, 11)
    assert set(doc["versions"]) == {"gymnasium", "mujoco", "numpy"}
    env0 = doc["envs"][0]
    assert env0["class"] == "gymnasium.envs.mujoco.hopper_v5.HopperEnv"
    assert [w["type"].rsplit(".", 1)[1] for w in env0["wrappers"]] == ["TimeLimit", "OrderEnforcing", "PassiveEnvChecker"]
    assert env0["wrappers"][0]["elapsed_steps"] == 1
    assert isinstance(env0["np_random"]["state"], str) and int(env0["np_random"]["state"]) > 2**53
    assert env0["np_random_seed"] == "1" and doc["envs"][1]["np_random_seed"] == "2"
    assert doc["episode_lengths"] == [1, 1]


def test_mismatches_are_refused_naming_the_field_and_change_nothing(bridge_factory):
    a = bridge_factory()
    a.hello("HalfCheetah-v5", num_envs=2, seed=1)
    a.request(P.RESET, {})
    payload = _get_state(a)
    for env_id, n, kwargs, field in [
        ("Hopper-v5", 2, {}, "env_id mismatch"),
        ("HalfCheetah-v5", 1, {}, "num_envs mismatch"),
        ("HalfCheetah-v5", 2, {"ctrl_cost_weight": 0.2}, "kwargs mismatch"),
    ]:
        b = bridge_factory()
        b.hello(env_id, num_envs=n, kwargs=kwargs)
        r = _set_state(b, payload)
        assert r.type == P.ERROR and field in r.header["message"], r.header["message"]
        b.request(P.CLOSE)
    b = bridge_factory()
    b.hello("HalfCheetah-v5", num_envs=2)
    b.request(P.RESET, {"seed": 1})
    for bad, match in [
        (b"\x80\x81 not json", "not a sparse-rl-env-state payload"),
        (b'{"format": "other"}', "not a sparse-rl-env-state payload"),
        (payload.replace(b'"format_version":1', b'"format_version":9'), "format_version 9"),
        (payload.replace(b'"mujoco":{"spec"', b'"mujoco":{"spek"', 1), "mujoco.spec"),
        (payload.replace(b'"versions":{"gymnasium":"', b'"versions":{"gymnasium":"0.0-', 1), "versions.gymnasium mismatch"),
    ]:
        r = _set_state(b, bad)
        assert r.type == P.ERROR and match in r.header["message"], (match, r.header["message"])
    # Nothing changed: the envs still continue their own episode (same as a fresh one seeded 1).
    ref = bridge_factory()
    ref.hello("HalfCheetah-v5", num_envs=2)
    ref.request(P.RESET, {"seed": 1})
    acts = [actions(2, 6, 0.3)] * 3
    _assert_same(_steps(ref, acts), _steps(b, acts))


def test_envs_that_cannot_be_captured_say_why(bridge_factory):
    b = bridge_factory()
    b.hello("CartPole-v1", num_envs=1)
    r = b.request(P.GET_STATE)
    assert r.header == {**r.header, "restorable": False} and "RESET first" in r.header["reason"]
    b.request(P.RESET, {"seed": 0})
    r = b.request(P.GET_STATE)
    assert r.header["restorable"] is False
    assert "CartPoleEnv is not a Gymnasium MuJoCo v5 env" in r.header["reason"], r.header["reason"]
    h = bridge_factory()
    h.hello("HalfCheetah-v5", num_envs=1)
    h.request(P.RESET, {"seed": 0})
    r = _set_state(b, _get_state(h))
    assert r.type == P.ERROR and "env_id mismatch" in r.header["message"]
    # A wrapper whose state is not known (here, async with Dict observations flattened in the
    # worker) is refused too.
    d = bridge_factory()
    d.hello("spaces_env:DictObs-v0", num_envs=1, vectorization="async")
    d.request(P.RESET, {"seed": 0})
    r = d.request(P.GET_STATE)
    assert r.header["restorable"] is False and "FlattenObservation" in r.header["reason"], r.header


def test_state_requests_need_the_capability(bridge):
    bridge.hello("HalfCheetah-v5", capabilities=[c for c in CAPABILITIES if c != "state.snapshot"])
    bridge.request(P.RESET, {"seed": 0})
    r = bridge.request(P.GET_STATE)
    assert r.type == P.ERROR and "state.snapshot" in r.header["message"]


V5 = [name for name in gym.registry if name.endswith("-v5") and "mujoco" in str(gym.registry[name].entry_point)]


def test_every_known_mujoco_v5_env_is_listed_and_round_trips_in_process():
    """Direct use of env_state (no bridge): every Gymnasium MuJoCo v5 env in the registry is in the
    allow-list, and a JSON round trip into a fresh env continues bit for bit, episode ends included."""
    assert len(V5) == len(S.MUJOCO_V5_ENVS)
    for env_id in V5:
        src = gym.make(env_id)
        assert f"{type(src.unwrapped).__module__}.{type(src.unwrapped).__qualname__}" in S.MUJOCO_V5_ENVS, env_id
        src.reset(seed=3)
        rng = np.random.default_rng(0)
        lo, hi = src.action_space.low, src.action_space.high
        acts = [rng.uniform(lo, hi).astype(src.action_space.dtype) for _ in range(150)]

        def run(env, seq):
            out = []
            for act in seq:
                o, r, te, tr, _ = env.step(act)
                out.append((o, r, te, tr))
                if te or tr:
                    out.append(env.reset()[0])
            return out

        run(src, acts[:30])
        state = json.loads(json.dumps(S.capture_env(src)))
        ref = run(src, acts[30:])
        dst = gym.make(env_id)
        S.validate_env_state(dst, state, 0)
        S.restore_env(dst, state)
        got = run(dst, acts[30:])
        assert len(ref) == len(got), env_id
        for x, y in zip(ref, got):
            if isinstance(x, np.ndarray):
                assert np.array_equal(x, y), env_id
            else:
                assert np.array_equal(x[0], y[0]) and x[1:] == y[1:], env_id
        src.close()
        dst.close()
