"""PyTorch reference TD3 for `npm run bench` and `npm run bench:width` (benchmark only; not part of the product).

A faithful copy of the TD3 update of Fujimoto et al.'s reference implementation
(github.com/sfujim/TD3, TD3.py): twin critics, target policy smoothing, delayed actor and
Polyak target updates, 256-256 ReLU MLPs (wider / deeper with --hidden / --layers), Adam 3e-4,
batch 256.

Modes (JSON result on stdout):
  update  --obs 17 --act 6 --iters N   -> ms per TD3 iteration (critic update every iteration,
          [--hidden 256] [--layers 2]     actor + targets every 2nd), median over blocks after
          [--update-warmup 20]            --update-warmup untimed updates; --hidden / --layers set
                                          the width and number of hidden layers of actor and
                                          critics (bench/width.ts), default 256-256
  e2e     --env HalfCheetah-v5 --steps N -> env steps/s of the full training loop (act, step an
                                          in-process Gymnasium env, store, sample, update)
"""
import argparse
import copy
import json
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(sizes):
    """Linear layers for feature sizes [in, h1, ..., out] (PyTorch default nn.Linear init)."""
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))


def run_mlp(layers, x):
    """ReLU after every layer but the last (sfujim/TD3's F.relu(l1), F.relu(l2), l3)."""
    for layer in layers[:-1]:
        x = F.relu(layer(x))
    return layers[-1](x)


class Actor(nn.Module):
    # hidden=256, layers=2: sfujim/TD3's l1, l2, l3 (same init order and arithmetic)
    def __init__(self, obs, act, hidden=256, layers=2):
        super().__init__()
        self.net = mlp([obs] + [hidden] * layers + [act])

    def forward(self, s):
        return torch.tanh(run_mlp(self.net, s))


class Critic(nn.Module):
    # two Q-heads (sfujim/TD3's l1-l3 and l4-l6, created in that order)
    def __init__(self, obs, act, hidden=256, layers=2):
        super().__init__()
        self.head1 = mlp([obs + act] + [hidden] * layers + [1])
        self.head2 = mlp([obs + act] + [hidden] * layers + [1])

    def forward(self, s, a):
        sa = torch.cat([s, a], 1)
        return run_mlp(self.head1, sa), run_mlp(self.head2, sa)

    def q1(self, s, a):
        return run_mlp(self.head1, torch.cat([s, a], 1))


class TD3:
    def __init__(self, obs, act, discount=0.99, tau=0.005, policy_noise=0.2, noise_clip=0.5, policy_freq=2, hidden=256, layers=2):
        self.actor = Actor(obs, act, hidden, layers)
        self.actor_target = copy.deepcopy(self.actor)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=3e-4)
        self.critic = Critic(obs, act, hidden, layers)
        self.critic_target = copy.deepcopy(self.critic)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=3e-4)
        self.discount, self.tau, self.policy_noise, self.noise_clip, self.policy_freq = discount, tau, policy_noise, noise_clip, policy_freq
        self.total_it = 0

    def select_action(self, state):
        with torch.no_grad():
            return self.actor(torch.as_tensor(state, dtype=torch.float32).reshape(1, -1)).numpy().flatten()

    def train(self, state, action, next_state, reward, not_done):
        self.total_it += 1
        with torch.no_grad():
            noise = (torch.randn_like(action) * self.policy_noise).clamp(-self.noise_clip, self.noise_clip)
            next_action = (self.actor_target(next_state) + noise).clamp(-1, 1)
            tq1, tq2 = self.critic_target(next_state, next_action)
            target_q = reward + not_done * self.discount * torch.min(tq1, tq2)
        q1, q2 = self.critic(state, action)
        critic_loss = F.mse_loss(q1, target_q) + F.mse_loss(q2, target_q)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        if self.total_it % self.policy_freq == 0:
            actor_loss = -self.critic.q1(state, self.actor(state)).mean()
            self.actor_optimizer.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()
            with torch.no_grad():
                for p, tp in zip(self.critic.parameters(), self.critic_target.parameters()):
                    tp.mul_(1 - self.tau).add_(p, alpha=self.tau)
                for p, tp in zip(self.actor.parameters(), self.actor_target.parameters()):
                    tp.mul_(1 - self.tau).add_(p, alpha=self.tau)


