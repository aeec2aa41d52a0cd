"""A test-only Gymnasium env that raises inside step() on a chosen step, to exercise ERROR with
env_index. Used as ``gym.make("raising_env:Raising-v0", fail_at=...)`` (module-prefixed id)."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class RaisingEnv(gym.Env):
    """Box(1) obs/actions; the ``fail_env``-th instance made in this process raises
    RuntimeError in ``step`` on step ``fail_at`` (1-based) of each episode."""

    instances = 0

    def __init__(self, fail_at: int = 3, fail_env: int = 0):
        self.index = RaisingEnv.instances
        RaisingEnv.instances += 1
        self.fail_env = fail_env
        self.observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.fail_at = fail_at
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1), {}

    def step(self, action):
        self.t += 1
        if self.t == self.fail_at and self.index == self.fail_env:
            raise RuntimeError(f"boom at step {self.t}")
        return np.full(1, float(self.t)), 1.0, False, False, {}


gym.register("Raising-v0", entry_point=RaisingEnv)
