"""GridWorld: a continuous 2-D world with four noisy compass actions (paper, section 5.1).

The agent's position (x, y) lives in [0, 1]^2 and starts at (0.125, 0.125). An action moves it
in 4 sub-steps of 0.045 along one axis. With probability 0.1 the chosen action is first replaced
by one drawn uniformly from all four (possibly the same one). Every step costs r_p = -0.1; a
sub-step that enters the goal [0.75, 0.99]^2 adds +100 and ends the episode at once (no further
sub-steps). A sub-step that would leave [0, 1]^2 is not taken and ends the step's sub-stepping
(the agent stays where it is). Bounds of both boxes are inclusive. Horizon: 50 steps.

These are the semantics of the reference implementation (barfi-gw/src/environments/Maze.py),
except for three of its quirks that we do not reproduce, because they are bookkeeping accidents
rather than part of the task:
- its step counter reaches the horizon *before* the 50th step's dynamics, so the 50th step is a
  no-op with reward 0 (episodes had 49 real steps); here all 50 steps are real;
- after the goal-entering sub-step it returned the position *before* that sub-step as the next
  observation; here the next observation is the true position;
- `info` carried nothing; here it carries the sub-step positions that the aux rewards need.

`GridWorldBatched` holds the dynamics; `GridWorldEnv` (registered as barfi/GridWorld-v0) is a
Gymnasium environment running the very same code with a batch of one.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from barfi.envs.base import BatchedEnv, EnvSpec, MapLandmarks, Published
from barfi.features import FourierBasis


class GridWorldBatched(BatchedEnv):
    """B GridWorld agents in lockstep.

    info keys returned by `step` (all with leading dim B):
    - "substep_pos" (B, 4, 2): position after each sub-step (unchanged after the last taken one)
    - "substep_valid" (B, 4) bool: the sub-step was taken (inside the world, before the goal
      was reached, and the agent's episode still running)
    - "executed_action" (B,) int64: the action actually executed (after random replacement)
    - "action_replaced" (B,) bool: the chosen action was replaced by a random one
    """

    START = (0.125, 0.125)
    GOAL_LOW, GOAL_HIGH = 0.75, 0.99            # goal box [0.75, 0.99]^2
    STEP_UNIT = 0.05 - 0.005                    # the reference's wall width minus a margin
    SUBSTEPS = int(0.2 / STEP_UNIT)             # = 4: the reference's max step length / unit
    HORIZON = 50
    RANDOM_ACTION_PROB = 0.1
    STEP_REWARD = -0.1
    GOAL_REWARD = 100.0
    # Action -> unit motion (dx, dy), as in the reference: 0 = +y, 1 = +x, 2 = -y, 3 = -x.
    MOTIONS = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]])
    N_ACTIONS = 4

    def __init__(self, num_envs: int, spec: Any = None):
        self.num_envs = num_envs
        self.spec = spec
        self.pos = np.zeros((num_envs, 2))
        self.t = 0
        self.done = np.ones(num_envs, dtype=bool)
        self.reached_goal = np.zeros(num_envs, dtype=bool)
        self.noise = np.zeros((num_envs, self.HORIZON, 2))
        self._agent_index = np.arange(num_envs)[:, None]

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Every agent at the start; each draws its episode's noise, (HORIZON, 2) U[0,1):
        column 0 decides the random replacement, column 1 picks the random action."""
        assert len(rngs) == self.num_envs, "one generator per agent"
        self.pos = np.tile(np.array(self.START), (self.num_envs, 1))
        self.t = 0
        self.done = np.zeros(self.num_envs, dtype=bool)
        self.reached_goal = np.zeros(self.num_envs, dtype=bool)
        self.noise = np.stack([rng.random((self.HORIZON, 2)) for rng in rngs])
        return self.pos.copy()

    @classmethod
    def in_box(cls, pos: np.ndarray, low: float, high: float) -> np.ndarray:
        """pos (..., 2) inside [low, high]^2, bounds included (as the reference's in_region)."""
        return ((pos >= low) & (pos <= high)).all(axis=-1)

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        running = ~self.done
        # The noise row of this step; finished agents may be stepped past the horizon.
        row = self.noise[:, min(self.t, self.HORIZON - 1)]
        replaced = row[:, 0] < self.RANDOM_ACTION_PROB
        random_actions = np.minimum((row[:, 1] * self.N_ACTIONS).astype(np.int64),
                                    self.N_ACTIONS - 1)
        executed = np.where(replaced, random_actions, actions)
        delta = self.MOTIONS[executed] * self.STEP_UNIT

        # All sub-steps at once. The candidate positions are accumulated one addition at a time
        # (np.add.accumulate is sequential), so they equal the reference's repeated additions
        # bit for bit; index 0 is the position before the step.
        path = np.add.accumulate(
            np.concatenate([self.pos[:, None], np.repeat(delta[:, None], self.SUBSTEPS, axis=1)],
                           axis=1), axis=1)                                  # (B, 1 + 4, 2)
        candidates = path[:, 1:]
        # A sub-step is taken if the agent runs, every sub-step so far stayed inside the world
        # (the first one outside stops the sub-stepping) and no earlier sub-step hit the goal.
        inside_so_far = np.logical_and.accumulate(self.in_box(candidates, 0.0, 1.0), axis=1)
        in_goal = self.in_box(candidates, self.GOAL_LOW, self.GOAL_HIGH)
        goal_so_far = np.logical_or.accumulate(in_goal & inside_so_far, axis=1)
        substep_valid = running[:, None] & inside_so_far                      # (B, 4)
        substep_valid[:, 1:] &= ~goal_so_far[:, :-1]
        entered_goal = (substep_valid & in_goal).any(axis=1)
        # After sub-step k the agent is at path[n_k], n_k = number of sub-steps taken so far.
        taken_so_far = substep_valid.cumsum(axis=1)
        substep_pos = path[self._agent_index, taken_so_far]                  # (B, 4, 2)
        self.pos = substep_pos[:, -1].copy()
        self.reached_goal |= entered_goal
        reward = np.where(running, self.STEP_REWARD, 0.0) + self.GOAL_REWARD * entered_goal

        self.t += 1
        terminated = self.reached_goal.copy()
        truncated = np.full(self.num_envs, self.t >= self.HORIZON)
        self.done |= terminated | truncated
        info = {"substep_pos": substep_pos, "substep_valid": substep_valid,
                "executed_action": executed, "action_replaced": replaced & running}
        return self.pos.copy(), reward, terminated, truncated, info


class GridWorldEnv(gym.Env):
    """Single-agent GridWorld (barfi/GridWorld-v0): `GridWorldBatched` with a batch of one,
    drawing its noise from the environment's own `np_random`. Reward = r_p. The info values
    are the batched ones without the batch dimension."""

    metadata = {"render_modes": []}

    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float64)
        self.action_space = gym.spaces.Discrete(GridWorldBatched.N_ACTIONS)
        self._batched = GridWorldBatched(1)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs = self._batched.reset([self.np_random])
        return obs[0], {}

    def step(self, action):
        obs, reward, terminated, truncated, info = self._batched.step(np.array([action]))
        return (obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]),
                {key: value[0] for key, value in info.items()})


