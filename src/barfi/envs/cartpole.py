"""CartPole: Gymnasium's CartPole-v1, batched through Gymnasium's own vectorised CartPole.

Observation (x, x_dot, theta, theta_dot), actions {0 = push left, 1 = push right}, r_p = +1 per
step (the terminal step included), terminated when |x| > 2.4 or |theta| > 12 degrees, horizon 500.

`CartPoleBatched` runs `gymnasium.envs.classic_control.cartpole.CartPoleVectorEnv` (the same
equations as CartPoleEnv, elementwise over the batch) and overwrites its start states with
per-agent draws. The reference implementation (barfi-cp/src/environments/CartPole*.py) wrapped
gym.make("CartPole-v1"), whose observations are float32; the observations here are those same
float32 values, stored as float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

from barfi.envs.base import BatchedEnv, EnvSpec, Published
from barfi.features import FourierBasis


class CartPoleBatched(BatchedEnv):
    """B CartPole agents in lockstep.

    info keys returned by `step`:
    - "prev_obs" (B, 4): the observation before the step's starting observation (all zeros
      at the first step). The PD-controller aux rewards use it for their derivative term.
    The vector env's auto-reset (an agent that finished is restarted from the vector env's own
    random numbers on its next step) only affects agents whose outputs the caller ignores.
    """

    HORIZON = 500
    START_LOW, START_HIGH = -0.05, 0.05     # each state dimension ~ U(-0.05, 0.05), as Gymnasium
    N_ACTIONS = 2

    def __init__(self, num_envs: int, spec: Any = None):
        self.num_envs = num_envs
        self.spec = spec
        self.vector_env = CartPoleVectorEnv(num_envs=num_envs, max_episode_steps=self.HORIZON)
        # Seed the vector env's own generator once, so that its (discarded) reset draws never
        # read OS entropy; every number that matters comes from the agents' generators.
        self.vector_env.reset(seed=0)
        self.obs = np.zeros((num_envs, 4))
        self.prev_obs = np.zeros((num_envs, 4))

    @staticmethod
    def observe(state: np.ndarray) -> np.ndarray:
        """Gymnasium's observation of a float64 state: rounded to float32 (kept as float64)."""
        return state.astype(np.float32).astype(np.float64)

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Each agent draws its start state, 4 x U(-0.05, 0.05), exactly as CartPoleEnv.reset
        does from its np_random; the dynamics are deterministic afterwards."""
        assert len(rngs) == self.num_envs, "one generator per agent"
        start = np.stack([rng.uniform(low=self.START_LOW, high=self.START_HIGH, size=(4,))
                          for rng in rngs])
        self.vector_env.reset()  # clears step counters and auto-reset flags
        self.vector_env.state = start.T.copy()  # the vector env keeps the state as (4, B)
        self.obs = self.observe(start)
        self.prev_obs = np.zeros((self.num_envs, 4))
        return self.obs.copy()

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        obs32, reward, terminated, truncated, _ = self.vector_env.step(actions)
        info = {"prev_obs": self.prev_obs}
        self.prev_obs = self.obs
        self.obs = obs32.astype(np.float64)
        return (self.obs.copy(), reward.astype(np.float64), terminated.copy(), truncated.copy(),
                info)


def _features(spec: EnvSpec, options, gens, device) -> FourierBasis:
    """Coupled Fourier basis of order 3 on the 4-D state (256 features), as the reference."""
    return FourierBasis(spec.obs_low, spec.obs_high, order=3, device=device)


SPEC = EnvSpec(
    name="cartpole", obs_dim=4, n_actions=2, action_dim=None, action_low=None, action_high=None,
    horizon=CartPoleBatched.HORIZON,
    batched=lambda num_envs, spec, options: CartPoleBatched(num_envs, spec=spec),
    features=_features, reward_head="full",
    obs_low=(-2.4, -3.5, -0.2095, -3.5), obs_high=(2.4, 3.5, 0.2095, 3.5),
    published=(
        Published(dict(episodes=1000, actor_lr=1e-3, actor_reg=0.25, critic_lr=1e-3,
                       buffer_size=10000, reward_lr=1e-3, gamma_lr=1e-3, lambda_gamma=0.25,
                       lambda_r=0.0, neumann_alpha=1e-3, first_mul=150)),
        Published(dict(actor_lr=5e-4, critic_lr=5e-4), family="actor-critic"),
    ),
    gym_id="barfi/CartPole-v1",
    gym_registrations=(dict(
        id="barfi/CartPole-v1",
        entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv",
        vector_entry_point="gymnasium.envs.classic_control.cartpole:CartPoleVectorEnv",
        max_episode_steps=CartPoleBatched.HORIZON, reward_threshold=475.0),),
    description="Gymnasium CartPole-v1, +1 per step, horizon 500")
