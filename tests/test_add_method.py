"""Adding a method is a learner with its parameter class plus one registry line (README,
"Adding an environment, an aux reward or a method"): here a policy that never learns, with one
hyperparameter of its own, registered by a fixture and trained through the usual entry points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from barfi.config import ConfigError, resolve_config
from barfi.learners import METHODS, MethodSpec
from barfi.learners.base import CommonParams
from barfi.learners.reinforce import PolicyLearner
from barfi.params import param
from barfi.train import train


@dataclass(frozen=True)
class FrozenParams(CommonParams):
    """What the frozen policy reads."""

    temperature: float = param(1.0, "unused scale of nothing, for the test", min=0.0)
    """read once at construction"""


class FrozenLearner(PolicyLearner):
    """The initial policy, never updated."""

    def __init__(self, config, spec, streams, device="cpu"):
        super().__init__(config, spec, streams, device)
        self.temperature = config.hp.temperature

    def end_episode(self, episode, index):
        return {}


def make(config, spec, streams, device="cpu"):
    return FrozenLearner(config, spec, streams, device)


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setitem(METHODS, "frozen", MethodSpec("frozen", FrozenParams, make, "reinforce"))
    return "frozen"


def test_a_new_method_trains_with_its_own_keys_only(frozen):
    config = resolve_config("gridworld", "none", frozen, {"episodes": 5, "temperature": 0.5})
    assert config.hp == FrozenParams(episodes=5, actor_lr=5e-3, temperature=0.5)
    (ds,) = train(config, [1])
    assert ds.attrs["method"] == "frozen" and ds.attrs["hp_temperature"] == 0.5
    assert np.isfinite(ds.primary_return.values).all()
    with pytest.raises(ConfigError, match="'actor_reg' does not apply to method frozen"):
        resolve_config("gridworld", "none", frozen, {"actor_reg": 0.1})
