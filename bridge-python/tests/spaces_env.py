"""Test-only Gymnasium envs with the less common spaces: ``spaces_env:DictObs-v0`` (Dict
observation with Box/Discrete/MultiBinary children, MultiDiscrete actions, random episode
ends) and ``spaces_env:BinaryAct-v0`` (Tuple observation, MultiBinary actions)."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class DictObsEnv(gym.Env):
    """Dict obs ``{"pos": Box(2,) float64, "mode": Discrete(3), "flags": MultiBinary(2)}``;
    MultiDiscrete([3, 2]) actions; reward = action sum + noise; terminates with prob. 0.1."""

    def __init__(self):
        self.observation_space = spaces.Dict(
            {"pos": spaces.Box(-np.inf, np.inf, (2,), np.float64), "mode": spaces.Discrete(3), "flags": spaces.MultiBinary(2)}
        )
        self.action_space = spaces.MultiDiscrete([3, 2])

    def _obs(self):
        return {"pos": self.np_random.normal(size=2), "mode": int(self.np_random.integers(3)), "flags": self.np_random.integers(0, 2, 2).astype(np.int8)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action)), action
        r = float(np.sum(action)) + float(self.np_random.normal())
        return self._obs(), r, bool(self.np_random.random() < 0.1), False, {}


class BinaryActEnv(gym.Env):
    """Tuple obs ``(Discrete(4), Box(1,) float32)``; MultiBinary(3) actions; 20-step episodes."""

    def __init__(self):
        self.observation_space = spaces.Tuple([spaces.Discrete(4), spaces.Box(-1, 1, (1,), np.float32)])
        self.action_space = spaces.MultiBinary(3)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return (0, np.zeros(1, np.float32)), {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action)), action
        self.t += 1
        return (self.t % 4, np.full(1, np.float32(self.t / 20))), float(np.dot(action, [1, 2, 4])), False, self.t >= 20, {}


gym.register("DictObs-v0", entry_point=DictObsEnv)
gym.register("BinaryAct-v0", entry_point=BinaryActEnv)
