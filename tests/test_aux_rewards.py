"""Auxiliary rewards on hand-made transitions, the registry, and AuxRewardWrapper."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest

from barfi.aux_rewards import (AUX_REWARDS, AuxReward, AuxRewardWrapper, pd_controller_action,
                               register_aux)
from barfi.envs import ENVS
from barfi.envs.halfcheetah import mujoco_warnings_to_log

GOAL = 0.87


def call(env: str, name: str, obs, action, next_obs, terminated, info=None, noise=None):
    obs = np.asarray(obs, dtype=np.float64)
    batch = obs.shape[0]
    out = AUX_REWARDS[env][name](obs, np.asarray(action), np.asarray(next_obs, dtype=np.float64),
                                 np.asarray(terminated, dtype=bool), info or {},
                                 np.zeros(batch) if noise is None else np.asarray(noise))
    assert out.shape == (batch,) and out.dtype == np.float64
    return out


# --------------------------------------------------------------------------- registry
def test_registry_names():
    assert {env: set(names) for env, names in AUX_REWARDS.items()} == {
        "gridworld": {"none", "distance", "distance-as-published", "center-bonus"},
        "mountaincar": {"none", "bang-bang", "velocity"},
        "cartpole": {"none", "pd-agree", "pd-disagree", "pd-disagree-noisy"},
        "halfcheetah": {"none", "ctrl", "ctrl-x4"},
    }
    for env, names in AUX_REWARDS.items():
        for name, aux in names.items():
            assert isinstance(aux, AuxReward) and (aux.env, aux.name) == (env, name)
            assert aux.description


def test_register_aux_adds_a_callable_reward_and_refuses_duplicates():
    @register_aux("mountaincar", "test-left-bonus", "+1 for pushing left")
    def left_bonus(obs, action, next_obs, terminated, info, noise):
        return (action == 0).astype(float)

    try:
        aux = AUX_REWARDS["mountaincar"]["test-left-bonus"]
        out = aux(np.zeros((3, 2)), np.array([0, 1, 0]), np.zeros((3, 2)), np.zeros(3, bool),
                  {}, np.zeros(3))
        assert out.tolist() == [1.0, 0.0, 1.0]
        with pytest.raises(ValueError):
            register_aux("mountaincar", "test-left-bonus", "again")(left_bonus)
        with pytest.raises(KeyError):
            register_aux("atari", "x", "no such env")
    finally:
        del AUX_REWARDS["mountaincar"]["test-left-bonus"]


@pytest.mark.parametrize("env", list(ENVS))
def test_none_is_zero(env):
    spec = ENVS[env]
    obs = np.ones((2, spec.obs_dim))
    action = np.ones((2, spec.action_dim)) if spec.n_actions is None else np.ones(2, int)
    assert call(env, "none", obs, action, obs, [False, True]).tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------- GridWorld
def gw_info(positions, valid):
    return {"substep_pos": np.asarray(positions, dtype=np.float64),
            "substep_valid": np.asarray(valid, dtype=bool)}


def test_gridworld_distance_sums_over_taken_substeps():
    positions = [[[0.1, 0.2], [0.145, 0.2], [0.145, 0.2], [0.145, 0.2]],
                 [[0.87, 0.87], [0.5, 0.6], [0.3, 0.3], [0.3, 0.3]]]
    valid = [[True, True, False, False], [True, True, True, False]]
    out = call("gridworld", "distance", np.zeros((2, 2)), [1, 0], np.zeros((2, 2)),
               [False, False], gw_info(positions, valid))
    first = ((0.1 - GOAL) ** 2 + (0.2 - GOAL) ** 2) + ((0.145 - GOAL) ** 2 + (0.2 - GOAL) ** 2)
    second = 0.0 + ((0.5 - GOAL) ** 2 + (0.6 - GOAL) ** 2) + 2 * (0.3 - GOAL) ** 2
    np.testing.assert_allclose(out, [-first, -second], rtol=1e-12)


def test_gridworld_distance_as_published_uses_the_goal_y_not_the_agent_y():
    positions = [[[0.1, 0.2], [0.145, 0.2], [0.19, 0.2], [0.19, 0.2]]]
    info = gw_info(positions, [[True, True, True, False]])
    out = call("gridworld", "distance-as-published", np.zeros((1, 2)), [1], np.zeros((1, 2)),
               [False], info)
    expected = -sum((x - GOAL) ** 2 + 0.0144 for x in (0.1, 0.145, 0.19))
    assert out[0] == pytest.approx(expected, rel=1e-12)
    # The agent's y plays no part: moving it changes nothing, unlike the correct distance.
    moved = gw_info([[[0.1, 0.9], [0.145, 0.5], [0.19, 0.0], [0.19, 0.0]]],
                    [[True, True, True, False]])
    assert call("gridworld", "distance-as-published", np.zeros((1, 2)), [1], np.zeros((1, 2)),
                [False], moved)[0] == pytest.approx(expected, rel=1e-12)
    assert call("gridworld", "distance", np.zeros((1, 2)), [1], np.zeros((1, 2)), [False],
                moved)[0] != pytest.approx(expected)


def test_gridworld_center_bonus():
    positions = [[[0.4, 0.4], [0.5, 0.6], [0.61, 0.5], [0.5, 0.5]],     # 2 inside, 1 out, 1 untaken
                 [[0.45, 0.45]] * 4,                                      # 4 inside: 200
                 [[0.45, 0.45]] * 4]                                      # terminal step: 0
    valid = [[True, True, True, False], [True] * 4, [True] * 4]
    out = call("gridworld", "center-bonus", np.zeros((3, 2)), [0, 0, 0], np.zeros((3, 2)),
               [False, False, True], gw_info(positions, valid))
    assert out.tolist() == [100.0, 200.0, 0.0]


def test_gridworld_aux_rewards_on_a_real_step():
    env = ENVS["gridworld"].make_batched(1)
    env.reset([np.random.default_rng(0)])
    env.noise[0, 0] = (0.5, 0.5)                                          # no replacement
    obs = env.pos.copy()
    next_obs, _, term, _, info = env.step(np.array([1]))                  # +x from (0.125, 0.125)
    xs = [0.125 + 0.045 * k for k in range(1, 5)]
    expected = -sum((x - GOAL) ** 2 + (0.125 - GOAL) ** 2 for x in xs)
    assert call("gridworld", "distance", obs, [1], next_obs, term, info)[0] == \
        pytest.approx(expected, rel=1e-12)
    assert call("gridworld", "distance-as-published", obs, [1], next_obs, term, info)[0] == \
        pytest.approx(-sum((x - GOAL) ** 2 + 0.0144 for x in xs), rel=1e-12)
    assert call("gridworld", "center-bonus", obs, [1], next_obs, term, info)[0] == 0.0


# --------------------------------------------------------------------------- MountainCar
def test_mountaincar_bang_bang_reads_the_velocity_after_the_step():
    # Velocity before the step has the opposite sign, so using it would flip every answer.
    v_after = np.array([-0.01, -0.01, 0.02, 0.02, 0.02, 0.0, 0.0, -0.01])
    actions = np.array([0, 2, 2, 0, 1, 0, 2, 0])
    terminated = np.array([False] * 7 + [True])
    obs = np.stack([np.full(8, -0.5), -v_after], axis=1)
    next_obs = np.stack([np.full(8, -0.5), v_after], axis=1)
    out = call("mountaincar", "bang-bang", obs, actions, next_obs, terminated)
    assert out.tolist() == [1.0, -1.0, 1.0, -1.0, -1.0, -1.0, -1.0, 0.0]


def test_mountaincar_velocity():
    next_obs = np.array([[-0.5, -0.03], [-0.5, 0.05], [0.51, 0.05]])
    out = call("mountaincar", "velocity", np.zeros((3, 2)), [0, 2, 2], next_obs,
               [False, False, True])
    np.testing.assert_allclose(out, [0.3, 0.5, 0.0], rtol=1e-12)


# --------------------------------------------------------------------------- CartPole
def cp_obs(angle, angle_rate=0.0):
    return np.array([[0.0, 0.0, angle, angle_rate]])


def test_pd_controller_uses_angle_and_angle_difference():
    # 0.1 * 0.02 + 0.5 * (0.02 - 0.03) = -0.003 -> push left, although the angle rate
    # observation is large and positive (it is not what the reference's controller reads).
    assert pd_controller_action(cp_obs(0.02, 1.0), cp_obs(0.03)).tolist() == [0]
    assert pd_controller_action(cp_obs(0.02, -1.0), cp_obs(0.01)).tolist() == [1]
    # First step of an episode: the previous angle is 0, so the term is 0.6 * angle.
    assert pd_controller_action(cp_obs(-0.01), np.zeros((1, 4))).tolist() == [0]


@pytest.mark.parametrize("name, agree, disagree", [("pd-agree", 5.0, -1.0),
                                                   ("pd-disagree", -5.0, 1.0)])
def test_cartpole_pd_rewards(name, agree, disagree):
    obs = np.repeat(cp_obs(0.02), 3, axis=0)
    info = {"prev_obs": np.repeat(cp_obs(0.01), 3, axis=0)}               # controller says 1
    out = call("cartpole", name, obs, [1, 0, 1], obs, [False, False, True], info)
    assert out.tolist() == [agree, disagree, 0.0]


def test_cartpole_pd_disagree_noisy():
    obs = np.repeat(cp_obs(0.02), 3, axis=0)
    info = {"prev_obs": np.repeat(cp_obs(0.01), 3, axis=0)}               # controller says 1
    out = call("cartpole", "pd-disagree-noisy", obs, [1, 0, 1], obs, [False, False, True], info,
               noise=[0.25, 0.75, 0.5])
    np.testing.assert_allclose(out, [-5 + 5 * 0.25, 1 + 0.75, 0.0], rtol=1e-12)


def test_cartpole_pd_needs_prev_obs():
    with pytest.raises(KeyError, match="prev_obs"):
        call("cartpole", "pd-agree", cp_obs(0.0), [1], cp_obs(0.0), [False], {})


class StatefulPDAux:
    """The reference's stateful formulation (CartPoleBestAux2.py): a controller object that
    remembers the previous error; +5/-1 on (dis)agreement, 0 on the terminal step. Written
    here independently, to check the stateless version fed with info['prev_obs']."""

    def __init__(self):
        self.prev_error = 0.0

    def __call__(self, state, action, terminated):
        if terminated:
            return 0.0
        error = state[2]
        signal = 0.1 * error + 0.5 * (error - self.prev_error)
        self.prev_error = error
        return 5.0 if action == round(1 / (1 + math.exp(-signal))) else -1.0


def test_cartpole_pd_agree_matches_the_stateful_controller_over_an_episode():
    env = ENVS["cartpole"].make_batched(1)
    obs = env.reset([np.random.default_rng(3)])
    reference = StatefulPDAux()
    action_rng = np.random.default_rng(4)
    values, expected = [], []
    for _ in range(500):
        action = np.array([int(action_rng.integers(2))])
        next_obs, _, term, trunc, info = env.step(action)
        values.append(call("cartpole", "pd-agree", obs, action, next_obs, term, info)[0])
        expected.append(reference(obs[0], action[0], term[0]))
        obs = next_obs
        if term[0] or trunc[0]:
            break
    assert values == expected and len(values) > 5
    assert {5.0, -1.0} <= set(values)


# --------------------------------------------------------------------------- HalfCheetah
def test_halfcheetah_control_costs():
    action = np.array([[0.5, -0.5, 0.0, 1.0, 0.0, 0.0], [2.0, 0, 0, 0, 0, 0]])  # unclipped
    obs = np.zeros((2, 17))
    np.testing.assert_allclose(call("halfcheetah", "ctrl", obs, action, obs, [False, False]),
                               [-1.5, -4.0])
    np.testing.assert_allclose(call("halfcheetah", "ctrl-x4", obs, action, obs, [False, False]),
                               [-6.0, -16.0])


# --------------------------------------------------------------------------- wrapper
def make_gym(gym_id):
    with warnings.catch_warnings(), mujoco_warnings_to_log():
        warnings.simplefilter("ignore", DeprecationWarning)
        return gym.make(gym_id)


@pytest.mark.parametrize("gym_id, env_name, aux_name",
                         [("barfi/GridWorld-v0", "gridworld", "distance"),
                          ("barfi/MountainCar-v0", "mountaincar", "bang-bang"),
                          ("barfi/CartPole-v1", "cartpole", "pd-agree"),
                          ("barfi/HalfCheetah-v5", "halfcheetah", "ctrl"),
                          ("barfi/HalfCheetah-v4", "halfcheetah", "ctrl-x4")])
def test_wrapper_adds_r_aux_and_leaves_the_reward_alone(gym_id, env_name, aux_name):
    plain, wrapped = make_gym(gym_id), AuxRewardWrapper(make_gym(gym_id), aux_name)
    plain.reset(seed=5)
    obs, _ = wrapped.reset(seed=5)
    action_rng = np.random.default_rng(6)
    aux = AUX_REWARDS[env_name][aux_name]
    prev_obs = np.zeros_like(np.asarray(obs, dtype=np.float64))
    nonzero = 0
    for _ in range(30):
        if ENVS[env_name].n_actions is None:
            action = action_rng.uniform(-1, 1, ENVS[env_name].action_dim)
        else:
            action = int(action_rng.integers(ENVS[env_name].n_actions))
        p = plain.step(action)
        w = wrapped.step(action)
        np.testing.assert_array_equal(p[0], w[0])
        assert (p[1], p[2], p[3]) == (w[1], w[2], w[3])                   # r_p untouched
        info = {k: np.asarray(v)[None] for k, v in p[4].items()}
        info.setdefault("prev_obs", prev_obs[None])
        expected = aux(np.asarray(obs, dtype=np.float64)[None], np.asarray(action)[None],
                       np.asarray(w[0], dtype=np.float64)[None], np.array([w[2]]), info,
                       np.zeros(1))
        assert w[4]["r_aux"] == pytest.approx(float(expected[0]))
        nonzero += w[4]["r_aux"] != 0.0
        prev_obs, obs = np.asarray(obs, dtype=np.float64), w[0]
        if w[2] or w[3]:
            break
    assert nonzero > 0


def test_wrapper_rejects_unknown_aux():
    with pytest.raises(KeyError, match="valid"):
        AuxRewardWrapper(make_gym("barfi/GridWorld-v0"), "bang-bang")
