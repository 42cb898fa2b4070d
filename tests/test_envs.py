"""Environments: hand-computed dynamics, Gymnasium API conformance, equality with Gymnasium's
own HalfCheetah, and per-agent independence of the batched envs (CartPole against Gymnasium's
CartPole: tests/test_cartpole.py)."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from barfi.config import resolve_config
from barfi.envs.halfcheetah import HalfCheetahOptions
from barfi.envs import ENVS, EnvSpec
from barfi.envs.gridworld import GridWorldBatched, GridWorldEnv
from barfi.envs.halfcheetah import HalfCheetahBatched, mujoco_warnings_to_log
from barfi.envs.mountaincar import MountainCarBatched

ENV_OF_GYM_ID = {"barfi/GridWorld-v0": "gridworld", "barfi/MountainCar-v0": "mountaincar",
                 "barfi/CartPole-v1": "cartpole", "barfi/HalfCheetah-v5": "halfcheetah",
                 "barfi/HalfCheetah-v4": "halfcheetah"}


def make_gym(gym_id: str, **kwargs) -> gym.Env:
    with warnings.catch_warnings(), mujoco_warnings_to_log():
        warnings.simplefilter("ignore", DeprecationWarning)   # HalfCheetah-v4 is "out of date"
        return gym.make(gym_id, **kwargs)


def rngs(*seeds: int) -> list[np.random.Generator]:
    return [np.random.default_rng(seed) for seed in seeds]


# --------------------------------------------------------------------------- specs, registry
def test_specs_are_complete_and_consistent():
    assert set(ENVS) == {"gridworld", "mountaincar", "cartpole", "halfcheetah"}
    expected = {  # name: (gym_id, obs_dim, n_actions, action_dim, horizon)
        "gridworld": ("barfi/GridWorld-v0", 2, 4, None, 50),
        "mountaincar": ("barfi/MountainCar-v0", 2, 3, None, 2000),
        "cartpole": ("barfi/CartPole-v1", 4, 2, None, 500),
        "halfcheetah": ("barfi/HalfCheetah-v5", 17, None, 6, 1000),
    }
    for name, spec in ENVS.items():
        assert isinstance(spec, EnvSpec) and spec.name == name
        assert (spec.gym_id, spec.obs_dim, spec.n_actions, spec.action_dim,
                spec.horizon) == expected[name]
        if spec.obs_low is not None:
            assert len(spec.obs_low) == len(spec.obs_high) == spec.obs_dim
            assert all(lo < hi for lo, hi in zip(spec.obs_low, spec.obs_high))
        env = spec.make_batched(2)
        assert env.num_envs == 2 and env.spec is spec
        obs = env.reset(rngs(0, 1))
        assert obs.shape == (2, spec.obs_dim) and obs.dtype == np.float64
    assert ENVS["cartpole"].obs_high == (2.4, 3.5, 0.2095, 3.5)
    assert ENVS["mountaincar"].obs_low == (-1.2, -0.07)
    assert ENVS["gridworld"].obs_high == (1.0, 1.0)
    assert ENVS["halfcheetah"].obs_low is None
    assert (ENVS["halfcheetah"].action_low, ENVS["halfcheetah"].action_high) == (-1.0, 1.0)


def test_halfcheetah_version_is_an_env_option():
    spec = ENVS["halfcheetah"]
    assert spec.make_batched(1, HalfCheetahOptions("v4")).gym_id == "barfi/HalfCheetah-v4"
    assert spec.make_batched(1).gym_id == "barfi/HalfCheetah-v5"
    config = resolve_config("halfcheetah", "ctrl", "reinforce", {"env_version": "v4"})
    assert config.env_options == HalfCheetahOptions("v4")
    assert config.to_attrs()["hp_env_version"] == "v4"
    assert spec.make_batched(1, config.env_options).gym_id == "barfi/HalfCheetah-v4"


@pytest.mark.parametrize("gym_id", list(ENV_OF_GYM_ID))
def test_registered_envs_pass_gymnasium_check_env(gym_id):
    env = make_gym(gym_id)
    # No display or pygame here: rendering is not part of these environments' job.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)     # HalfCheetah's unbounded Box
        check_env(env.unwrapped, skip_render_check=True)
    assert env.spec.max_episode_steps == ENVS[ENV_OF_GYM_ID[gym_id]].horizon


# --------------------------------------------------------------------------- GridWorld
def gridworld_at(pos, noise_row=(0.5, 0.5)) -> GridWorldBatched:
    """One agent at `pos` whose next step uses the given noise row (no replacement by default)."""
    env = GridWorldBatched(1)
    env.reset(rngs(0))
    env.pos = np.array([pos], dtype=np.float64)
    env.noise[0, 0] = noise_row
    return env


def test_gridworld_reset_draws_a_fixed_chunk_from_the_agent_generator():
    env = GridWorldBatched(2)
    obs = env.reset(rngs(3, 4))
    np.testing.assert_array_equal(obs, [[0.125, 0.125], [0.125, 0.125]])
    np.testing.assert_array_equal(env.noise[0], np.random.default_rng(3).random((50, 2)))
    np.testing.assert_array_equal(env.noise[1], np.random.default_rng(4).random((50, 2)))


def test_gridworld_four_substeps_of_0045():
    env = gridworld_at((0.125, 0.125))
    obs, r, term, trunc, info = env.step(np.array([1]))               # action 1 = +x
    xs = [0.125]
    for _ in range(4):
        xs.append(xs[-1] + (0.05 - 0.005))                             # repeated additions
    np.testing.assert_array_equal(obs, [[xs[4], 0.125]])
    assert math.isclose(obs[0, 0], 0.305)
    np.testing.assert_array_equal(info["substep_pos"][0, :, 0], xs[1:])
    np.testing.assert_array_equal(info["substep_pos"][0, :, 1], 0.125)
    assert info["substep_valid"].tolist() == [[True] * 4]
    assert r.tolist() == [-0.1] and term.tolist() == [False] and trunc.tolist() == [False]
    assert info["executed_action"].tolist() == [1] and info["action_replaced"].tolist() == [False]


@pytest.mark.parametrize("action, expected", [(0, (0.5, 0.68)), (2, (0.5, 0.32)),
                                              (3, (0.32, 0.5))])
def test_gridworld_action_directions(action, expected):
    obs, *_ = gridworld_at((0.5, 0.5)).step(np.array([action]))
    np.testing.assert_allclose(obs[0], expected, atol=1e-12)


def test_gridworld_wall_stops_the_substepping_and_the_agent_stays():
    env = gridworld_at((0.125, 0.125))
    obs, r, term, _, info = env.step(np.array([3]))                     # -x: 0.08, 0.035, -0.01
    assert math.isclose(obs[0, 0], 0.035) and obs[0, 1] == 0.125
    assert info["substep_valid"].tolist() == [[True, True, False, False]]
    # After the last taken sub-step the recorded position stays put.
    np.testing.assert_array_equal(info["substep_pos"][0, 2], obs[0])
    np.testing.assert_array_equal(info["substep_pos"][0, 3], obs[0])
    assert r.tolist() == [-0.1] and not term[0]
    # Against the wall: nothing moves at all.
    env = gridworld_at((0.02, 0.5))
    obs, r, _, _, info = env.step(np.array([3]))
    np.testing.assert_array_equal(obs, [[0.02, 0.5]])
    assert not info["substep_valid"].any() and r.tolist() == [-0.1]


def test_gridworld_goal_entered_mid_step_ends_the_episode_without_overshooting():
    env = gridworld_at((0.80, 0.67))
    obs, r, term, trunc, info = env.step(np.array([0]))                # +y: 0.715, 0.76 (goal)
    assert math.isclose(obs[0, 1], 0.76) and obs[0, 0] == 0.80
    assert info["substep_valid"].tolist() == [[True, True, False, False]]
    assert r.tolist() == [pytest.approx(99.9)] and term.tolist() == [True]
    assert not trunc[0]
    # A finished agent stepped again stays put, earns nothing and stays terminated.
    obs2, r2, term2, _, info2 = env.step(np.array([1]))
    np.testing.assert_array_equal(obs2, obs)
    assert r2.tolist() == [0.0] and term2.tolist() == [True] and not info2["substep_valid"].any()


def test_gridworld_goal_box_bounds_are_inclusive():
    assert GridWorldBatched.in_box(np.array([0.75, 0.99]), 0.75, 0.99)
    assert not GridWorldBatched.in_box(np.array([0.7499, 0.9]), 0.75, 0.99)
    assert not GridWorldBatched.in_box(np.array([0.8, 0.9901]), 0.75, 0.99)


def test_gridworld_random_action_replacement():
    # Column 0 < 0.1 replaces the action; column 1 picks it: floor(0.6 * 4) = 2 (-y).
    env = gridworld_at((0.5, 0.5), noise_row=(0.05, 0.6))
    obs, _, _, _, info = env.step(np.array([1]))
    np.testing.assert_allclose(obs[0], (0.5, 0.32), atol=1e-12)
    assert info["executed_action"].tolist() == [2] and info["action_replaced"].tolist() == [True]
    # Just above the threshold: the chosen action is kept.
    env = gridworld_at((0.5, 0.5), noise_row=(0.1, 0.6))
    obs, _, _, _, info = env.step(np.array([1]))
    np.testing.assert_allclose(obs[0], (0.68, 0.5), atol=1e-12)
    assert info["action_replaced"].tolist() == [False]


def test_gridworld_replacement_rate_and_horizon():
    env = GridWorldBatched(200)
    env.reset(rngs(*range(200)))
    replaced, steps = 0, 0
    for t in range(50):
        _, _, term, trunc, info = env.step(np.full(200, 3))           # push into the wall
        replaced += info["action_replaced"].sum()
        steps += 200
        assert trunc.all() == (t == 49)
        assert not term.any()
    assert 0.08 < replaced / steps < 0.12


# --------------------------------------------------------------------------- MountainCar
def mountaincar_at(x: float, v: float) -> MountainCarBatched:
    env = MountainCarBatched(1)
    env.reset(rngs(0))
    env.position, env.velocity = np.array([x]), np.array([v])
    return env


def test_mountaincar_reset_and_one_step_by_hand():
    env = MountainCarBatched(1)
    obs = env.reset(rngs(11))
    x0 = -0.6 + np.random.default_rng(11).random() * 0.2
    assert obs.tolist() == [[x0, 0.0]]
    for action in (2, 0, 1):
        x, v = env.position[0], env.velocity[0]
        v_next = v + (0.001 * (action - 1) - 0.0025 * math.cos(3 * x))
        obs, r, term, trunc, info = env.step(np.array([action]))
        assert obs[0, 1] == pytest.approx(v_next, abs=1e-15)
        assert obs[0, 0] == pytest.approx(x + v_next, abs=1e-15)
        assert r.tolist() == [0.0] and not term[0] and not trunc[0] and info == {}


def test_mountaincar_left_wall_stops_the_car():
    obs, *_ = mountaincar_at(-1.19, -0.05).step(np.array([0]))
    assert obs.tolist() == [[-1.2, 0.0]]


def test_mountaincar_velocity_is_clipped():
    # At x = -pi/6 gravity vanishes: v = 0.0695 + 0.001 -> clipped to 0.07.
    obs, *_ = mountaincar_at(-math.pi / 6, 0.0695).step(np.array([2]))
    assert obs[0, 1] == 0.07 and obs[0, 0] == pytest.approx(-math.pi / 6 + 0.07)
    obs, *_ = mountaincar_at(-math.pi / 6, -0.0695).step(np.array([0]))
    assert obs[0, 1] == -0.07


def test_mountaincar_goal_is_terminal_with_reward_one():
    env = mountaincar_at(0.47, 0.04)
    obs, r, term, _, _ = env.step(np.array([2]))
    assert obs[0, 0] >= 0.5 and r.tolist() == [1.0] and term.tolist() == [True]
    obs2, r2, term2, _, _ = env.step(np.array([2]))                     # finished: frozen
    np.testing.assert_array_equal(obs2, obs)
    assert r2.tolist() == [0.0] and term2.tolist() == [True]


def test_mountaincar_truncates_at_2000_steps():
    env = MountainCarBatched(1)
    env.reset(rngs(0))
    for t in range(2000):
        _, _, term, trunc, _ = env.step(np.array([1]))                 # doing nothing never wins
        assert trunc[0] == (t == 1999) and not term[0]


# CartPole: tests/test_cartpole.py


# --------------------------------------------------------------------------- HalfCheetah
@pytest.mark.parametrize("version, forward_key", [("v5", "reward_forward"), ("v4", "reward_run")])
def test_halfcheetah_matches_gymnasium_halfcheetah(version, forward_key):
    gym_env = make_gym(f"HalfCheetah-{version}", forward_reward_weight=1.0, ctrl_cost_weight=1.0)
    gym_env.reset(seed=0)
    gym_env.unwrapped.np_random = np.random.default_rng(9)
    gym_obs, _ = gym_env.reset()
    barfi_env = make_gym(f"barfi/HalfCheetah-{version}")
    barfi_env.reset(seed=0)
    barfi_env.unwrapped.np_random = np.random.default_rng(9)
    barfi_env.reset()
    env = ENVS["halfcheetah"].make_batched(1, HalfCheetahOptions(version))
    obs = env.reset(rngs(9))
    np.testing.assert_array_equal(obs[0], gym_obs)
    actions = np.random.default_rng(1).uniform(-1.5, 1.5, size=(150, 6))   # some out of bounds
    for t, action in enumerate(actions):
        gym_obs, gym_reward, _, gym_trunc, gym_info = gym_env.step(action)
        _, barfi_reward, _, _, barfi_info = barfi_env.step(action)
        obs, r, term, trunc, info = env.step(action[None])
        np.testing.assert_array_equal(obs[0], gym_obs)
        assert r[0] == gym_info[forward_key] == barfi_reward           # r_p: forward reward
        assert gym_reward == pytest.approx(r[0] - np.sum(action ** 2))   # gym: forward - ctrl
        assert barfi_info["reward_ctrl"] == gym_info["reward_ctrl"]
        assert not term[0] and not trunc[0]


def test_halfcheetah_reset_noise_and_horizon():
    env = HalfCheetahBatched(2)
    obs = env.reset(rngs(4, 5))
    rng = np.random.default_rng(4)
    qpos = env.init_qpos + rng.uniform(-0.1, 0.1, size=9)
    qvel = env.init_qvel + 0.1 * rng.standard_normal(9)
    np.testing.assert_array_equal(obs[0], np.concatenate([qpos[1:], qvel]))
    assert not np.array_equal(obs[0], obs[1])
    env.t = 998
    assert not env.step(np.zeros((2, 6)))[3].any()
    _, _, term, trunc, _ = env.step(np.zeros((2, 6)))
    assert trunc.all() and not term.any()


# --------------------------------------------------------------------------- batching
def rollout(env, seeds, actions, steps):
    """Per step: the (obs, r, term, trunc, info) of each agent, for the given action table
    actions[t, agent]; only steps while the agent's episode runs are kept."""
    env.reset(rngs(*seeds))
    running = np.ones(len(seeds), dtype=bool)
    per_agent = [[] for _ in seeds]
    for t in range(steps):
        obs, r, term, trunc, info = env.step(actions[t])
        for i in np.flatnonzero(running):
            per_agent[i].append((obs[i], r[i], term[i], trunc[i],
                                 {k: v[i] for k, v in info.items()}))
        running &= ~(term | trunc)
        if not running.any():
            break
    return per_agent