def _features(spec: EnvSpec, options, gens, device) -> FourierBasis:
    """Coupled Fourier basis of order 3 on the position (16 features), as the reference."""
    return FourierBasis(spec.obs_low, spec.obs_high, order=3, device=device)


SPEC = EnvSpec(
    name="gridworld", obs_dim=2, n_actions=4, action_dim=None, action_low=None,
    action_high=None, horizon=GridWorldBatched.HORIZON,
    batched=lambda num_envs, spec, options: GridWorldBatched(num_envs, spec=spec),
    features=_features, reward_head="fixed-primary",  # the reference keeps phi2 = 1 here
    obs_low=(0.0, 0.0), obs_high=(1.0, 1.0), phi_map_points=33,
    # The bonus square is that of the center-bonus aux reward (aux_rewards.CENTRE_LOW, _HIGH).
    phi_map_landmarks=MapLandmarks(start=GridWorldBatched.START,
                                   goal=(GridWorldBatched.GOAL_LOW, GridWorldBatched.GOAL_HIGH),
                                   bonus=(0.4, 0.6), bonus_label="centre bonus"),
    episode_cpu_s=0.0038,
    block_size=200,
    agent_mem_mb={"reinforce": 0.5, "actor-critic": 0.5, "barfi": 0.5},
    published=(
        Published(dict(episodes=2000, actor_lr=5e-3, actor_reg=0.25, critic_lr=5e-3,
                       buffer_size=1000, reward_lr=5e-3, gamma_lr=5e-3, lambda_gamma=0.06125,
                       lambda_r=0.0, neumann_alpha=5e-4, first_mul=150)),
        Published(dict(actor_lr=1e-4, critic_lr=1e-4), method="actor-critic-pbrs",
                  aux=("center-bonus",)),
    ),
    gym_id="barfi/GridWorld-v0",
    gym_registrations=(dict(id="barfi/GridWorld-v0",
                            entry_point="barfi.envs.gridworld:GridWorldEnv",
                            max_episode_steps=GridWorldBatched.HORIZON),),
    description="continuous 2-D gridworld, 4 noisy actions, goal top right, horizon 50")