class Buffer:
    def __init__(self, obs, act, cap):
        self.s, self.a = np.zeros((cap, obs), np.float32), np.zeros((cap, act), np.float32)
        self.s2, self.r, self.nd = np.zeros((cap, obs), np.float32), np.zeros((cap, 1), np.float32), np.zeros((cap, 1), np.float32)
        self.cap, self.ptr, self.size = cap, 0, 0

    def add(self, s, a, s2, r, done):
        i = self.ptr
        self.s[i], self.a[i], self.s2[i], self.r[i], self.nd[i] = s, a, s2, r, 1.0 - done
        self.ptr, self.size = (i + 1) % self.cap, min(self.size + 1, self.cap)

    def sample(self, b):
        idx = np.random.randint(0, self.size, size=b)
        t = torch.from_numpy
        return t(self.s[idx]), t(self.a[idx]), t(self.s2[idx]), t(self.r[idx]), t(self.nd[idx])


def time_updates(agent, obs, act, iters, blocks, warmup_iters=20):
    """ms per `agent.train` call on one fixed random batch of 256: `blocks` timings of `iters` calls
    after `warmup_iters` untimed ones (shared with bench/torch_sac.py)."""
    b = 256
    batch = (torch.randn(b, obs), torch.rand(b, act) * 2 - 1, torch.randn(b, obs), torch.randn(b, 1), torch.ones(b, 1))
    for _ in range(warmup_iters):
        agent.train(*batch)
    times = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(iters):
            agent.train(*batch)
        times.append((time.perf_counter() - t0) * 1000 / iters)
    return times


def bench_update(obs, act, iters, blocks, hidden=256, layers=2, warmup_iters=20):
    torch.manual_seed(0)
    times = time_updates(TD3(obs, act, hidden=hidden, layers=layers), obs, act, iters, blocks, warmup_iters)
    return {"ms_per_update": statistics.median(times), "blocks": times, "hidden": [hidden] * layers}


def run_e2e(env_id, make_agent, explore, steps, warmup):
    """Env steps/s of a training loop on an in-process Gymnasium env: `warmup` uniform random
    steps, then `steps` timed steps of act (`explore(agent, s, rng)`, normalised), env step, store,
    sample 256 and one `agent.train` (shared with bench/torch_sac.py)."""
    import gymnasium as gym

    env = gym.make(env_id)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    max_a = float(env.action_space.high[0])
    agent = make_agent(obs_dim, act_dim)
    buf = Buffer(obs_dim, act_dim, steps + warmup)
    s, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    t0 = None
    for t in range(warmup + steps):
        if t == warmup:
            t0 = time.perf_counter()
        a = rng.uniform(-1, 1, act_dim).astype(np.float32) if t < warmup else explore(agent, s, rng).astype(np.float32)
        s2, r, term, trunc, _ = env.step(a * max_a)
        buf.add(s, a, s2, r, float(term))
        s = s2
        if term or trunc:
            s, _ = env.reset()
        if t >= warmup:
            agent.train(*buf.sample(256))
    return {"steps_per_second": steps / (time.perf_counter() - t0)}


def bench_e2e(env_id, steps, warmup):
    def explore(agent, s, rng):
        a = agent.select_action(s)
        return (a + rng.normal(0, 0.1, a.shape[0])).clip(-1, 1)

    return run_e2e(env_id, TD3, explore, steps, warmup)


def common_args():
    """The command line both references take (mode, sizes, timing, env loop, threads)."""
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["update", "e2e"])
    p.add_argument("--obs", type=int, default=17)
    p.add_argument("--act", type=int, default=6)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    return p


if __name__ == "__main__":
    p = common_args()
    p.add_argument("--hidden", type=int, default=256, help="update mode: width of every hidden layer")
    p.add_argument("--layers", type=int, default=2, help="update mode: number of hidden layers")
    p.add_argument("--update-warmup", type=int, default=20, help="update mode: untimed updates before the blocks")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = bench_update(a.obs, a.act, a.iters, a.blocks, a.hidden, a.layers, a.update_warmup) if a.mode == "update" else bench_e2e(a.env, a.steps, a.warmup)
    out.update(torch=torch.__version__, threads=torch.get_num_threads())
    print(json.dumps(out))
