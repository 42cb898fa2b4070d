"""A toy environment written exactly as the README's "Adding an environment" says: this one
module (batched dynamics, options, features, reward head, published defaults in one `SPEC`),
plus one registry line, which tests/test_add_env.py adds with a fixture.

Corridor: position x in [0, 1], start 0.5; action 0 steps left, 1 steps right, by 0.1; with
probability `slip` (an option of the env) the step goes the other way. r_p = -0.01 per step and
+1 on reaching x >= 1 (terminal). Horizon 20.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from barfi.envs.base import BatchedEnv, EnvSpec, Published
from barfi.features import FourierBasis
from barfi.params import param


@dataclass(frozen=True)
class CorridorOptions:
    """The corridor's options (`--set slip=0.2`)."""

    slip: float = param(0.0, "probability that a step goes the other way", min=0.0, max=1.0)
    """per-step probability, drawn from the agent's episode noise"""


class CorridorBatched(BatchedEnv):
    """B corridor agents in lockstep; each draws its episode's slip noise at reset."""

    HORIZON = 20

    def __init__(self, num_envs: int, spec: EnvSpec, slip: float):
        self.num_envs, self.spec, self.slip = num_envs, spec, slip
        self.x = np.full(num_envs, 0.5)
        self.t = 0
        self.done = np.ones(num_envs, dtype=bool)

    def reset(self, rngs):
        self.x = np.full(self.num_envs, 0.5)
        self.t = 0
        self.done = np.zeros(self.num_envs, dtype=bool)
        self.noise = np.stack([rng.random(self.HORIZON) for rng in rngs])
        return self.x[:, None].copy()

    def step(self, actions):
        running = ~self.done
        direction = np.where(np.asarray(actions).reshape(-1) == 1, 1.0, -1.0)
        direction *= np.where(self.noise[:, min(self.t, self.HORIZON - 1)] < self.slip, -1, 1)
        self.x = np.where(running, np.clip(self.x + 0.1 * direction, 0.0, 1.0), self.x)
        terminated = running & (self.x >= 1.0)
        reward = np.where(running, -0.01, 0.0) + terminated
        self.t += 1
        truncated = np.full(self.num_envs, self.t >= self.HORIZON)
        self.done |= terminated | truncated
        return self.x[:, None].copy(), reward, terminated, truncated, {}


def _features(spec, options, gens, device):
    return FourierBasis(spec.obs_low, spec.obs_high, order=3, device=device)


SPEC = EnvSpec(
    name="corridor", obs_dim=1, n_actions=2, action_dim=None, action_low=None, action_high=None,
    horizon=CorridorBatched.HORIZON,
    batched=lambda num_envs, spec, options: CorridorBatched(num_envs, spec, options.slip),
    features=_features, reward_head="full", options=CorridorOptions,
    obs_low=(0.0,), obs_high=(1.0,),
    published=(Published(dict(episodes=12, actor_lr=0.05, critic_lr=0.05, first_mul=2,
                               inner_mul=1, buffer_size=10, hess_mul=2)),),
    description="toy corridor (tests only)")
