"""Per-agent hyperparameters: one block holds configurations that differ only in per-agent
values (learning rates, loss weights, ...); each agent's numbers are those of its configuration
run alone, bit for bit, and a block whose structural keys differ is refused."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import xarray as xr

from barfi.config import resolve_config, structural_key
from barfi.learners import METHODS
from barfi.params import ConfigError, per_agent_keys
from barfi.train import train

# Short runs in which every BARFI method takes outer steps (first_mul + inner_mul < episodes).
SCHEDULE = {"episodes": 24, "delta": 2, "first_mul": 4, "inner_mul": 1, "buffer_size": 20,
            "hess_mul": 2}

# Two alternative values per per-agent key (a key the method does not read is skipped).
VALUES = {"actor_lr": (0.01, 0.0037), "critic_lr": (0.02, 0.003), "gamma": (0.99, 0.93),
          "actor_reg": (0.25, 0.0), "baseline_ema": (0.9, 0.6),
          "reward_lr": (0.005, 0.011), "gamma_lr": (0.005, 0.0), "psi_init": (4.6, 3.1),
          "lambda_r": (0.0, 0.013), "lambda_gamma": (0.0, 0.4), "neumann_alpha": (5e-4, 1e-3)}


def configs_for(method: str) -> list:
    """Three configurations of `method` on GridWorld: two mixes of per-agent values and one
    repeat of the first (a block may hold a configuration twice)."""
    keys = set(per_agent_keys(METHODS[method].params))
    fields = {f.name for f in dataclasses.fields(METHODS[method].params)}
    out = []
    for pick in (0, 1, 0):
        overrides = {k: v[pick] for k, v in VALUES.items() if k in keys}
        schedule = {k: v for k, v in SCHEDULE.items() if k in fields}
        out.append(resolve_config("gridworld", "center-bonus", method,
                                  {**schedule, **overrides}))
    return out


def data_only(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_vars("wall_time")


@pytest.mark.parametrize("method", sorted(METHODS))
def test_mixed_block_equals_separate_runs(method):
    configs = configs_for(method)
    assert configs[0].hp != configs[1].hp
    seeds = [3, 8, 5]
    block = train(configs, seeds)
    for config, seed, ds in zip(configs, seeds, block):
        alone = train(config, [seed])[0]
        xr.testing.assert_equal(data_only(ds), data_only(alone))
        for key, value in config.to_attrs().items():
            assert ds.attrs[key] == value, key
    # the agents really differ (the per-agent values are used)
    assert not np.array_equal(block[0]["primary_return"], block[1]["primary_return"])


@pytest.mark.parametrize("method", ["reinforce", "barfi"])
def test_published_entropy_sweep_in_one_block(method):
    """actor_reg 0, 0.25 and 1 (a published sweep: 0 switches the bonus off) with no return
    baseline, in one block."""
    extra = {"first_mul": 3, "lambda_r": 0.0625} if method == "barfi" else {}
    configs = [resolve_config("gridworld", "center-bonus", method,
                              {"episodes": 16, "actor_reg": w, **extra})
               for w in (0.0, 0.25, 1.0)]
    seeds = [4, 5, 6]
    block = train(configs, seeds)
    for config, seed, ds in zip(configs, seeds, block):
        xr.testing.assert_equal(data_only(ds), data_only(train(config, [seed])[0]))


def test_adam_per_agent_learning_rates():
    configs = [resolve_config("gridworld", "none", "reinforce",
                              {"episodes": 12, "optimizer": "adam", "actor_lr": lr})
               for lr in (0.01, 0.002)]
    block = train(configs, [1, 2])
    for config, seed, ds in zip(configs, [1, 2], block):
        xr.testing.assert_equal(data_only(ds), data_only(train(config, [seed])[0]))


@pytest.mark.parametrize("override", [{"delta": 4}, {"optimizer": "adam"},
                                      {"baseline_ema": 0.9}, {"discounted_returns": True}])
def test_structural_difference_is_refused(override):
    base = resolve_config("gridworld", "none", "reinforce", {"episodes": 6})
    other = resolve_config("gridworld", "none", "reinforce", {"episodes": 6, **override})
    assert structural_key(base) != structural_key(other)
    with pytest.raises(ConfigError, match="per-agent"):
        train([base, other], [1, 2])


def test_method_env_aux_and_length_are_checked():
    base = resolve_config("gridworld", "none", "reinforce", {"episodes": 6})
    with pytest.raises(ConfigError, match="method"):
        train([base, resolve_config("gridworld", "none", "primary-only", {"episodes": 6})],
              [1, 2])
    with pytest.raises(ConfigError, match="aux"):
        train([base, resolve_config("gridworld", "center-bonus", "reinforce",
                                    {"episodes": 6})], [1, 2])
    with pytest.raises(ConfigError, match="configs"):
        train([base, base], [1, 2, 3])


def test_per_agent_and_structural_keys_partition_every_class():
    for spec in METHODS.values():
        per_agent = set(per_agent_keys(spec.params))
        structural = set(spec.params().structure())
        fields = {f.name for f in dataclasses.fields(spec.params)}
        assert per_agent and per_agent | (structural & fields) == fields
        assert not per_agent & structural - {"gamma"}
        assert {"episodes", "delta", "optimizer"} <= structural


def test_mixed_block_resumes_from_its_checkpoint(tmp_path, monkeypatch, caplog):
    """A mixed block's checkpoint (per-agent learning rates in the optimiser states) loads
    with weights_only and the resumed block ends with the uninterrupted numbers."""
    from barfi.checkpoint import Checkpointer

    configs = [resolve_config("gridworld", "center-bonus", "barfi",
                              {"episodes": 12, "first_mul": 2, "reward_lr": lr, "actor_lr": a})
               for lr, a in ((0.005, 0.01), (0.02, 0.004))]
    reference = train(configs, [1, 2])
    real_save = Checkpointer.save

    def save(self, key, state):
        if state["next_episode"] <= 6:
            real_save(self, key, state)

    monkeypatch.setattr(Checkpointer, "save", save)
    train(configs, [1, 2], checkpoint_dir=tmp_path, checkpoint_every_s=1e-9)
    monkeypatch.setattr(Checkpointer, "save", real_save)
    assert list(tmp_path.glob("*.pt"))
    with caplog.at_level(logging.INFO, logger="barfi.train"):
        resumed = train(configs, [1, 2], checkpoint_dir=tmp_path)
    assert "resumed" in caplog.text and "ignoring" not in caplog.text
    for ref, res in zip(reference, resumed):
        xr.testing.assert_equal(data_only(ref), data_only(res))
