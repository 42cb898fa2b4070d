"""MountainCar with a sparse primary reward (paper, section 5.1).

State (x, v). Each step, with action a in {0 = left, 1 = none, 2 = right}:
    v <- clip(v + (0.001 (a - 1) - 0.0025 cos(3 x)), -0.07, 0.07)
    x <- x + v;  if x < -1.2: x <- -1.2, v <- 0 (the left wall stops the car)
r_p = +1 when x >= 0.5 (terminal), else 0. Start x ~ U[-0.6, -0.4], v = 0. Horizon 2000.

Semantics of the reference implementation (barfi-mc/src/environments/MCSenseSparseBangAux.py and
MountainCarSparseVelAux.py, one action repetition), except for two quirks not reproduced:
- it clipped a velocity >= 0.07 to 0.069999999 instead of 0.07 (a 1e-9 difference);
- its step counter reaches the horizon before the 2000th step's dynamics, so the 2000th step was
  a no-op with reward 0; here all 2000 steps are real.

`MountainCarBatched` holds the dynamics; `MountainCarEnv` (registered as barfi/MountainCar-v0)
is a Gymnasium environment running the very same code with a batch of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from barfi.envs.base import BatchedEnv, EnvSpec, Published
from barfi.features import TILE_MODES, TileCoding
from barfi.params import param


class MountainCarBatched(BatchedEnv):
    """B MountainCar agents in lockstep. `step` returns an empty info dict (the aux rewards
    read the velocity from the next observation)."""

    MIN_POSITION = -1.2
    GOAL_POSITION = 0.5
    MAX_SPEED = 0.07
    FORCE = 0.001
    GRAVITY = 0.0025
    START_LOW, START_WIDTH = -0.6, 0.2       # x0 = -0.6 + 0.2 U, U ~ U[0,1)
    HORIZON = 2000
    N_ACTIONS = 3

    def __init__(self, num_envs: int, spec: Any = None):
        self.num_envs = num_envs
        self.spec = spec
        self.position = np.zeros(num_envs)
        self.velocity = np.zeros(num_envs)
        self.t = 0
        self.done = np.ones(num_envs, dtype=bool)
        self.reached_goal = np.zeros(num_envs, dtype=bool)

    def obs(self) -> np.ndarray:
        return np.stack([self.position, self.velocity], axis=1)

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Each agent draws its start position (one U[0,1) number); the dynamics are
        deterministic, so there is no per-step noise."""
        assert len(rngs) == self.num_envs, "one generator per agent"
        self.position = np.array([self.START_LOW + rng.random() * self.START_WIDTH
                                  for rng in rngs])
        self.velocity = np.zeros(self.num_envs)
        self.t = 0
        self.done = np.zeros(self.num_envs, dtype=bool)
        self.reached_goal = np.zeros(self.num_envs, dtype=bool)
        return self.obs()

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        running = ~self.done
        # Same operation order as the reference, so the numbers agree to the last bit.
        velocity = self.velocity + (self.FORCE * (actions - 1)
                                    - self.GRAVITY * np.cos(3 * self.position))
        velocity = np.clip(velocity, -self.MAX_SPEED, self.MAX_SPEED)
        position = self.position + velocity
        at_wall = position < self.MIN_POSITION
        position[at_wall] = self.MIN_POSITION
        velocity[at_wall] = 0.0
        # Finished agents stay where they are.
        self.position = np.where(running, position, self.position)
        self.velocity = np.where(running, velocity, self.velocity)

        entered_goal = running & (self.position >= self.GOAL_POSITION)
        self.reached_goal |= entered_goal
        reward = entered_goal.astype(np.float64)
        self.t += 1
        terminated = self.reached_goal.copy()
        truncated = np.full(self.num_envs, self.t >= self.HORIZON)
        self.done |= terminated | truncated
        return self.obs(), reward, terminated, truncated, {}


