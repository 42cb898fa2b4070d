"""Auxiliary rewards: the designer's heuristics r_aux, well or badly specified (those of the paper's experiments).

`AUX_REWARDS[env][name]` is an `AuxReward`; calling it on one batched transition gives r_aux,
shape (B,) float64:

    aux(obs, action, next_obs, terminated, info, noise) -> np.ndarray (B,)

- obs, next_obs: (B, obs_dim), the observations before and after the step
- action: (B,) int for discrete envs, (B, action_dim) float for continuous ones
- terminated: (B,) bool, the step ended in a terminal state (not by the horizon)
- info: the dict returned by `BatchedEnv.step` (e.g. GridWorld's sub-step positions)
- noise: (B,) U[0,1), drawn by the caller from the agent's `aux` stream at every step whether
  or not the aux reward uses it (so stream use never depends on which aux is chosen)

How to add an auxiliary reward: write one vectorised function with that signature and decorate
it; the CLI and the config validation pick it up by name, e.g.

    @register_aux("mountaincar", "left-bonus", "+1 whenever the action is 'push left'")
    def left_bonus(obs, action, next_obs, terminated, info, noise):
        return (action == 0).astype(np.float64)

`AuxRewardWrapper` adds an aux reward to a single-agent `barfi/` Gymnasium environment as
info["r_aux"], leaving the environment's reward (r_p) untouched.

Which state each reward reads, and its value on the terminal step, follow the reference
implementation (file names are in each function's docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from barfi.envs import ENVS
from barfi.envs.gridworld import GridWorldBatched


@dataclass(frozen=True)
class AuxReward:
    """One registered auxiliary reward; call it like its function."""

    env: str
    """environment name (a key of `barfi.envs.ENVS`)"""
    name: str
    """name used on the command line and in run datasets"""
    description: str
    """one line: what it rewards, after "good:" or "bad:" where the study uses it as a
    well- or mis-specified heuristic"""
    fn: Callable[..., np.ndarray]
    """fn(obs, action, next_obs, terminated, info, noise) -> (B,) float64"""

    def __call__(self, obs, action, next_obs, terminated, info, noise) -> np.ndarray:
        value = self.fn(obs, action, next_obs, terminated, info, noise)
        return np.asarray(value, dtype=np.float64).reshape(np.shape(obs)[0])


def no_aux(obs, action, next_obs, terminated, info, noise):
    """r_aux = 0: the primary reward alone."""
    return np.zeros(np.shape(obs)[0])


class AuxRewardTable(dict):
    """env -> {aux name: AuxReward}. Every environment of `ENVS` can run without an auxiliary
    reward: its table starts with "none", also for an env registered after this import."""

    def __missing__(self, env: str) -> dict[str, AuxReward]:
        if env not in ENVS:
            raise KeyError(env)
        none = AuxReward(env=env, name="none", description="no auxiliary reward (r_aux = 0)",
                         fn=no_aux)
        return self.setdefault(env, {"none": none})


AUX_REWARDS: dict[str, dict[str, AuxReward]] = AuxRewardTable()
for _env in ENVS:
    AUX_REWARDS[_env]  # noqa: B018 -- creates the env's table (with "none") in ENVS order


def register_aux(env: str, name: str, description: str):
    """Decorator: register `fn` as auxiliary reward `name` of environment `env`."""
    if env not in ENVS:
        raise KeyError(f"unknown env {env!r}; known: {', '.join(ENVS)}")

    def decorator(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        if name in AUX_REWARDS[env]:
            raise ValueError(f"aux reward {name!r} is already registered for {env}")
        AUX_REWARDS[env][name] = AuxReward(env=env, name=name, description=description, fn=fn)
        return fn

    return decorator




# ---------------------------------------------------------------------------------------------
# GridWorld (reference: barfi-gw/src/environments/Maze_goodreward.py, Maze_badreward.py).
# The reference adds the aux reward of every sub-step actually taken, the goal-entering one
# included (the aux is not zeroed on the terminal step).
# ---------------------------------------------------------------------------------------------
_GOAL_LOW, _GOAL_HIGH = GridWorldBatched.GOAL_LOW, GridWorldBatched.GOAL_HIGH
GOAL_CENTRE = (_GOAL_LOW + _GOAL_HIGH) / 2          # 0.87 on both axes
CENTRE_LOW, CENTRE_HIGH = 0.4, 0.6                  # the bonus box [0.4, 0.6]^2
CENTRE_BONUS = 50.0


@register_aux("gridworld", "distance",
              "good: minus the squared distance to the goal centre (0.87, 0.87), per sub-step")
def gridworld_distance(obs, action, next_obs, terminated, info, noise):
    """Good aux (correct version): -sum over taken sub-steps of ||p_k - (0.87, 0.87)||^2."""
    squared = np.sum((info["substep_pos"] - GOAL_CENTRE) ** 2, axis=-1)      # (B, 4)
    return -np.sum(squared * info["substep_valid"], axis=1)


@register_aux("gridworld", "distance-as-published",
              "good, as published: -(x - 0.87)^2 - 0.0144 per sub-step (the reference's y bug)")
def gridworld_distance_as_published(obs, action, next_obs, terminated, info, noise):
    """Good aux as the reference computed it: its `dist` takes the y of the goal box's lower
    corner (0.75) instead of the agent's y, so the y term is the constant (0.75 - 0.87)^2."""
    x = info["substep_pos"][..., 0]
    squared = (x - GOAL_CENTRE) ** 2 + (_GOAL_LOW - GOAL_CENTRE) ** 2
    return -np.sum(squared * info["substep_valid"], axis=1)


