"""Run configuration: the hyperparameters of one training run, their published defaults per
environment, and the validation that turns user input into a `RunConfig` or one clear error.

Every hyperparameter is a field of `Hyperparameters` with its help text, its valid range and the
methods it applies to. `resolve_config` is the only way user input becomes a config: it checks
names (env, aux, method, keys), types and ranges before any compute is spent.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Mapping

# Method families, used to say which hyperparameters a method reads.
REINFORCE_METHODS = ("reinforce", "reinforce-pbrs", "primary-only")
ACTOR_CRITIC_METHODS = ("actor-critic", "actor-critic-pbrs")
BARFI_METHODS = ("barfi", "barfi-first-order", "barfi-unrolled")
METHODS = REINFORCE_METHODS + ACTOR_CRITIC_METHODS + BARFI_METHODS
ALL = METHODS
CRITIC = ACTOR_CRITIC_METHODS


class ConfigError(ValueError):
    """Bad user input. The message is one line naming the bad key and what is valid."""


def hp(default, help: str, *, min=None, max=None, choices=None, methods=ALL, min_open=False):
    """A hyperparameter field: default, one-line help, valid range and the methods that read it."""
    return field(
        default=default,
        metadata={"help": help, "min": min, "max": max, "choices": choices,
                  "methods": tuple(methods), "min_open": min_open},
    )


@dataclass(frozen=True)
class Hyperparameters:
    """Every knob of a run. Defaults here are generic; `ENV_DEFAULTS` holds the published ones."""

    # --- budget and base learner (all methods) ---
    episodes: int = hp(2000, "training budget in episodes", min=1)
    gamma: float = hp(0.99, "discount of the primary objective (and of the base learners' returns)",
                      min=0.0, max=1.0)
    optimizer: str = hp("rmsprop", "optimiser of every learned parameter", choices=("rmsprop", "adam"))
    actor_lr: float = hp(5e-3, "policy learning rate", min=0.0, min_open=True)
    actor_reg: float = hp(0.25, "entropy bonus weight of the policy loss", min=0.0,
                          methods=REINFORCE_METHODS + BARFI_METHODS)
    delta: int = hp(3, "episodes between updates (the paper's delta)", min=1)
    batch_size: int = hp(1, "episodes per inner policy-gradient estimate", min=1)
    discounted_returns: bool = hp(False, "weight the policy gradient by gamma^t (unbiased); "
                                         "False is the published gamma-dropped estimator")
    baseline_ema: float = hp(0.0, "running-mean return baseline decay (0 = no baseline; "
                                  "HalfCheetah publishes 0.99)", min=0.0, max=1.0,
                             methods=REINFORCE_METHODS + BARFI_METHODS)
    # --- actor-critic ---
    critic_lr: float = hp(5e-3, "linear critic learning rate", min=0.0, min_open=True, methods=CRITIC)
    # --- BARFI (learned reward and discount) ---
    buffer_size: int = hp(1000, "trajectory buffer size (episodes) for the inner updates", min=1,
                          methods=BARFI_METHODS)
    reward_lr: float = hp(5e-3, "learning rate of phi (behaviour alignment reward)", min=0.0,
                          methods=BARFI_METHODS)
    gamma_lr: float = hp(5e-3, "learning rate of psi (gamma_phi = sigmoid(psi)); 0 freezes it",
                         min=0.0, methods=BARFI_METHODS)
    lambda_r: float = hp(0.0, "weight of the unsquared L2 norm of phi's parameters", min=0.0,
                         methods=BARFI_METHODS)
    lambda_gamma: float = hp(0.0, "weight of the linear penalty on gamma_phi", min=0.0,
                             methods=BARFI_METHODS)
    psi_init: float = hp(4.6, "initial psi (gamma_phi = sigmoid(psi) ~= 0.990)",
                         methods=BARFI_METHODS)
    learn_gamma: bool = hp(True, "learn gamma_phi (False keeps it at sigmoid(psi_init))",
                           methods=BARFI_METHODS)
    solver: str = hp("neumann", "inverse-Hessian-vector product solver of the implicit gradient",
                     choices=("neumann", "cg"), methods=BARFI_METHODS)
    neumann_terms: int = hp(5, "K, terms of the Neumann series (0 = first-order)", min=0,
                            methods=BARFI_METHODS)
    neumann_alpha: float = hp(5e-4, "step alpha of the Neumann series", min=0.0, min_open=True,
                              methods=BARFI_METHODS)
    cg_iters: int = hp(10, "iterations of the conjugate-gradient solver", min=1,
                       methods=BARFI_METHODS)
    cg_damping: float = hp(1e-3, "damping added to -H in the conjugate-gradient solver", min=0.0,
                           methods=BARFI_METHODS)
    inner_mul: int = hp(5, "inner policy steps per episode of the schedule (delta * inner_mul "
                           "steps per outer step)", min=1, methods=BARFI_METHODS)
    first_mul: int = hp(150, "extra inner steps on the first call (0 = none); also sets the "
                             "warm-up length", min=0, methods=BARFI_METHODS)
    first_steps: bool = hp(True, "take the delta*inner_mul + first_mul inner steps on the first "
                                 "outer call (MountainCar's published code skips them)",
                           methods=BARFI_METHODS)
    hess_mul: int = hp(15, "episodes (x batch_size) sampled for the inner gradient of the "
                           "hypergradient", min=1, methods=BARFI_METHODS)
    warmup: bool = hp(True, "naive REINFORCE on r_p + r_aux until episode > first_mul + inner_mul",
                      methods=BARFI_METHODS)
    grad_clip: float = hp(1.0, "norm clip of inner and outer gradients in barfi-unrolled (0 = off)",
                          min=0.0, methods=BARFI_METHODS)
    # --- environment options ---
    env_version: str = hp("v5", "HalfCheetah's Gymnasium version (the paper used v4)",
                          choices=("v4", "v5"))
    tile_coding: str = hp("clip", "MountainCar tile coding: clip (scaled inputs, cells clipped to "
                                  "the grid), wrap (PyFixedReps >= 2.0) or published (PyFixedReps "
                                  "1.0.0 as pinned by the reference: raw, unscaled inputs)",
                          choices=("clip", "wrap", "published"))
    nan_guard: bool = hp(True, "stop a run whose parameters or losses become NaN or infinite")


HP_FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(Hyperparameters)}

# Published defaults: configuration 0 (the first value of every swept list) of the reference
# repository's sweep files, per env, method and aux reward. `ENV_DEFAULTS` is each env's base;
# `PUBLISHED_OVERLAYS` are applied on top, in order, where the method (and the aux reward, when
# one is named) matches. tests/test_published_defaults.py compares the result with a table of
# the reference's configuration-0 values for every env x aux x method.
ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "gridworld": dict(episodes=2000, actor_lr=5e-3, actor_reg=0.25, critic_lr=5e-3,
                      buffer_size=1000, reward_lr=5e-3, gamma_lr=5e-3, lambda_gamma=0.06125,
                      lambda_r=0.0, neumann_alpha=5e-4, first_mul=150),
    # bang-bang is the base; the velocity sweeps differ (overlays below).
    "mountaincar": dict(episodes=500, actor_lr=0.0625, actor_reg=0.25, critic_lr=1 / 32,
                        buffer_size=5, reward_lr=1 / 64, gamma_lr=0.0, lambda_gamma=0.0,
                        lambda_r=0.0, inner_mul=3, neumann_alpha=1e-3, first_mul=50,
                        first_steps=False),
    "cartpole": dict(episodes=1000, actor_lr=1e-3, actor_reg=0.25, critic_lr=1e-3,
                     buffer_size=10000, reward_lr=1e-3, gamma_lr=1e-3, lambda_gamma=0.25,
                     lambda_r=0.0, neumann_alpha=1e-3, first_mul=150),
    "halfcheetah": dict(episodes=10000, optimizer="adam", actor_lr=1e-4, actor_reg=0.0,
                        critic_lr=1e-4, delta=1, baseline_ema=0.99, buffer_size=50,
                        reward_lr=2.5e-3, gamma_lr=0.0, learn_gamma=False, lambda_r=1.0,
                        lambda_gamma=0.0, neumann_alpha=1e-3, first_mul=30, warmup=False),
}

PUBLISHED_OVERLAYS: tuple[tuple[str, tuple[str, ...], tuple[str, ...] | None,
                                dict[str, Any]], ...] = (
    # (env, methods, aux rewards or None for every one, values)
    ("gridworld", ("actor-critic-pbrs",), ("center-bonus",),
     dict(actor_lr=1e-4, critic_lr=1e-4, actor_reg=0.0)),
    ("mountaincar", ACTOR_CRITIC_METHODS, None, dict(actor_lr=1 / 32, actor_reg=0.0)),
    ("mountaincar", METHODS, ("velocity",), dict(episodes=2000)),
    ("mountaincar", REINFORCE_METHODS, ("velocity",), dict(actor_lr=1 / 64, actor_reg=0.0)),
    ("mountaincar", ACTOR_CRITIC_METHODS, ("velocity",), dict(actor_lr=1 / 64)),
    ("mountaincar", BARFI_METHODS, ("velocity",),
     dict(actor_lr=1 / 128, actor_reg=0.0, buffer_size=10, lambda_gamma=0.06125,
          gamma_lr=1 / 64, inner_mul=5)),
    ("cartpole", ACTOR_CRITIC_METHODS, None, dict(actor_lr=5e-4, critic_lr=5e-4, actor_reg=0.0)),
    ("halfcheetah", ACTOR_CRITIC_METHODS, None, dict(actor_lr=7.5e-5, critic_lr=7.5e-5)),
    ("halfcheetah", BARFI_METHODS, None, dict(delta=3)),
    # The first-order ablation's own sweep (its configuration 0 has no reward-weight penalty).
    ("halfcheetah", ("barfi-first-order",), None, dict(lambda_r=0.0)),
)


def published_defaults(env: str, method: str, aux: str | None = None) -> dict[str, Any]:
    """The published default hyperparameters of `method` on `env` (with aux reward `aux`;
    None: the env's first published aux reward)."""
    values = dict(ENV_DEFAULTS.get(env, {}))
    for e, methods, auxes, extra in PUBLISHED_OVERLAYS:
        if e == env and method in methods and (auxes is None or aux in auxes):
            values.update(extra)
    return values


@dataclass(frozen=True)
class RunConfig:
    """One training run: what to train on, with what, and how."""

    env: str
    """environment name (see `barfi.envs.ENVS`)"""
    aux: str
    """auxiliary reward name for this env (see `barfi.aux_rewards.AUX_REWARDS`)"""
    method: str
    """learning method (see `barfi.config.METHODS`)"""
    hp: Hyperparameters
    """resolved hyperparameters (published env defaults overlaid with the user's overrides)"""
    overrides: tuple[tuple[str, Any], ...] = ()
    """the user's overrides, as given (recorded for provenance)"""

    def to_attrs(self) -> dict[str, Any]:
        """Flat, NetCDF-safe attributes: env, aux, method and every hyperparameter as hp_<key>."""
        attrs: dict[str, Any] = {"env": self.env, "aux": self.aux, "method": self.method}
        for key, value in dataclasses.asdict(self.hp).items():
            attrs[f"hp_{key}"] = int(value) if isinstance(value, bool) else value
        return attrs


def valid_keys(method: str) -> list[str]:
    return sorted(k for k, f in HP_FIELDS.items() if method in f.metadata["methods"])


def _one_of(kind: str, value: str, valid: Iterable[str]) -> ConfigError:
    return ConfigError(f"unknown {kind} {value!r}; valid: {', '.join(sorted(valid))}")


def coerce_value(key: str, raw: Any) -> Any:
    """Turn a raw value (a CLI string or a YAML scalar) into the field's type, or raise."""
    f = HP_FIELDS[key]
    typ = f.type if isinstance(f.type, type) else {"int": int, "float": float, "bool": bool,
                                                   "str": str}[f.type]
    meta = f.metadata
    try:
        if typ is bool:
            if isinstance(raw, bool):
                value = raw
            elif isinstance(raw, str) and raw.lower() in ("true", "yes", "1", "on"):
                value = True
            elif isinstance(raw, str) and raw.lower() in ("false", "no", "0", "off"):
                value = False
            else:
                raise ValueError
        elif typ is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            value = int(raw) if not isinstance(raw, str) else int(raw.strip())
        elif typ is float:
            if isinstance(raw, bool):
                raise ValueError
            # Fractions such as 1/64 are how the paper writes its learning rates.
            value = float(Fraction(raw.strip())) if isinstance(raw, str) else float(raw)
            if not math.isfinite(value):
                raise ValueError
        else:
            if not isinstance(raw, str):
                raise ValueError
            value = raw
    except (ValueError, ZeroDivisionError, TypeError):
        expected = {bool: "true or false", int: "an integer", float: "a number",
                    str: "a string"}[typ]
        if meta["choices"]:
            expected = "one of " + ", ".join(meta["choices"])
        raise ConfigError(f"hyperparameter {key}={raw!r} is not {expected}") from None
    if meta["choices"] and value not in meta["choices"]:
        raise ConfigError(f"hyperparameter {key}={value!r} is not valid; valid: "
                          + ", ".join(meta["choices"]))
    lo, hi = meta["min"], meta["max"]
    if lo is not None and (value < lo or (meta["min_open"] and value == lo)):
        bound = f"> {lo}" if meta["min_open"] else f">= {lo}"
        raise ConfigError(f"hyperparameter {key}={value!r} is out of range; valid: {bound}")
    if hi is not None and value > hi:
        raise ConfigError(f"hyperparameter {key}={value!r} is out of range; valid: <= {hi}")
    return value


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
    """Validate names, types and ranges; overlay published env defaults and the user's values."""
    from barfi.aux_rewards import AUX_REWARDS  # late imports: the registries import this module
    from barfi.envs import ENVS

    if env not in ENVS:
        raise _one_of("env", env, ENVS)
    if aux not in AUX_REWARDS[env]:
        raise ConfigError(f"unknown aux {aux!r} for env {env}; valid: "
                          + ", ".join(sorted(AUX_REWARDS[env])))
    if method not in METHODS:
        raise _one_of("method", method, METHODS)
    overrides = dict(overrides or {})
    allowed = valid_keys(method)
    values: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key not in HP_FIELDS:
            raise ConfigError(f"unknown hyperparameter {key!r} for method {method}; valid: "
                              + ", ".join(allowed))
        if key not in allowed:
            raise ConfigError(f"hyperparameter {key!r} does not apply to method {method}; "
                              f"valid: " + ", ".join(allowed))
        values[key] = coerce_value(key, raw)
    merged = {**published_defaults(env, method, aux), **values}
    hparams = Hyperparameters(**merged)
    return RunConfig(env=env, aux=aux, method=method, hp=hparams,
                     overrides=tuple(sorted(values.items())))


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