@pytest.mark.parametrize("name, steps", [("gridworld", 50), ("mountaincar", 2000),
                                         ("cartpole", 500), ("halfcheetah", 150)])
def test_a_block_gives_each_agent_its_own_trajectory(name, steps):
    spec = ENVS[name]
    seeds = (7, 8, 9)
    action_rng = np.random.default_rng(0)
    if spec.n_actions is None:
        actions = action_rng.uniform(-1, 1, size=(steps, 3, spec.action_dim))
    else:
        actions = action_rng.integers(0, spec.n_actions, size=(steps, 3))
    block = rollout(spec.make_batched(3), seeds, actions, steps)
    for i, seed in enumerate(seeds):
        alone = rollout(spec.make_batched(1), (seed,), actions[:, i:i + 1], steps)[0]
        assert len(alone) == len(block[i]) > 0
        for (o1, r1, te1, tr1, i1), (o2, r2, te2, tr2, i2) in zip(block[i], alone):
            np.testing.assert_array_equal(o1, o2)
            assert (r1, te1, tr1) == (r2, te2, tr2)
            assert i1.keys() == i2.keys()
            for key in i1:
                np.testing.assert_array_equal(i1[key], i2[key])
    # The agents really differ (different seeds), so the comparison above means something.
    assert not np.array_equal(block[0][0][0], block[1][0][0]) or name == "gridworld"