@register_aux("gridworld", "center-bonus",
              "bad: +50 per sub-step inside [0.4,0.6]^2, away from the goal")
def gridworld_center_bonus(obs, action, next_obs, terminated, info, noise):
    """Bad aux: +50 for every taken sub-step that lands inside [0.4, 0.6]^2 (bounds included),
    never used up, so up to 200 per step; 0 on the terminal step (one step cannot visit both
    boxes, so this only makes explicit what the reference's dynamics imply)."""
    inside = GridWorldBatched.in_box(info["substep_pos"], CENTRE_LOW, CENTRE_HIGH)
    bonus = CENTRE_BONUS * np.sum(inside & info["substep_valid"], axis=1)
    return np.where(terminated, 0.0, bonus)


# ---------------------------------------------------------------------------------------------
# MountainCar (reference: barfi-mc/src/environments/MCSenseSparseBangAux.py with aux_scale 1 as
# published, MountainCarSparseVelAux.py). Both read the velocity *after* the step and are 0 on
# the step that reaches the goal.
# ---------------------------------------------------------------------------------------------
_LEFT, _RIGHT = 0, 2


@register_aux("mountaincar", "bang-bang",
              "+1 if the action pushes along the velocity (after the step), else -1")
def mountaincar_bang_bang(obs, action, next_obs, terminated, info, noise):
    """+1 if (v' < 0 and a = left) or (v' > 0 and a = right), else -1 (also for a = none and
    v' = 0); v' is the velocity after the step. 0 on the terminal step."""
    velocity = next_obs[:, 1]
    action = np.asarray(action).reshape(-1)
    agrees = ((velocity < 0) & (action == _LEFT)) | ((velocity > 0) & (action == _RIGHT))
    return np.where(terminated, 0.0, np.where(agrees, 1.0, -1.0))


@register_aux("mountaincar", "velocity", "10 |v| (velocity after the step)")
def mountaincar_velocity(obs, action, next_obs, terminated, info, noise):
    """10 * |v'| with v' the velocity after the step; 0 on the terminal step."""
    return np.where(terminated, 0.0, 10.0 * np.abs(next_obs[:, 1]))


# ---------------------------------------------------------------------------------------------
# CartPole (reference: barfi-cp/src/environments/CartPoleBestAux2.py (+5/-1),
# CartPoleBadAuxDebug.py (-5/+1), CartPoleBadAuxDebugNoise.py (-5+5U/1+U)).
# The PD controller reads the state *before* the step, s_t. Its derivative term is the
# difference of consecutive observed angles, theta_t - theta_{t-1}, with theta_{-1} = 0 at the
# first step of an episode (the reference's PID_controller: error = s_t, derivative = error -
# prev_error, prev_error reset to 0 at reset). It is not the angular velocity observation.
# All are 0 on the terminal step.
# ---------------------------------------------------------------------------------------------
PD_P, PD_D = 0.1, 0.5


def pd_controller_action(obs: np.ndarray, prev_obs: np.ndarray) -> np.ndarray:
    """The reference's PD controller on the pole angle: round(sigmoid(P e + D (e - e_prev)))
    with e the pole angle of `obs` and e_prev that of `prev_obs`; (B,) int64 in {0, 1}."""
    angle = obs[:, 2]
    signal = PD_P * angle + PD_D * (angle - prev_obs[:, 2])
    return np.round(1.0 / (1.0 + np.exp(-signal))).astype(np.int64)


def _pd_agrees(obs, action, info) -> np.ndarray:
    if "prev_obs" not in info:
        raise KeyError("CartPole PD aux rewards need info['prev_obs'] (the observation before "
                       "obs; zeros at an episode's first step), as CartPoleBatched provides")
    return np.asarray(action).reshape(-1) == pd_controller_action(obs, info["prev_obs"])


