"""Learning methods by name: the registry `METHODS` maps each method to its `MethodSpec`, i.e.
its parameter class (exactly the hyperparameters its learner reads, defined next to the learner)
and its factory `make(config, spec, streams, device) -> Learner`.

Adding a method: a learner module here with its parameter class and `make`, plus one line in
`METHODS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from barfi.learners import actor_critic, barfi, reinforce
from barfi.learners.actor_critic import ActorCriticParams
from barfi.learners.barfi_params import BarfiFirstOrderParams, BarfiParams, BarfiUnrolledParams
from barfi.learners.base import CommonParams, EpisodeBatch, Learner
from barfi.learners.reinforce import ReinforceParams


@dataclass(frozen=True)
class MethodSpec:
    """One learning method."""

    name: str
    """the method's name on the command line, in configs and in run datasets"""
    params: type
    """its parameter class: a frozen dataclass extending `CommonParams` whose fields are
    exactly the hyperparameters the learner reads"""
    make: Callable[..., Learner]
    """make(config, spec, streams, device) -> Learner for a block of agents"""
    family: str
    """the reference algorithm it belongs to (reinforce, actor-critic or barfi): environments
    publish their default hyperparameters per family (`barfi.envs.Published`)"""
    description: str = ""
    """one line for humans (`barfi list`)"""

    @property
    def learns_reward(self) -> bool:
        """Whether the learner learns r_phi and gamma_phi (and records them)."""
        return self.family == "barfi"


def _family(family: str, params: type, make: Callable[..., Learner],
            descriptions: dict[str, str]) -> list[MethodSpec]:
    """The methods of one learner family that share a parameter class and a factory."""
    return [MethodSpec(name, params, make, family, text) for name, text in descriptions.items()]


# The registry: one entry per method (name: description), grouped by parameter class.
METHODS: dict[str, MethodSpec] = {m.name: m for m in (
    *_family("reinforce", ReinforceParams, reinforce.make, {
        "reinforce": "REINFORCE on r_p + r_aux",
        "reinforce-pbrs": "REINFORCE on r_p shaped with the potential r_aux",
        "primary-only": "REINFORCE on r_p alone"}),
    *_family("actor-critic", ActorCriticParams, actor_critic.make, {
        "actor-critic": "one-step actor-critic on r_p + r_aux",
        "actor-critic-pbrs": "one-step actor-critic on r_p shaped with the potential r_aux"}),
    *_family("barfi", BarfiParams, barfi.make, {
        "barfi": "BARFI, implicit gradient (Neumann series or conjugate gradient)"}),
    *_family("barfi", BarfiFirstOrderParams, barfi.make, {
        "barfi-first-order": "BARFI ablation: first-order implicit gradient (H^-1 ~ -I)"}),
    *_family("barfi", BarfiUnrolledParams, barfi.make, {
        "barfi-unrolled": "BARFI ablation: gradient through the unrolled inner steps, "
                          "gamma_phi fixed"}),
)}


def make_learner(config: Any, spec: Any, streams: Any, device: str = "cpu") -> Learner:
    """The learner of `config.method` for a block of agents (`config`: one RunConfig, or one
    per agent whose structural keys agree: `barfi.config.block_configs`; a learner reads an
    agent's values with `Learner.per_agent`)."""
    if isinstance(config, (list, tuple)) and all(c == config[0] for c in config):
        config = config[0]       # one config for the block: the learner sees a RunConfig
    first = config[0] if isinstance(config, (list, tuple)) else config
    return METHODS[first.method].make(config, spec, streams, device)


__all__ = ["CommonParams", "EpisodeBatch", "Learner", "METHODS", "MethodSpec", "make_learner"]
