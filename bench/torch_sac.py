"""PyTorch reference SAC for `npm run bench` (benchmark only; not part of the product).

The SAC update of the RLx2 reference code (github.com/tyq1024/RLx2, RLx2_SAC/SAC.py) and CleanRL's
`sac_continuous_action.py`, with the settings of our `agent.sac` defaults: 256-256 ReLU MLPs,
tanh-Gaussian actor with the log-std squashed into [-5, 2] by tanh, twin critics with Polyak
targets (tau 0.005) every iteration, actor and entropy coefficient (target entropy -|A|, learned
log alpha) every iteration, Adam 3e-4, batch 256.

Modes (JSON result on stdout):
  update --obs 17 --act 6 --iters N      -> ms per SAC iteration, median over blocks
  e2e    --env HalfCheetah-v5 --steps N  -> env steps/s of the full training loop (act, step an
                                            in-process Gymnasium env, store, sample, update)
"""
import copy
import json
import statistics

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_td3 import common_args, run_e2e, time_updates

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def mlp(inp, out, hidden=256):
    return nn.Sequential(nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out))


class Actor(nn.Module):
    def __init__(self, obs, act):
        super().__init__()
        self.net = mlp(obs, 2 * act)
        self.act = act

    def forward(self, s):
        out = self.net(s)
        mean, log_std = out[:, : self.act], torch.tanh(out[:, self.act :])
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)
        return mean, log_std

    def sample(self, s):
        mean, log_std = self(s)
        std = log_std.exp()
        u = mean + std * torch.randn_like(mean)
        a = torch.tanh(u)
        log_prob = (-0.5 * ((u - mean) / std).pow(2) - log_std - 0.5 * np.log(2 * np.pi)).sum(1, keepdim=True)
        log_prob -= (2 * (np.log(2) - u - F.softplus(-2 * u))).sum(1, keepdim=True)
        return a, log_prob, torch.tanh(mean)


class SAC:
    def __init__(self, obs, act, discount=0.99, tau=0.005, lr=3e-4):
        self.actor = Actor(obs, act)
        self.q1, self.q2 = mlp(obs + act, 1), mlp(obs + act, 1)
        self.q1_target, self.q2_target = copy.deepcopy(self.q1), copy.deepcopy(self.q2)
        self.critic_optimizer = torch.optim.Adam(list(self.q1.parameters()) + list(self.q2.parameters()), lr=lr)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.log_alpha = torch.zeros(1, requires_grad=True)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=lr)
        self.target_entropy = -float(act)
        self.discount, self.tau = discount, tau

    def select_action(self, state):
        with torch.no_grad():
            a, _, _ = self.actor.sample(torch.as_tensor(state, dtype=torch.float32).reshape(1, -1))
            return a.numpy().flatten()

    def train(self, state, action, next_state, reward, not_done):
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            a2, lp2, _ = self.actor.sample(next_state)
            sa2 = torch.cat([next_state, a2], 1)
            target_q = reward + not_done * self.discount * (torch.min(self.q1_target(sa2), self.q2_target(sa2)) - alpha * lp2)
        sa = torch.cat([state, action], 1)
        critic_loss = F.mse_loss(self.q1(sa), target_q) + F.mse_loss(self.q2(sa), target_q)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        a, lp, _ = self.actor.sample(state)
        sa_pi = torch.cat([state, a], 1)
        actor_loss = (alpha * lp - torch.min(self.q1(sa_pi), self.q2(sa_pi))).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        alpha_loss = -(self.log_alpha * (lp.detach() + self.target_entropy)).mean()
        self.alpha_optimizer.zero_grad()
        alpha_loss.backward()
        self.alpha_optimizer.step()
        with torch.no_grad():
            for net, target in ((self.q1, self.q1_target), (self.q2, self.q2_target)):
                for p, tp in zip(net.parameters(), target.parameters()):
                    tp.mul_(1 - self.tau).add_(p, alpha=self.tau)


def bench_update(obs, act, iters, blocks, warmup_iters=20):
    torch.manual_seed(0)
    times = time_updates(SAC(obs, act), obs, act, iters, blocks, warmup_iters)
    return {"ms_per_update": statistics.median(times), "blocks": times}


def bench_e2e(env_id, steps, warmup):
    torch.manual_seed(0)
    return run_e2e(env_id, SAC, lambda agent, s, rng: agent.select_action(s), steps, warmup)


if __name__ == "__main__":
    a = common_args().parse_args()
    torch.set_num_threads(a.threads)
    result = bench_update(a.obs, a.act, a.iters, a.blocks) if a.mode == "update" else bench_e2e(a.env, a.steps, a.warmup)
    result.update(torch=torch.__version__, threads=torch.get_num_threads())
    print(json.dumps(result))