@register_aux("cartpole", "pd-agree", "good: +5 if the action matches a PD controller, else -1")
def cartpole_pd_agree(obs, action, next_obs, terminated, info, noise):
    """Well-specified: +5 when the action equals the PD controller's, -1 otherwise."""
    return np.where(terminated, 0.0, np.where(_pd_agrees(obs, action, info), 5.0, -1.0))


@register_aux("cartpole", "pd-disagree", "bad: -5 if the action matches a PD controller, else +1")
def cartpole_pd_disagree(obs, action, next_obs, terminated, info, noise):
    """Misleading: -5 when the action equals the PD controller's, +1 otherwise."""
    return np.where(terminated, 0.0, np.where(_pd_agrees(obs, action, info), -5.0, 1.0))


@register_aux("cartpole", "pd-disagree-noisy",
              "bad, noisy: -5+5U if the action matches a PD controller, else 1+U (U ~ U[0,1))")
def cartpole_pd_disagree_noisy(obs, action, next_obs, terminated, info, noise):
    """Misleading and noisy: -5 + 5U on agreement, 1 + U otherwise, U = `noise`."""
    agrees = _pd_agrees(obs, action, info)
    return np.where(terminated, 0.0, np.where(agrees, -5.0 + 5.0 * noise, 1.0 + noise))


# ---------------------------------------------------------------------------------------------
# HalfCheetah (reference: barfi-mujoco/src/environments/HalfCheetahV4.py, r_aux =
# info["reward_ctrl"] with ctrl_cost_weight 1; the learners scale it by aux_weight 1 or 4).
# The action is the one sent to the simulator, before MuJoCo clamps it to [-1, 1], as in
# Gymnasium's control cost.
# ---------------------------------------------------------------------------------------------
@register_aux("halfcheetah", "ctrl", "good: control cost -sum(a^2) (weight 1)")
def halfcheetah_ctrl(obs, action, next_obs, terminated, info, noise):
    return -np.sum(np.square(action), axis=1)


@register_aux("halfcheetah", "ctrl-x4", "bad: control cost -4 sum(a^2) (weight 4, misspecified)")
def halfcheetah_ctrl_x4(obs, action, next_obs, terminated, info, noise):
    return -4.0 * np.sum(np.square(action), axis=1)


# ---------------------------------------------------------------------------------------------
class AuxRewardWrapper(gym.Wrapper):
    """Adds auxiliary reward `aux_name` to a single-agent `barfi/` environment as info["r_aux"];
    the reward (r_p) is never changed.

    The aux reward is computed with a batch of one. The wrapper supplies what a batched env
    would: info["prev_obs"] when the environment does not (the observation before the current
    one, zeros at an episode's first step), and `noise` from its own generator (reseeded by
    `reset(seed=...)`, independent of the environment's np_random).
    """

    def __init__(self, env: gym.Env, aux_name: str, env_name: str | None = None):
        super().__init__(env)
        if env_name is None:
            # "barfi/HalfCheetah-v4" -> "halfcheetah": match the id without its version.
            by_id = {spec.gym_id.rsplit("-v", 1)[0]: name for name, spec in ENVS.items()}
            gym_id = env.spec.id if env.spec is not None else ""
            env_name = by_id.get(gym_id.rsplit("-v", 1)[0])
            if env_name is None:
                raise ValueError(f"cannot tell which barfi env {gym_id!r} is; pass env_name")
        if aux_name not in AUX_REWARDS[env_name]:
            raise KeyError(f"unknown aux {aux_name!r} for {env_name}; valid: "
                           + ", ".join(sorted(AUX_REWARDS[env_name])))
        self.aux = AUX_REWARDS[env_name][aux_name]
        self.aux_rng = np.random.default_rng()
        self._obs = None
        self._prev_obs = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.aux_rng = np.random.default_rng(seed)
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = np.asarray(obs, dtype=np.float64)
        self._prev_obs = np.zeros_like(self._obs)
        return obs, info

    def step(self, action):
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        batched_info: dict[str, Any] = {key: np.asarray(value)[None] for key, value in info.items()
                                        if isinstance(value, (np.ndarray, np.generic, float, int,
                                                              bool))}
        batched_info.setdefault("prev_obs", self._prev_obs[None])
        noise = self.aux_rng.random(1)
        r_aux = self.aux(self._obs[None], np.asarray(action)[None],
                         np.asarray(next_obs, dtype=np.float64)[None],
                         np.array([terminated]), batched_info, noise)
        info = dict(info)
        info["r_aux"] = float(r_aux[0])
        self._prev_obs = self._obs
        self._obs = np.asarray(next_obs, dtype=np.float64)
        return next_obs, reward, terminated, truncated, info