@pytest.mark.parametrize("gym_id, name", [("barfi/GridWorld-v0", "gridworld"),
                                          ("barfi/MountainCar-v0", "mountaincar")])
def test_single_env_runs_the_batched_dynamics(gym_id, name):
    env = make_gym(gym_id)
    batched = ENVS[name].make_batched(1)
    obs, _ = env.reset(seed=21)
    batched_obs = batched.reset(rngs(21))          # gym seeds np_random like default_rng(seed)
    np.testing.assert_array_equal(obs, batched_obs[0])
    action_rng = np.random.default_rng(3)
    for _ in range(ENVS[name].horizon):
        action = int(action_rng.integers(ENVS[name].n_actions))
        obs, r, term, trunc, info = env.step(action)
        b_obs, b_r, b_term, b_trunc, b_info = batched.step(np.array([action]))
        np.testing.assert_array_equal(obs, b_obs[0])
        assert (r, term, trunc) == (b_r[0], b_term[0], b_trunc[0])
        for key, value in b_info.items():
            np.testing.assert_array_equal(info[key], value[0])
        if term or trunc:
            break
    assert trunc or term


def test_gridworld_env_is_the_batched_class_inside():
    assert isinstance(GridWorldEnv()._batched, GridWorldBatched)


def test_gridworld_phi_map_landmarks_are_its_start_goal_and_the_centre_bonus_square():
    from barfi import aux_rewards

    marks = ENVS["gridworld"].phi_map_landmarks
    assert marks.start == GridWorldBatched.START
    assert marks.goal == (GridWorldBatched.GOAL_LOW, GridWorldBatched.GOAL_HIGH)
    assert marks.bonus == (aux_rewards.CENTRE_LOW, aux_rewards.CENTRE_HIGH)
