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


# Gymnasium's CartPoleEnv constants, derived the same way (so the same float64 values).
GRAVITY = 9.8
MASSCART = 1.0
MASSPOLE = 0.1
TOTAL_MASS = MASSPOLE + MASSCART
LENGTH = 0.5                                # half the pole's length
POLEMASS_LENGTH = MASSPOLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02                                  # seconds per step
THETA_THRESHOLD = 12 * 2 * math.pi / 360    # radians
X_THRESHOLD = 2.4


def euler_step(x, x_dot, theta, theta_dot, force, cos, sin):
    """One step of Gymnasium's CartPole equations and Euler integrator, on floats or on arrays
    (`cos`, `sin`: numpy's, or wrappers of them returning floats). These are Gymnasium's
    operations in Gymnasium's order: a reordered product would round differently.
    (theta_dot * theta_dot is exactly Gymnasium's np.square(theta_dot).)"""
    costheta = cos(theta)
    sintheta = sin(theta)
    temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS
    thetaacc = (GRAVITY * sintheta - costheta * temp) / (
        LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / TOTAL_MASS))
    xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
    return (x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot,
            theta_dot + TAU * thetaacc)


def _float_cos(value: float) -> float:
    return float(np.cos(value))     # numpy's cosine, as Gymnasium's (math.cos may differ)


def _float_sin(value: float) -> float:
    return float(np.sin(value))


class CartPoleBatched(BatchedEnv):
    """B CartPole agents in lockstep.

    info keys returned by `step`:
    - "prev_obs" (B, 4): the observation before the step's starting observation (all zeros
      at the first step). The PD-controller aux rewards use it for their derivative term.
    An agent whose episode ended stays where it is (stepping on would only integrate a fallen
    pole, which can overflow); its later outputs are ignored by the caller.
    """

    HORIZON = 500
    START_LOW, START_HIGH = -0.05, 0.05     # each state dimension ~ U(-0.05, 0.05), as Gymnasium
    N_ACTIONS = 2
    FORCES = np.array([-FORCE_MAG, FORCE_MAG])      # by action

    def __init__(self, num_envs: int, spec: Any = None):
        self.num_envs = num_envs
        self.spec = spec
        self.state = np.zeros((4, num_envs))    # rows x, x_dot, theta, theta_dot (contiguous)
        self.t = 0
        self.done = np.ones(num_envs, dtype=bool)
        self.obs = np.zeros((num_envs, 4))
        self.prev_obs = np.zeros((num_envs, 4))
        self._truncated = np.zeros((2, num_envs), dtype=bool)   # by (t >= HORIZON)
        self._truncated[1] = True
        self._rewards = np.ones(num_envs)

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
        self.obs = self.observe(self.state)
        self.prev_obs = np.zeros((self.num_envs, 4))
        return self.obs.copy()

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions).reshape(self.num_envs)
        state, terminated = self._step_one(actions) if self.num_envs == 1 else \
            self._step_many(actions)
        self.state = state
        self.t += 1
        truncated = self._truncated[int(self.t >= self.HORIZON)].copy()
        self.done |= terminated | truncated
        info = {"prev_obs": self.prev_obs}
        self.prev_obs = self.obs
        self.obs = self.observe(state)
        return self.obs.copy(), self._rewards.copy(), terminated, truncated, info

    def _step_many(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The next (4, B) state, finished agents kept where they are, and terminated (B,)."""
        x, x_dot, theta, theta_dot = self.state
        state = np.stack(euler_step(x, x_dot, theta, theta_dot, self.FORCES[actions],
                                    np.cos, np.sin))
        state = np.where(self.done, self.state, state)
        # |v| > c is exactly Gymnasium's v < -c or v > c
        terminated = (np.abs(state[0]) > X_THRESHOLD) | (np.abs(state[2]) > THETA_THRESHOLD)
        return state, terminated

    def _step_one(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`_step_many` for a batch of one, on Python floats: the same IEEE operations with a
        tenth of the numpy calls, which dominate the cost of a step at B = 1."""
        x, x_dot, theta, theta_dot = self.state[:, 0].tolist()
        if not self.done[0]:
            force = FORCE_MAG if actions[0] == 1 else -FORCE_MAG
            x, x_dot, theta, theta_dot = euler_step(x, x_dot, theta, theta_dot, force,
                                                    _float_cos, _float_sin)
        terminated = abs(x) > X_THRESHOLD or abs(theta) > THETA_THRESHOLD
        return np.array([[x], [x_dot], [theta], [theta_dot]]), np.array([terminated])


class CartPoleEnv(gym.Env):
    """Single-agent CartPole (barfi/CartPole-v1): `CartPoleBatched` with a batch of one, drawing
    its start state from the environment's own `np_random`; spaces, float32 observations and
    reward (+1 per step) as Gymnasium's CartPole-v1."""

    metadata = {"render_modes": []}

    def __init__(self):
        high = np.array([X_THRESHOLD * 2, np.inf, THETA_THRESHOLD * 2, np.inf],
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
    episode_cpu_s=0.015,
    block_size=100,
    agent_mem_mb={"reinforce": 2.0, "actor-critic": 4.0, "barfi": 4.0},
    gym_id="barfi/CartPole-v1",
    gym_registrations=(dict(
        id="barfi/CartPole-v1", entry_point="barfi.envs.cartpole:CartPoleEnv",
        max_episode_steps=CartPoleBatched.HORIZON, reward_threshold=475.0),),
    description="Gymnasium CartPole-v1, +1 per step, horizon 500")
