"""Run configuration: what one training run trains on, with which method and which values.

The hyperparameters a method reads are its parameter class in `barfi.learners.METHODS` (next to
its learner); an environment's options and its published defaults belong to its `EnvSpec` in
`barfi.envs.ENVS`. `resolve_config` is the only way user input becomes a `RunConfig`: it checks
names (env, aux, method, keys), types and ranges before any compute is spent, and accepts for a
method only the keys its learner reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from barfi.aux_rewards import AUX_REWARDS
from barfi.envs import ENVS
from barfi.learners import METHODS, CommonParams
from barfi.params import ConfigError, coerce_value, fields_of, per_agent_keys, to_attrs


def published_defaults(env: str, method: str, aux: str | None = None) -> dict[str, Any]:
    """The published default hyperparameters of `method` on `env` (with aux reward `aux`;
    None: the layers that name no aux reward), restricted to the keys the method reads."""
    spec = METHODS[method]
    values: dict[str, Any] = {}
    for layer in ENVS[env].published:
        if ((layer.family is None or layer.family == spec.family)
                and (layer.method is None or layer.method == method)
                and (layer.aux is None or aux in layer.aux)):
            values.update(layer.values)
    readable = fields_of(spec.params)
    return {k: v for k, v in values.items() if k in readable}


def aux_published_defaults(env: str, method: str, aux: str) -> dict[str, Any]:
    """The published defaults of `method` on `env` that `aux` changes: those of
    `published_defaults(env, method, aux)` that differ from the aux-independent ones."""
    common = published_defaults(env, method)
    return {k: v for k, v in published_defaults(env, method, aux).items()
            if k not in common or common[k] != v}


@dataclass(frozen=True)
class RunConfig:
    """One training run: what to train on, with what, and how."""

    env: str
    """environment name (see `barfi.envs.ENVS`)"""
    aux: str
    """auxiliary reward name for this env (see `barfi.aux_rewards.AUX_REWARDS`)"""
    method: str
    """learning method (see `barfi.learners.METHODS`)"""
    hp: CommonParams
    """the method's parameters: an instance of `METHODS[method].params` (published env
    defaults overlaid with the user's overrides)"""
    overrides: tuple[tuple[str, Any], ...] = ()
    """the user's overrides (hyperparameters and env options), as given (for provenance)"""
    env_options: Any = None
    """the env's options: an instance of `ENVS[env].options` (None: the env's defaults)"""

    def __post_init__(self):
        expected = METHODS[self.method].params
        if not isinstance(self.hp, expected):
            raise TypeError(f"the parameters of method {self.method} are a {expected.__name__}, "
                            f"not a {type(self.hp).__name__}")
        if self.env_options is None:
            object.__setattr__(self, "env_options", ENVS[self.env].options())

    def to_attrs(self) -> dict[str, Any]:
        """Flat, NetCDF-safe attributes: env, aux, method, and every hyperparameter and env option
        as hp_<key> (both are keys of `--set`; the analysis tells configurations apart by them)."""
        attrs: dict[str, Any] = {"env": self.env, "aux": self.aux, "method": self.method}
        for key, value in {**to_attrs(self.hp), **to_attrs(self.env_options)}.items():
            attrs[f"hp_{key}"] = value
        return attrs


def structural_key(config: RunConfig) -> tuple:
    """What must agree between the configurations of one block of agents: env, aux, method,
    the env's options and the method's structural values (`CommonParams.structure`: every
    field not marked `per_agent`, and the switches per-agent values turn on or off)."""
    return (("env", config.env), ("aux", config.aux), ("method", config.method),
            *sorted(to_attrs(config.env_options).items()),
            *sorted(config.hp.structure().items()))


