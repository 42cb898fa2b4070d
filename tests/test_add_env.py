"""Adding an environment is one module plus one registry line (README, "Adding an environment,
an aux reward or a method"): tests/toy_env.py is that module, the fixture below is that line,
and every method trains on the new environment, with its option set like a hyperparameter."""

from __future__ import annotations

import numpy as np
import pytest

import toy_env
from barfi.aux_rewards import AUX_REWARDS
from barfi.cli import main
from barfi.config import ConfigError, resolve_config
from barfi.envs import ENVS
from barfi.learners import METHODS
from barfi.train import train


@pytest.fixture
def corridor(monkeypatch):
    monkeypatch.setitem(ENVS, "corridor", toy_env.SPEC)  # the registry line
    yield "corridor"
    AUX_REWARDS.pop("corridor", None)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_on_a_new_env(corridor, method):
    config = resolve_config(corridor, "none", method, {"slip": "0.1"})
    assert config.hp.episodes == 12 and config.hp.actor_lr == 0.05  # its published defaults
    runs = train(config, [1, 2])
    assert [ds.attrs["status"] for ds in runs] == ["completed", "completed"]
    for ds in runs:
        assert ds.sizes["episode"] == 12
        assert np.isfinite(ds.primary_return.values).all()
        assert ds.attrs["hp_slip"] == 0.1 and ds.attrs["env"] == "corridor"
        if METHODS[method].learns_reward:
            assert np.isfinite(ds.gamma_phi.values).all()


def test_a_new_env_validates_its_options_and_lists_them(corridor, capsys):
    with pytest.raises(ConfigError, match="env corridor option slip=2.0 is out of range"):
        resolve_config(corridor, "none", "reinforce", {"slip": 2})
    with pytest.raises(ConfigError, match="'tile_coding' does not apply"):
        resolve_config(corridor, "none", "reinforce", {"tile_coding": "clip"})
    assert main(["list", "--env", corridor]) == 0
    out = capsys.readouterr().out
    assert "toy corridor" in out and "option slip" in out and "episodes=12" in out


def test_the_report_orders_a_new_env_after_the_registry_envs_before_unknown_ones(corridor):
    from barfi.analysis.inputs import order_envs

    assert order_envs(["aaa", corridor, "halfcheetah", "gridworld"]) == [
        "gridworld", "halfcheetah", corridor, "aaa"]
