"""Per-method parameters: `resolve_config` accepts for a method exactly the keys its learner
reads (checked here by recording which fields a short training run reads), env options are the
env's own, and every resolved value is recorded in the run attributes."""

from __future__ import annotations

import dataclasses

import pytest

import barfi.config
from barfi.config import ConfigError, RunConfig, resolve_config, valid_keys
from barfi.envs import ENVS
from barfi.envs.mountaincar import MountainCarOptions
from barfi.learners import METHODS
from barfi.params import fields_of
from barfi.train import train

# Keys the learners provably never read (the list), and the methods that must refuse them.
NOT_READ = {
    "barfi-unrolled": ["gamma_lr", "lambda_gamma", "learn_gamma", "solver", "neumann_terms",
                       "neumann_alpha", "cg_iters", "cg_damping", "hess_mul"],
    "barfi-first-order": ["solver", "neumann_terms", "neumann_alpha", "cg_iters", "cg_damping"],
    "barfi": ["grad_clip"],
    "actor-critic": ["actor_reg", "baseline_ema", "batch_size", "buffer_size"],
    "actor-critic-pbrs": ["actor_reg"],
    "reinforce": ["critic_lr", "batch_size", "buffer_size", "reward_lr"],
}


@pytest.mark.parametrize("method,key", [(m, k) for m, keys in NOT_READ.items() for k in keys])
def test_a_key_the_method_does_not_read_is_rejected(method, key):
    value = {"solver": "cg", "learn_gamma": "false"}.get(key, "1")
    with pytest.raises(ConfigError, match=f"hyperparameter '{key}' does not apply to method "
                                          f"{method}"):
        resolve_config("gridworld", "none", method, {key: value})
    assert key not in valid_keys(method, "gridworld")


def test_unknown_keys_and_other_envs_options_are_rejected():
    with pytest.raises(ConfigError, match="unknown hyperparameter 'lambda_gama'"):
        resolve_config("gridworld", "none", "barfi", {"lambda_gama": 1})
    with pytest.raises(ConfigError, match="'tile_coding' does not apply .* on env gridworld"):
        resolve_config("gridworld", "none", "barfi", {"tile_coding": "published"})
    with pytest.raises(ConfigError, match="env mountaincar option tile_coding='grid' is not "
                                          "valid; valid: clip, wrap, published"):
        resolve_config("mountaincar", "none", "reinforce", {"tile_coding": "grid"})


def test_env_options_are_set_like_hyperparameters_and_recorded():
    config = resolve_config("mountaincar", "velocity", "barfi", {"tile_coding": "published",
                                                                 "actor_lr": "1/64"})
    assert config.env_options == MountainCarOptions("published")
    assert config.hp.actor_lr == 1 / 64
    assert config.overrides == (("actor_lr", 1 / 64), ("tile_coding", "published"))
    attrs = config.to_attrs()
    assert attrs["hp_tile_coding"] == "published" and attrs["hp_actor_lr"] == 1 / 64
    # every resolved parameter, and nothing the method does not read
    assert {k[3:] for k in attrs if k.startswith("hp_")} == \
        set(fields_of(METHODS["barfi"].params)) | {"tile_coding"}
    assert "hp_grad_clip" not in attrs and "hp_env_version" not in attrs


def test_run_config_defaults_to_the_envs_options_and_checks_the_parameter_class():
    config = RunConfig("mountaincar", "none", "reinforce", METHODS["reinforce"].params())
    assert config.env_options == MountainCarOptions()
    with pytest.raises(TypeError, match="parameters of method barfi are a BarfiParams, not a "
                                        "ReinforceParams"):
        RunConfig("mountaincar", "none", "barfi", METHODS["reinforce"].params())


def _reads(config: RunConfig, monkeypatch) -> set[str]:
    """The parameter fields a 20-episode training run of `config` reads."""
    seen: set[str] = set()
    armed = [True]
    names = set(fields_of(type(config.hp)))

    class Recording(type(config.hp)):
        def __getattribute__(self, name):
            if armed[0] and name in names:
                seen.add(name)
            return object.__getattribute__(self, name)

    original = barfi.config.to_attrs

    def quiet(instance):  # recording attributes is not reading
        armed[0] = False
        try:
            return original(instance)
        finally:
            armed[0] = True

    monkeypatch.setattr(barfi.config, "to_attrs", quiet)
    hp = Recording(**dataclasses.asdict(config.hp))
    train(dataclasses.replace(config, hp=hp), [1])
    return seen


# Values that take every branch of the schedule within 20 episodes (BARFI: the warm-up ends at
# episode 4, so outer steps run; `solver` picks which solver's keys are read).
SHORT = {"episodes": 20, "first_mul": 2, "inner_mul": 1, "buffer_size": 10, "hess_mul": 2}


@pytest.mark.parametrize("method", list(METHODS))
def test_the_parameter_class_is_exactly_what_the_learner_reads(method, monkeypatch):
    fields = set(fields_of(METHODS[method].params))
    runs = [{}] if method != "barfi" else [{}, {"solver": "cg"}]
    seen: set[str] = set()
    for extra in runs:
        overrides = {k: v for k, v in {**SHORT, **extra}.items() if k in fields}
        seen |= _reads(resolve_config("gridworld", "center-bonus", method, overrides),
                       monkeypatch)
    assert seen == fields, f"{method} never reads {sorted(fields - seen)}"


def test_every_env_publishes_only_valid_values():
    """published_defaults keeps the keys a method reads, so a misspelt key would vanish: every
    published key is some method's hyperparameter, read by the methods its layer selects."""
    every = {k for m in METHODS.values() for k in fields_of(m.params)}
    for env, spec in ENVS.items():
        for layer in spec.published:
            assert set(layer.values) <= every, (env, set(layer.values) - every)
            assert layer.family in (None, *{m.family for m in METHODS.values()}), env
            assert layer.method in (None, *METHODS), env
            selected = [m for m in METHODS.values() if layer.family in (None, m.family)
                        and layer.method in (None, m.name)]
            for key in layer.values:
                assert any(key in fields_of(m.params) for m in selected), (env, key)
        for method in METHODS:
            resolve_config(env, "none", method)  # the published values pass validation


def test_env_options_and_hyperparameters_share_no_name():
    """Both are `--set` keys and `hp_<key>` attributes, so a name must say which one it is."""
    params = {k for m in METHODS.values() for k in fields_of(m.params)}
    for env, spec in ENVS.items():
        assert not params & set(fields_of(spec.options)), env