def block_configs(config: RunConfig | Sequence[RunConfig], num_agents: int) -> list[RunConfig]:
    """One configuration per agent of a block: a single config for all, or a list of exactly
    `num_agents` whose structural keys agree (else `ConfigError` naming the first key that
    differs)."""
    if isinstance(config, RunConfig):
        return [config] * num_agents
    configs = list(config)
    if len(configs) != num_agents:
        raise ConfigError(f"a block of {num_agents} seeds needs one config or {num_agents} "
                          f"configs, not {len(configs)}")
    first = dict(structural_key(configs[0]))
    for i, other in enumerate(configs[1:], start=1):
        for key, value in structural_key(other):
            if key not in first or first[key] != value:
                raise ConfigError(f"config {i} of the block has {key}={value!r} but config 0 "
                                  f"has {key}={first.get(key)!r}; a block's configs may "
                                  "differ only in per-agent hyperparameters: "
                                  + ", ".join(per_agent_keys(METHODS[configs[0].method].params)))
    return configs


def valid_keys(method: str, env: str | None = None) -> list[str]:
    """The keys `--set` accepts for `method` (and for `env`'s options when an env is given)."""
    keys = list(fields_of(METHODS[method].params))
    if env is not None:
        keys += list(fields_of(ENVS[env].options))
    return sorted(keys)


def _one_of(kind: str, value: str, valid: Iterable[str]) -> ConfigError:
    return ConfigError(f"unknown {kind} {value!r}; valid: {', '.join(sorted(valid))}")


def _known_elsewhere(key: str) -> bool:
    """Whether `key` is some other method's hyperparameter or some other env's option."""
    return any(key in fields_of(m.params) for m in METHODS.values()) or \
        any(key in fields_of(e.options) for e in ENVS.values())


def parse_set_args(items: Iterable[str]) -> dict[str, str]:
    """Parse CLI `--set key=value` items into a dict (values stay strings until resolved)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} is not key=value")
        out[key.strip()] = value
    return out


def resolve_config(env: str, aux: str, method: str,
                   overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Validate names, types and ranges; overlay published env defaults and the user's values.
    A key must be a hyperparameter `method` reads or an option of `env`."""
    if env not in ENVS:
        raise _one_of("env", env, ENVS)
    if aux not in AUX_REWARDS[env]:
        raise ConfigError(f"unknown aux {aux!r} for env {env}; valid: "
                          + ", ".join(sorted(AUX_REWARDS[env])))
    if method not in METHODS:
        raise _one_of("method", method, METHODS)
    params, options = fields_of(METHODS[method].params), fields_of(ENVS[env].options)
    values: dict[str, Any] = {}       # the method's hyperparameters
    chosen: dict[str, Any] = {}       # the env's options
    for key, raw in (overrides or {}).items():
        if key in options:
            chosen[key] = coerce_value(options[key], raw, f"env {env} option")
        elif key in params:
            values[key] = coerce_value(params[key], raw)
        else:
            allowed = ", ".join(valid_keys(method, env))
            if _known_elsewhere(key):
                raise ConfigError(f"hyperparameter {key!r} does not apply to method {method} "
                                  f"on env {env}; valid: {allowed}")
            raise ConfigError(f"unknown hyperparameter {key!r} for method {method}; valid: "
                              f"{allowed}")
    merged = {**published_defaults(env, method, aux), **values}
    return RunConfig(env=env, aux=aux, method=method, hp=METHODS[method].params(**merged),
                     overrides=tuple(sorted({**values, **chosen}.items())),
                     env_options=ENVS[env].options(**chosen))


def parse_seeds(text: str) -> list[int]:
    """'7' -> [7]; '1-40' -> [1..40]; '1,3,5-7' -> [1,3,5,6,7]. Seeds are non-negative."""
    seeds: list[int] = []
    try:
        for part in str(text).split(","):
            lo, sep, hi = part.strip().partition("-")
            if sep:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(lo))
    except ValueError:
        raise ConfigError(f"seeds {text!r} are not valid; valid: N, A-B or a comma list of "
                          "non-negative integers") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds) or not seeds:
        raise ConfigError(f"seeds {text!r} are not valid; valid: distinct non-negative integers")
    return seeds


def seed_ranges(seeds: Iterable[int]) -> str:
    """[1, 2, 3, 7] -> '1-3,7': the inverse of `parse_seeds`."""
    seeds, parts, i = sorted(int(s) for s in seeds), [], 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(str(seeds[i]) if i == j else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    return ",".join(parts)
