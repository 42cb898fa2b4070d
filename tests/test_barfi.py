"""The BARFI learner in the training loop: what it records, per-agent independence, resumption,
and its behaviour on the misaligned GridWorld bonus. (Exactness of the hypergradient itself is
tested against exact derivatives on a tabular MDP in test_hypergrad_tabular.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from barfi import train as train_module
from barfi.config import resolve_config
from barfi.envs import ENVS
from barfi.learners import make_learner
from barfi.rng import BlockStreams
from barfi.train import train

BARFI_VARS = ("gamma_phi", "phi1_mean", "phi2_mean", "phi3_mean", "r_phi_return")


def gw(method="barfi", aux="center-bonus", **overrides):
    # A short schedule so that outer steps start early: warm-up ends after episode 12.
    base = {"episodes": 60, "first_mul": 9, "inner_mul": 2, "buffer_size": 50}
    return resolve_config("gridworld", aux, method, {**base, **overrides})


@pytest.mark.parametrize("method", ["barfi", "barfi-first-order", "barfi-unrolled"])
def test_records_and_maps(method):
    (ds,) = train(gw(method), [1])
    for name in BARFI_VARS:
        assert name in ds and np.isfinite(ds[name].values).all(), name
    assert ds.phi1_map.shape == (33, 33) and ds.phi3_map.dims == ("grid_y", "grid_x")
    assert np.all(ds.phi2_mean.values == 1.0)  # GridWorld: the coefficient on r_p is fixed
    gamma = ds.gamma_phi.values
    assert gamma[0] == pytest.approx(1 / (1 + np.exp(-4.6)), rel=1e-6)
    if method == "barfi-unrolled":
        assert np.all(gamma == gamma[0])           # the unrolled ablation does not learn gamma
    else:
        assert not np.all(gamma == gamma[0])       # outer steps moved psi
    # phi moved away from its initialisation once outer steps began
    assert np.ptp(ds.phi3_mean.values[20:]) > 0


def test_cg_solver_and_more_neumann_terms_run():
    for overrides in ({"solver": "cg"}, {"neumann_terms": 20}):
        (ds,) = train(gw(**overrides), [2])
        assert ds.attrs["status"] == "completed"
        assert np.isfinite(ds.gamma_phi.values).all()


def test_seed_in_a_block_equals_seed_alone():
    block = train(gw(), [4, 5, 6])
    alone = train(gw(), [5])[0]
    np.testing.assert_array_equal(block[1].episode_length.values, alone.episode_length.values)
    np.testing.assert_allclose(block[1].primary_return.values, alone.primary_return.values)
    np.testing.assert_allclose(block[1].gamma_phi.values, alone.gamma_phi.values, rtol=1e-5)
    np.testing.assert_allclose(block[1].phi3_map.values, alone.phi3_map.values,
                               rtol=1e-4, atol=1e-6)


class Crash(RuntimeError):
    pass


@pytest.mark.parametrize("method", ["reinforce", "actor-critic", "barfi", "barfi-unrolled"])
def test_crash_and_resume_from_checkpoint_gives_the_same_numbers(method, tmp_path, monkeypatch):
    """Checkpoint after every episode, crash inside episode 31's update, rerun: identical."""
    config = gw(method) if method.startswith("barfi") else \
        resolve_config("gridworld", "center-bonus", method, {"episodes": 60})
    reference = train(config, [1, 2])
    real_make = train_module.make_learner

    def crashing_make(*args, **kwargs):
        learner = real_make(*args, **kwargs)
        end_episode = learner.end_episode

        def end(batch, index):
            if index == 31:
                raise Crash
            return end_episode(batch, index)
        learner.end_episode = end
        return learner

    monkeypatch.setattr(train_module, "make_learner", crashing_make)
    with pytest.raises(Crash):
        train(config, [1, 2], checkpoint_dir=tmp_path, checkpoint_every_s=0.0)
    monkeypatch.setattr(train_module, "make_learner", real_make)
    resumed = train(config, [1, 2], checkpoint_dir=tmp_path, checkpoint_every_s=1e9)
    for ref, res in zip(reference, resumed):
        for name in ref.data_vars:
            if name != "wall_time":
                np.testing.assert_array_equal(ref[name].values, res[name].values, err_msg=name)


def _initial_phi3_in_bonus(config, seeds):
    learner = make_learner(config, ENVS["gridworld"], BlockStreams(seeds))
    return _phi3_in_bonus(learner.final_records()["phi3_map"][1])


