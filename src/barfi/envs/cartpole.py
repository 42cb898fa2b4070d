"""CartPole: Gymnasium's CartPole-v1, natively batched in numpy.

Observation (x, x_dot, theta, theta_dot), actions {0 = push left, 1 = push right}, r_p = +1 per
step (the terminal step included), terminated when |x| > 2.4 or |theta| > 12 degrees, horizon 500.

`CartPoleBatched` computes Gymnasium's equations (gymnasium.envs.classic_control.cartpole, Euler
integrator) with the same constants and the same float64 operations in the same order, so its
states agree with Gymnasium's to the last bit. As in Gymnasium, the state stays float64 and only
the observation is rounded to float32 (returned here as float64). The reference implementation
(barfi-cp/src/environments/CartPole*.py) wrapped gym.make("CartPole-v1").

`CartPoleEnv` (registered as barfi/CartPole-v1) is a Gymnasium environment running the very same
code with a batch of one; its observations are float32, as Gymnasium's.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from barfi.envs.base import BatchedEnv, EnvSpec, Published
from barfi.features import FourierBasis


class CartPoleBatched(BatchedEnv):
    """B CartPole agents in lockstep.

    info keys returned by `step`:
    - "prev_obs" (B, 4): the observation before the step's starting observation (all zeros
      at the first step). The PD-controller aux rewards use it for their derivative term.
    An agent whose episode ended stays where it is (stepping on would only integrate a fallen
    pole, which can overflow); its later outputs are ignored by the caller.
    """

    # Gymnasium's CartPoleEnv constants, derived the same way (same float64 values).
    GRAVITY = 9.8
    MASSCART = 1.0
    MASSPOLE = 0.1
    TOTAL_MASS = MASSPOLE + MASSCART
    LENGTH = 0.5                            # half the pole's length
    POLEMASS_LENGTH = MASSPOLE * LENGTH
    FORCE_MAG = 10.0
    TAU = 0.02                              # seconds per step
    THETA_THRESHOLD = 12 * 2 * math.pi / 360
    X_THRESHOLD = 2.4
    HORIZON = 500
    START_LOW, START_HIGH = -0.05, 0.05     # each state dimension ~ U(-0.05, 0.05), as Gymnasium
    N_ACTIONS = 2

    def __init__(self, num_envs: int, spec: Any = None):
        self.num_envs = num_envs
        self.spec = spec
        self.state = np.zeros((4, num_envs))    # rows x, x_dot, theta, theta_dot (contiguous)
        self.t = 0
        self.done = np.ones(num_envs, dtype=bool)
        self.any_done = True
        self.obs = np.zeros((num_envs, 4))
        self.prev_obs = np.zeros((num_envs, 4))

    @staticmethod
    def observe(state: np.ndarray) -> np.ndarray:
        """Gymnasium's observation of a (4, B) float64 state: (B, 4) rounded to float32 (kept
        as float64)."""
        return state.T.astype(np.float32).astype(np.float64)

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Each agent draws its start state, 4 x U(-0.05, 0.05), exactly as CartPoleEnv.reset
        does from its np_random; the dynamics are deterministic afterwards."""
        assert len(rngs) == self.num_envs, "one generator per agent"
        start = np.stack([rng.uniform(low=self.START_LOW, high=self.START_HIGH, size=(4,))
                          for rng in rngs])
        self.state = start.T.copy()
        self.t = 0
        self.done = np.zeros(self.num_envs, dtype=bool)
        self.any_done = False
        self.obs = self.observe(self.state)
        self.prev_obs = np.zeros((self.num_envs, 4))
        return self.obs.copy()

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions).reshape(self.num_envs)
        x, x_dot, theta, theta_dot = self.state
        # Gymnasium's operations in Gymnasium's order: a reordered product rounds differently.
        force = np.where(actions == 1, self.FORCE_MAG, -self.FORCE_MAG)
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        temp = (force + self.POLEMASS_LENGTH * np.square(theta_dot) * sintheta) / self.TOTAL_MASS
        thetaacc = (self.GRAVITY * sintheta - costheta * temp) / (
            self.LENGTH * (4.0 / 3.0 - self.MASSPOLE * np.square(costheta) / self.TOTAL_MASS))
        xacc = temp - self.POLEMASS_LENGTH * thetaacc * costheta / self.TOTAL_MASS
        state = np.stack((x + self.TAU * x_dot, x_dot + self.TAU * xacc,       # Euler
                          theta + self.TAU * theta_dot, theta_dot + self.TAU * thetaacc))
        if self.any_done:
            state = np.where(self.done, self.state, state)
        self.state = state

        # |v| > c is exactly Gymnasium's v < -c or v > c
        terminated = (np.abs(state[0]) > self.X_THRESHOLD) | \
            (np.abs(state[2]) > self.THETA_THRESHOLD)
        self.t += 1
        truncated = np.full(self.num_envs, self.t >= self.HORIZON)
        self.done |= terminated | truncated
        self.any_done = bool(self.done.any())
        info = {"prev_obs": self.prev_obs}
        self.prev_obs = self.obs
        self.obs = self.observe(state)
        return self.obs.copy(), np.ones(self.num_envs), terminated, truncated, info


class CartPoleEnv(gym.Env):
    """Single-agent CartPole (barfi/CartPole-v1): `CartPoleBatched` with a batch of one, drawing
    its start state from the environment's own `np_random`; spaces, float32 observations and
    reward (+1 per step) as Gymnasium's CartPole-v1."""

    metadata = {"render_modes": []}

    def __init__(self):
        high = np.array([CartPoleBatched.X_THRESHOLD * 2, np.finfo(np.float32).max,
                         CartPoleBatched.THETA_THRESHOLD * 2, np.finfo(np.float32).max],
                        dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.action_space = gym.spaces.Discrete(CartPoleBatched.N_ACTIONS)
        self._batched = CartPoleBatched(1)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self._batched.reset([self.np_random])[0].astype(np.float32), {}

    def step(self, action):
        obs, reward, terminated, truncated, _ = self._batched.step(np.array([action]))
        return (obs[0].astype(np.float32), float(reward[0]), bool(terminated[0]),
                bool(truncated[0]), {})


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
        id="barfi/CartPole-v1", entry_point="barfi.envs.cartpole:CartPoleEnv",
        max_episode_steps=CartPoleBatched.HORIZON, reward_threshold=475.0),),
    description="Gymnasium CartPole-v1, +1 per step, horizon 500")
