"""Environments: batched numpy dynamics for lockstep training, and Gymnasium environments.

`ENVS` maps an environment name ("gridworld", "mountaincar", "cartpole", "halfcheetah") to its
`EnvSpec`. `spec.make_batched(num_envs, hp)` builds a `BatchedEnv`: B independent agents stepped
together, each drawing its start state and its whole episode's dynamics noise from its own
generator at reset, so that an agent's trajectory never depends on the rest of its block.

Importing this package also registers the single-agent Gymnasium environments under the `barfi/`
namespace (`gymnasium.make("barfi/GridWorld-v0")`, ...):

| id                   | what it is                                                         |
|----------------------|--------------------------------------------------------------------|
| barfi/GridWorld-v0    | `gridworld.GridWorldEnv`: the batched GridWorld with a batch of one |
| barfi/MountainCar-v0  | `mountaincar.MountainCarEnv`: the batched MountainCar, batch of one |
| barfi/CartPole-v1     | Gymnasium's own CartPole-v1 (the batched env runs Gymnasium's       |
|                      | vectorised CartPole)                                               |
| barfi/HalfCheetah-v5  | Gymnasium's HalfCheetah-v5 / -v4 with forward_reward_weight = 1 and |
| barfi/HalfCheetah-v4  | ctrl_cost_weight = 1, whose reward is the primary reward only       |
|                      | (forward velocity); the control cost stays in info["reward_ctrl"]   |

In every `barfi/` environment the reward is the primary reward r_p. Auxiliary rewards live in
`barfi.aux_rewards` (see `AuxRewardWrapper` for adding them to these environments).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


class BatchedEnv:
    """B agents of one environment stepped in lockstep (numpy, leading batch dimension B).

    Subclasses set `num_envs` and `spec` and implement `reset` and `step`.
    """

    num_envs: int
    spec: "EnvSpec"

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Start a new episode for every agent; returns obs (B, obs_dim) float64.

        Agent i draws its start state and the whole episode's dynamics noise (a fixed-size
        chunk, one row per possible step) from `rngs[i]` alone, so its draws never depend on
        the batch or on how long the episode lasts."""
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                 dict[str, np.ndarray]]:
        """Step every agent. `actions` (B,) int or (B, action_dim) float.

        Returns next obs (B, obs_dim) float64, r_p (B,) float64, terminated (B,) bool,
        truncated (B,) bool (horizon reached), info: dict of (B, ...) arrays. Agents whose
        episode already ended may be stepped again; the caller ignores their outputs."""
        raise NotImplementedError


@dataclass(frozen=True)
class EnvSpec:
    """Static description of an environment, and the factory of its batched version."""

    name: str
    """one of: gridworld, mountaincar, cartpole, halfcheetah"""
    gym_id: str
    """id of the single-agent Gymnasium environment ("barfi/GridWorld-v0", ...)"""
    obs_dim: int
    n_actions: int | None
    """discrete action count, None if continuous"""
    action_dim: int | None
    """continuous action size, None if discrete"""
    action_low: float | None
    """continuous action bounds (the same for every dimension), None if discrete"""
    action_high: float | None
    horizon: int
    """maximum steps per episode (the episode is truncated there)"""
    make_batched: Callable[..., BatchedEnv]
    """make_batched(num_envs, hp=None) -> BatchedEnv; hp is a `barfi.config.Hyperparameters`"""
    obs_low: tuple[float, ...] | None = None
    """Per-dimension lower bounds used to normalise observations before the state features
    (Fourier basis, tile coding): x_norm = (obs - obs_low) / (obs_high - obs_low), no clipping.
    These are the bounds of the reference implementation, not the observation space: e.g.
    CartPole uses (-2.4, -3.5, -0.2095, -3.5). None: features see the raw observation
    (HalfCheetah, whose random ReLU features take raw observations, as in the reference)."""
    obs_high: tuple[float, ...] | None = None
    """Per-dimension upper bounds matching `obs_low`."""
    description: str = ""
    """one line for humans (CLI listings, docs)"""


def _hp_or_default(hp: Any):
    """The run's hyperparameters, or the generic defaults when a caller passes none."""
    if hp is None:
        from barfi.config import Hyperparameters  # late import: config imports this package
        hp = Hyperparameters()
    return hp


# The environment modules import `BatchedEnv` from this package, so they come after it.
from barfi.envs.cartpole import CartPoleBatched  # noqa: E402
from barfi.envs.gridworld import GridWorldBatched  # noqa: E402
from barfi.envs.halfcheetah import HalfCheetahBatched  # noqa: E402
from barfi.envs.mountaincar import MountainCarBatched  # noqa: E402