def _phi3_in_bonus(phi3_map):
    axis = np.linspace(0, 1, 33)
    inside = (axis >= 0.4) & (axis <= 0.6)
    return phi3_map[:, inside][:, :, inside].mean(axis=(1, 2))


def test_barfi_turns_down_the_misaligned_bonus():
    """GridWorld with `center-bonus` (+50 per sub-step in the centre square, which lures the naive
    learner away from the goal), published config, 1000 episodes, seeds 1-6 in one block: BARFI
    ends with a clearly smaller weight phi3 on r_aux inside the square than it started with (on
    average over the seeds, and for most seeds: a seed that stops visiting the square early gets
    no gradient there), and at least the primary return of naive REINFORCE on the same seeds."""
    seeds = [1, 2, 3, 4, 5, 6]
    config = resolve_config("gridworld", "center-bonus", "barfi", {"episodes": 1000})
    runs = train(config, seeds)
    start = _initial_phi3_in_bonus(config, seeds)
    end = _phi3_in_bonus(np.stack([ds.phi3_map.values for ds in runs]))
    assert end.mean() < start.mean() - 0.1, (start, end)
    assert np.sum(end < start - 0.1) > len(seeds) / 2, (start, end)
    naive = train(resolve_config("gridworld", "center-bonus", "reinforce", {"episodes": 1000}),
                  seeds)
    last = slice(-200, None)
    barfi_return = np.mean([ds.primary_return.values[last].mean() for ds in runs])
    naive_return = np.mean([ds.primary_return.values[last].mean() for ds in naive])
    assert barfi_return >= naive_return, (barfi_return, naive_return)


def test_unrolled_on_mountaincar_where_the_first_inner_steps_are_skipped():
    """MountainCar's published schedule skips the first batch of inner steps, so the first
    unrolled update meets an actor optimiser without state (a KeyError once)."""
    config = resolve_config("mountaincar", "bang-bang", "barfi-unrolled",
                            {"episodes": 9, "first_mul": 2, "inner_mul": 1})
    (ds,) = train(config, [1])
    assert ds.attrs["status"] == "completed"
    assert np.isfinite(ds.phi3_mean.values).all()


def test_each_barfi_parameter_class_says_which_outer_gradient_its_method_takes():
    from barfi.learners.barfi_params import (BarfiFirstOrderParams, BarfiParams,
                                             BarfiUnrolledParams)

    unrolled = BarfiUnrolledParams()
    assert unrolled.unrolled and unrolled.psi_lr == 0.0 and not unrolled.learns_gamma
    first_order = BarfiFirstOrderParams(gamma_lr=0.01)
    assert not first_order.unrolled and first_order.solver_options() == ("identity", {})
    assert first_order.psi_lr == 0.01 and first_order.learns_gamma
    assert not BarfiFirstOrderParams(learn_gamma=False).learns_gamma
    assert not BarfiFirstOrderParams(gamma_lr=0.0).learns_gamma
    assert BarfiParams(solver="cg", cg_iters=7, cg_damping=0.5).solver_options() == (
        "cg", {"iters": 7, "damping": 0.5})
    assert BarfiParams(neumann_terms=3).solver_options() == (
        "neumann", {"alpha": 5e-4, "terms": 3})


@pytest.mark.parametrize("env,aux,overrides", [
    ("gridworld", "center-bonus", {"episodes": 40, "first_mul": 9, "inner_mul": 2}),
    ("cartpole", "pd-agree", {"episodes": 30, "first_mul": 6, "inner_mul": 2, "batch_size": 1}),
])
def test_inner_steps_chunked_equal_one_at_a_time(env, aux, overrides, monkeypatch):
    """The inner steps prepare several steps' features and returns in one pass; every
    parameter must come out bit for bit as when each step prepares its own episodes."""
    from barfi.learners import barfi as barfi_module

    config = resolve_config(env, aux, "barfi", overrides)
    # the comparison means something only where the default prepares several steps at once
    assert make_learner(config, ENVS[env], BlockStreams([3, 4]))._inner_chunk() > 1
    results = []
    for chunk_floats in (barfi_module.INNER_CHUNK_FLOATS, 1):
        monkeypatch.setattr(barfi_module, "INNER_CHUNK_FLOATS", chunk_floats)
        results.append(train(config, [3, 4]))
    for chunked, single in zip(*results):
        for name in ("primary_return", "episode_length", *BARFI_VARS):
            np.testing.assert_array_equal(chunked[name].values, single[name].values,
                                          err_msg=name)
