"""Environments: batched numpy dynamics for lockstep training, and Gymnasium environments.

`ENVS` maps an environment name ("gridworld", "mountaincar", "cartpole", "halfcheetah") to its
`EnvSpec`, which holds everything the package knows about the environment: its options
(`spec.options`, e.g. MountainCar's `tile_coding`), its batched dynamics
(`spec.make_batched(num_envs, options)`: B independent agents stepped together, each drawing
its start state and its whole episode's dynamics noise from its own generator at reset, so that
an agent's trajectory never depends on the rest of its block), its state features
(`spec.make_features`), BARFI's reward head, its published default hyperparameters, its
figure geometry, its measured cost per episode and its Gymnasium registration. The order of
`ENVS` is the order of the report. Adding an environment is one module defining `SPEC` plus one
line in `ENVS` below.

Importing this package also registers the single-agent Gymnasium environments under the `barfi/`
namespace (`gymnasium.make("barfi/GridWorld-v0")`, ...):

| id                   | what it is                                                         |
|----------------------|--------------------------------------------------------------------|
| barfi/GridWorld-v0    | `gridworld.GridWorldEnv`: the batched GridWorld with a batch of one |
| barfi/MountainCar-v0  | `mountaincar.MountainCarEnv`: the batched MountainCar, batch of one |
| barfi/CartPole-v1     | `cartpole.CartPoleEnv`: the batched CartPole, batch of one (equal   |
|                      | to Gymnasium's CartPole-v1 to the last bit)                        |
| barfi/HalfCheetah-v5  | Gymnasium's HalfCheetah-v5 / -v4 with forward_reward_weight = 1 and |
| barfi/HalfCheetah-v4  | ctrl_cost_weight = 1, whose reward is the primary reward only       |
|                      | (forward velocity); the control cost stays in info["reward_ctrl"]   |

In every `barfi/` environment the reward is the primary reward r_p. Auxiliary rewards live in
`barfi.aux_rewards` (see `AuxRewardWrapper` for adding them to these environments).
"""

from __future__ import annotations

import gymnasium

from barfi.envs import cartpole, gridworld, halfcheetah, mountaincar
from barfi.envs.base import BatchedEnv, EnvSpec, MapLandmarks, NoOptions, Published
from barfi.envs.cartpole import CartPoleBatched
from barfi.envs.gridworld import GridWorldBatched
from barfi.envs.halfcheetah import HalfCheetahBatched
from barfi.envs.mountaincar import MountainCarBatched

# The registry: one line per environment module.
ENVS: dict[str, EnvSpec] = {
    "gridworld": gridworld.SPEC,
    "mountaincar": mountaincar.SPEC,
    "cartpole": cartpole.SPEC,
    "halfcheetah": halfcheetah.SPEC,
}


def register_gym_envs(spec: EnvSpec) -> None:
    """Register `spec`'s single-agent environments under the `barfi/` namespace (once)."""
    for kwargs in spec.gym_registrations:
        if kwargs["id"] not in gymnasium.registry:
            gymnasium.register(**kwargs)


for _spec in ENVS.values():
    register_gym_envs(_spec)

__all__ = ["BatchedEnv", "EnvSpec", "ENVS", "MapLandmarks", "NoOptions", "Published",
           "CartPoleBatched", "GridWorldBatched", "HalfCheetahBatched", "MountainCarBatched",
           "register_gym_envs"]