def _make_gridworld(num_envs: int, hp: Any = None) -> GridWorldBatched:
    return GridWorldBatched(num_envs, spec=ENVS["gridworld"])


def _make_mountaincar(num_envs: int, hp: Any = None) -> MountainCarBatched:
    return MountainCarBatched(num_envs, spec=ENVS["mountaincar"])


def _make_cartpole(num_envs: int, hp: Any = None) -> CartPoleBatched:
    return CartPoleBatched(num_envs, spec=ENVS["cartpole"])


def _make_halfcheetah(num_envs: int, hp: Any = None) -> HalfCheetahBatched:
    # v4 and v5 share the model file and frame skip, so their dynamics and r_p are the same;
    # the version only names which Gymnasium environment the run corresponds to.
    return HalfCheetahBatched(num_envs, spec=ENVS["halfcheetah"],
                              version=_hp_or_default(hp).env_version)


ENVS: dict[str, EnvSpec] = {
    "gridworld": EnvSpec(
        name="gridworld", gym_id="barfi/GridWorld-v0", obs_dim=2, n_actions=4, action_dim=None,
        action_low=None, action_high=None, horizon=GridWorldBatched.HORIZON,
        make_batched=_make_gridworld, obs_low=(0.0, 0.0), obs_high=(1.0, 1.0),
        description="continuous 2-D gridworld, 4 noisy actions, goal top right, horizon 50"),
    "mountaincar": EnvSpec(
        name="mountaincar", gym_id="barfi/MountainCar-v0", obs_dim=2, n_actions=3,
        action_dim=None, action_low=None, action_high=None,
        horizon=MountainCarBatched.HORIZON, make_batched=_make_mountaincar,
        obs_low=(MountainCarBatched.MIN_POSITION, -MountainCarBatched.MAX_SPEED),
        obs_high=(MountainCarBatched.GOAL_POSITION, MountainCarBatched.MAX_SPEED),
        description="MountainCar with a sparse +1 at the goal, horizon 2000"),
    "cartpole": EnvSpec(
        name="cartpole", gym_id="barfi/CartPole-v1", obs_dim=4, n_actions=2, action_dim=None,
        action_low=None, action_high=None, horizon=CartPoleBatched.HORIZON,
        make_batched=_make_cartpole, obs_low=(-2.4, -3.5, -0.2095, -3.5),
        obs_high=(2.4, 3.5, 0.2095, 3.5),
        description="Gymnasium CartPole-v1, +1 per step, horizon 500"),
    "halfcheetah": EnvSpec(
        name="halfcheetah", gym_id="barfi/HalfCheetah-v5", obs_dim=17, n_actions=None,
        action_dim=6, action_low=-1.0, action_high=1.0, horizon=HalfCheetahBatched.HORIZON,
        make_batched=_make_halfcheetah, obs_low=None, obs_high=None,
        description="Gymnasium HalfCheetah (MuJoCo), r_p = forward velocity, horizon 1000"),
}


def _register_gym_envs() -> None:
    """Register the single-agent environments under the `barfi/` namespace (once)."""
    import gymnasium

    registrations = [
        dict(id="barfi/GridWorld-v0", entry_point="barfi.envs.gridworld:GridWorldEnv",
             max_episode_steps=GridWorldBatched.HORIZON),
        dict(id="barfi/MountainCar-v0", entry_point="barfi.envs.mountaincar:MountainCarEnv",
             max_episode_steps=MountainCarBatched.HORIZON),
        dict(id="barfi/CartPole-v1",
             entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv",
             vector_entry_point="gymnasium.envs.classic_control.cartpole:CartPoleVectorEnv",
             max_episode_steps=CartPoleBatched.HORIZON, reward_threshold=475.0),
        dict(id="barfi/HalfCheetah-v5", entry_point="barfi.envs.halfcheetah:HalfCheetahV5Env",
             max_episode_steps=HalfCheetahBatched.HORIZON),
        dict(id="barfi/HalfCheetah-v4", entry_point="barfi.envs.halfcheetah:HalfCheetahV4Env",
             max_episode_steps=HalfCheetahBatched.HORIZON),
    ]
    for kwargs in registrations:
        if kwargs["id"] not in gymnasium.registry:
            gymnasium.register(**kwargs)


_register_gym_envs()

__all__ = ["BatchedEnv", "EnvSpec", "ENVS", "CartPoleBatched", "GridWorldBatched",
           "HalfCheetahBatched", "MountainCarBatched"]
