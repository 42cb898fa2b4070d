"""CartPole: the native batched dynamics against Gymnasium's own CartPole-v1, the independent
reference, step for step (every float64 state, observation, reward and flag) and through whole
training runs."""

from __future__ import annotations

import dataclasses
import warnings

import gymnasium as gym
import numpy as np
import pytest
import xarray as xr
from gymnasium.utils.env_checker import check_env

from barfi.config import resolve_config
from barfi.envs import ENVS, BatchedEnv
from barfi.envs.cartpole import CartPoleBatched
from barfi.train import train


def rngs(*seeds: int) -> list[np.random.Generator]:
    return [np.random.default_rng(seed) for seed in seeds]


def pd_action(obs) -> int:
    """A balancing controller, to get long episodes (up to the 500-step truncation)."""
    return int(obs[2] + 0.5 * obs[3] > 0)


def gymnasium_cartpole(start_state: np.ndarray) -> gym.Env:
    """Gymnasium's CartPole-v1 (with its TimeLimit) put in the float64 state `start_state`."""
    env = gym.make("CartPole-v1")
    env.reset(seed=0)                       # resets the TimeLimit counter
    env.unwrapped.state = np.array(start_state, dtype=np.float64)
    return env


@pytest.mark.parametrize("num_envs", [1, 6])      # 1: the float path, 6: the array path
def test_native_cartpole_equals_gymnasium_step_for_step(num_envs):
    env = CartPoleBatched(num_envs)
    lengths, truncations = [], 0
    for episode in range(40 // num_envs):
        seeds = [1000 * num_envs + episode * num_envs + i for i in range(num_envs)]
        obs = env.reset(rngs(*seeds))
        refs = [gymnasium_cartpole(env.state[:, i]) for i in range(num_envs)]
        np.testing.assert_array_equal(
            obs, np.stack([np.array(r.unwrapped.state, dtype=np.float32) for r in refs]))
        # Agent i follows the balancing controller with probability p_i, else acts at random:
        # from episodes that fall in a few steps to episodes truncated at 500.
        p_follow = np.linspace(0.6, 1.0, num_envs) if num_envs > 1 else [(0.6, 1.0)[episode % 2]]
        action_rng = np.random.default_rng(episode)
        running = np.ones(num_envs, bool)
        length = np.zeros(num_envs, int)
        while running.any():
            actions = np.array([pd_action(o) if action_rng.random() < p else
                                int(action_rng.integers(2)) for o, p in zip(obs, p_follow)])
            obs, r, term, trunc, _ = env.step(actions)
            for i in np.flatnonzero(running):
                ref_obs, ref_r, ref_term, ref_trunc, _ = refs[i].step(int(actions[i]))
                np.testing.assert_array_equal(env.state[:, i], refs[i].unwrapped.state)
                np.testing.assert_array_equal(obs[i], ref_obs)
                assert (r[i], term[i], trunc[i]) == (ref_r, ref_term, ref_trunc)
                length[i] += 1
                running[i] = not (ref_term or ref_trunc)
                truncations += ref_trunc
        lengths.extend(length)
    # The comparison covered short and long episodes and the truncation.
    assert min(lengths) < 30 and max(lengths) == 500 and truncations > 0


def test_start_states_are_gymnasiums_draws_from_the_agent_generators():
    env = CartPoleBatched(3)
    obs = env.reset(rngs(5, 6, 7))
    for i, seed in enumerate((5, 6, 7)):
        ref = gym.make("CartPole-v1")
        ref.reset(seed=0)
        ref.unwrapped.np_random = np.random.default_rng(seed)   # CartPoleEnv.reset's generator
        ref_obs, _ = ref.reset()
        np.testing.assert_array_equal(env.state[:, i], ref.unwrapped.state)
        np.testing.assert_array_equal(obs[i], ref_obs)


def test_truncates_at_500_and_reports_prev_obs():
    env = CartPoleBatched(1)
    obs0 = env.reset(rngs(2))
    obs1, _, _, _, info = env.step(np.array([pd_action(obs0[0])]))
    np.testing.assert_array_equal(info["prev_obs"], np.zeros((1, 4)))
    obs2, _, _, _, info = env.step(np.array([pd_action(obs1[0])]))
    np.testing.assert_array_equal(info["prev_obs"], obs0)
    obs = obs2
    for t in range(2, 500):
        obs, r, term, trunc, _ = env.step(np.array([pd_action(obs[0])]))
        assert not term[0], "the balancing controller should hold the pole"
        assert trunc[0] == (t == 499) and r[0] == 1.0


@pytest.mark.parametrize("num_envs", [1, 2])
def test_finished_agents_stay_where_they_are(num_envs):
    env = CartPoleBatched(num_envs)
    env.reset(rngs(*range(num_envs)))
    done = np.zeros(num_envs, bool)
    while not done.all():                    # always push right: the poles fall
        _, _, term, _, _ = env.step(np.ones(num_envs, np.int64))
        done |= term
    frozen = env.state.copy()
    for _ in range(600):
        env.step(np.ones(num_envs, np.int64))
    np.testing.assert_array_equal(env.state, frozen)


def test_single_agent_env_equals_gymnasium_and_passes_check_env():
    ours, ref = gym.make("barfi/CartPole-v1"), gym.make("CartPole-v1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # unbounded velocities, as Gymnasium's
        check_env(ours.unwrapped, skip_render_check=True)
    assert ours.observation_space == ref.observation_space
    assert ours.action_space == ref.action_space
    assert ours.spec.max_episode_steps == ref.spec.max_episode_steps == 500
    action_rng = np.random.default_rng(4)
    for seed in range(5):
        obs, _ = ours.reset(seed=seed)
        ref_obs, _ = ref.reset(seed=seed)
        np.testing.assert_array_equal(obs, ref_obs)
        assert obs.dtype == ref_obs.dtype == np.float32
        done = False
        while not done:
            action = pd_action(obs) if action_rng.random() < 0.8 else int(action_rng.integers(2))
            step, ref_step = ours.step(action), ref.step(action)
            np.testing.assert_array_equal(step[0], ref_step[0])
            assert step[1:4] == ref_step[1:4]
            obs, done = step[0], step[2] or step[3]


class GymnasiumCartPoleBlock(BatchedEnv):
    """The reference for the training test: B Gymnasium CartPole-v1 environments, agent i
    started from rngs[i] as `CartPoleBatched` starts it (4 x U(-0.05, 0.05)), with the same
    prev_obs info; a finished agent is no longer stepped."""

    def __init__(self, num_envs: int, spec):
        self.num_envs, self.spec = num_envs, spec

    def reset(self, rngs):
        self.envs = [gymnasium_cartpole(rng.uniform(low=-0.05, high=0.05, size=(4,)))
                     for rng in rngs]
        self.obs = np.stack([np.array(e.unwrapped.state, dtype=np.float32) for e in self.envs]
                            ).astype(np.float64)
        self.prev_obs = np.zeros_like(self.obs)
        self.done = np.zeros(self.num_envs, bool)
        return self.obs.copy()

    def step(self, actions):
        obs, r = self.obs.copy(), np.zeros(self.num_envs)
        term, trunc = np.zeros(self.num_envs, bool), np.zeros(self.num_envs, bool)
        for i in np.flatnonzero(~self.done):
            obs[i], r[i], term[i], trunc[i], _ = self.envs[i].step(int(actions[i]))
        self.done |= term | trunc
        info = {"prev_obs": self.prev_obs}
        self.prev_obs, self.obs = self.obs, obs
        return obs.copy(), r, term, trunc, info


@pytest.mark.parametrize("aux, method, episodes", [("pd-agree", "reinforce", 12),
                                                   ("pd-disagree-noisy", "barfi", 4)])
def test_training_runs_equal_those_on_gymnasium_cartpole(monkeypatch, aux, method, episodes):
    config = resolve_config("cartpole", aux, method, {"episodes": episodes})
    native = train(config, [1, 2], progress=False)
    spec = ENVS["cartpole"]
    monkeypatch.setitem(ENVS, "cartpole", dataclasses.replace(
        spec, batched=lambda num_envs, spec, options: GymnasiumCartPoleBlock(num_envs, spec)))
    reference = train(config, [1, 2], progress=False)
    for ours, ref in zip(native, reference):
        assert float(ours.episode_length.sum()) > 2 * episodes
        xr.testing.assert_equal(ours.drop_vars("wall_time"), ref.drop_vars("wall_time"))