class MountainCarEnv(gym.Env):
    """Single-agent MountainCar (barfi/MountainCar-v0): `MountainCarBatched` with a batch of
    one, drawing its start from the environment's own `np_random`. Reward = r_p."""

    metadata = {"render_modes": []}

    def __init__(self):
        # x can pass the goal by one step's velocity before the episode ends.
        low = np.array([MountainCarBatched.MIN_POSITION, -MountainCarBatched.MAX_SPEED])
        high = np.array([MountainCarBatched.GOAL_POSITION + MountainCarBatched.MAX_SPEED,
                         MountainCarBatched.MAX_SPEED])
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float64)
        self.action_space = gym.spaces.Discrete(MountainCarBatched.N_ACTIONS)
        self._batched = MountainCarBatched(1)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self._batched.reset([self.np_random])[0], {}

    def step(self, action):
        obs, reward, terminated, truncated, info = self._batched.step(np.array([action]))
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}


@dataclass(frozen=True)
class MountainCarOptions:
    """MountainCar's options (`--set tile_coding=published`)."""

    tile_coding: str = param(
        "clip", "tile coding: clip (scaled inputs, cells clipped to the grid), wrap "
                "(PyFixedReps >= 2.0) or published (PyFixedReps 1.0.0 as pinned by the "
                "reference: raw, unscaled inputs)", choices=TILE_MODES)
    """mode of `barfi.features.TileCoding`; the published runs tiled the raw (x, v), where the
    velocity barely registers, so the default is the corrected coder"""


def _features(spec: EnvSpec, options: MountainCarOptions, gens, device) -> TileCoding:
    """Tile coding, 5 tilings x 4 x 4 tiles (80 features), as the reference."""
    return TileCoding(spec.obs_low, spec.obs_high, tiles=4, tilings=5, mode=options.tile_coding,
                      device=device)


# Bang-bang is the base; the velocity sweeps (PaperPlotsVel/) differ.
SPEC = EnvSpec(
    name="mountaincar", obs_dim=2, n_actions=3, action_dim=None, action_low=None,
    action_high=None, horizon=MountainCarBatched.HORIZON,
    batched=lambda num_envs, spec, options: MountainCarBatched(num_envs, spec=spec),
    features=_features, reward_head="full", options=MountainCarOptions,
    obs_low=(MountainCarBatched.MIN_POSITION, -MountainCarBatched.MAX_SPEED),
    obs_high=(MountainCarBatched.GOAL_POSITION, MountainCarBatched.MAX_SPEED),
    published=(
        Published(dict(episodes=500, actor_lr=0.0625, actor_reg=0.25, critic_lr=1 / 32,
                       buffer_size=5, reward_lr=1 / 64, gamma_lr=0.0, lambda_gamma=0.0,
                       lambda_r=0.0, inner_mul=3, neumann_alpha=1e-3, first_mul=50,
                       first_steps=False)),
        Published(dict(actor_lr=1 / 32), family="actor-critic"),
        Published(dict(episodes=2000), aux=("velocity",)),
        Published(dict(actor_lr=1 / 64, actor_reg=0.0), family="reinforce", aux=("velocity",)),
        Published(dict(actor_lr=1 / 64), family="actor-critic", aux=("velocity",)),
        Published(dict(actor_lr=1 / 128, actor_reg=0.0, buffer_size=10, lambda_gamma=0.06125,
                       gamma_lr=1 / 64, inner_mul=5), family="barfi", aux=("velocity",)),
    ),
    episode_cpu_s=0.042,
    block_size=100,
    agent_mem_mb={"reinforce": 3.0, "actor-critic": 9.0, "barfi": 8.0},
    gym_id="barfi/MountainCar-v0",
    gym_registrations=(dict(id="barfi/MountainCar-v0",
                            entry_point="barfi.envs.mountaincar:MountainCarEnv",
                            max_episode_steps=MountainCarBatched.HORIZON),),
    description="MountainCar with a sparse +1 at the goal, horizon 2000")
