"""Stand-ins for the tests of features, policies and learners."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    """Stand-in for barfi.envs.EnvSpec (only what features, policies and learners read), with
    a short horizon so that tests stay fast."""
    name: str
    obs_dim: int
    n_actions: int | None
    action_dim: int | None = None
    action_low: float | None = None
    action_high: float | None = None
    horizon: int = 12
    obs_low: tuple | None = None
    obs_high: tuple | None = None

    def __getattr__(self, name):
        """Everything else (features, reward head, options, phi maps) is the real env's."""
        if name.startswith("__") or name == "name":
            raise AttributeError(name)
        from barfi.envs import ENVS

        return getattr(ENVS[self.name], name)
