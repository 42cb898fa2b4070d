"""Learning methods by name. Each method family lives in one module exposing
`make(config, spec, streams, device) -> Learner`; adding a method is a module plus an entry here
(and its name in `barfi.config.METHODS`)."""

from __future__ import annotations

import importlib

from barfi.learners.base import EpisodeBatch, Learner

METHOD_MODULES = {
    "reinforce": "reinforce",
    "reinforce-pbrs": "reinforce",
    "primary-only": "reinforce",
    "actor-critic": "actor_critic",
    "actor-critic-pbrs": "actor_critic",
    "barfi": "barfi",
    "barfi-first-order": "barfi",
    "barfi-unrolled": "barfi",
}


def make_learner(config, spec, streams, device: str = "cpu") -> Learner:
    """The learner of `config.method` for a block of agents."""
    module = importlib.import_module(f"barfi.learners.{METHOD_MODULES[config.method]}")
    return module.make(config, spec, streams, device)


__all__ = ["EpisodeBatch", "Learner", "METHOD_MODULES", "make_learner"]
