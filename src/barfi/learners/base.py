"""What every learner shares: the parameters every method reads (`CommonParams`), the episode
record it learns from and the interface the training loop drives. One learner object serves a
whole block of agents (leading batch dimension B)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from barfi.params import param
from barfi.rng import BlockStreams

if TYPE_CHECKING:  # annotations only: barfi.config imports the learners' registry
    from barfi.config import RunConfig


@dataclass(frozen=True)
class CommonParams:
    """The hyperparameters every method reads. Each method's parameter class extends this one
    with exactly the keys its learner reads (`barfi.learners.METHODS`)."""

    episodes: int = param(2000, "training budget in episodes", min=1)
    """episodes per run (the training loop; BARFI also caps its buffer at this)"""
    gamma: float = param(0.99, "discount of the primary objective (and of the base learners' "
                                "returns)", min=0.0, max=1.0, per_agent=True)
    """discount of the returns the policy gradient uses (BARFI: of its outer objective)"""
    optimizer: str = param("rmsprop", "optimiser of every learned parameter",
                           choices=("rmsprop", "adam"))
    """`barfi.learners.optim.make_optimizer` name, for every optimiser of the method"""
    actor_lr: float = param(5e-3, "policy learning rate", min=0.0, min_open=True,
                            per_agent=True)
    """learning rate of the policy's optimiser"""
    delta: int = param(3, "episodes between updates (the paper's delta)", min=1)
    """a learner updates after every delta-th episode"""
    discounted_returns: bool = param(False, "weight the policy gradient by gamma^t (unbiased); "
                                            "False is the published gamma-dropped estimator")
    """weight step t of the policy-gradient objective by gamma^t"""
    nan_guard: bool = param(True, "stop a run whose parameters or losses become NaN or infinite")
    """the training loop marks an agent with non-finite parameters as diverged"""

    def structure(self) -> dict[str, Any]:
        """What must agree between the agents of one block: every field not marked per_agent,
        plus the switches a per-agent value turns on or off (a code path taken or not). With
        `discounted_returns` gamma is structural too: its powers gamma^t take another path for
        one gamma per agent than for one gamma per block."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if not f.metadata.get("per_agent")}
        if self.discounted_returns:
            out["gamma"] = self.gamma
        return out


@dataclass
class EpisodeBatch:
    """One lockstep episode of B agents, padded to horizon + 1 steps."""

    obs: np.ndarray
    """(B, H+1, D) float64: obs[:, t] for t = 0..length (the final next observation included)"""
    actions: np.ndarray
    """(B, H+1) int64, or (B, H+1, A) float64 for continuous actions (0 past length)"""
    r_p: np.ndarray
    """(B, H+1) primary reward of step t (0 past length)"""
    r_aux: np.ndarray
    """(B, H+1) auxiliary reward of step t (0 past length)"""
    mask: np.ndarray
    """(B, H+1) float64, 1.0 for t < length"""
    terminated: np.ndarray
    """(B,) bool: the episode ended in a terminal state (not by the horizon)"""
    length: np.ndarray
    """(B,) int64: steps taken"""


class Learner:
    """The training loop's view of a method. Subclasses implement every method below that raises
    `NotImplementedError` (begin_episode, act, end_episode, parameters, state_dict, load_state_dict).

    Per-agent independence is the contract: every loss is a sum over agents of per-agent losses,
    optimisers are elementwise, gradient clipping is per agent, and every random draw comes from
    the agent's own stream in `streams`. Running a seed alone or inside a block gives the same
    numbers up to floating-point summation order.
    """

    def __init__(self, config: RunConfig | Sequence[RunConfig], spec: Any,
                 streams: BlockStreams, device: str = "cpu"):
        self.num_agents = len(streams.seeds)
        # One config for the block, or one per agent (structural keys agree: barfi.train).
        self.configs = (list(config) if isinstance(config, (list, tuple))
                        else [config] * self.num_agents)
        self.config = self.configs[0]
        self.hp = self.config.hp       # structural values (and per-agent ones if uniform)
        self.spec = spec
        self.streams = streams
        self.device = torch.device(device)

    def per_agent(self, key: str) -> float | np.ndarray:
        """Hyperparameter `key` of every agent: a python float when the block agrees on it (the
        arithmetic of a one-config block is unchanged), else a (B,) float64 array. Values
        derived from it (1 - x, x / c) are computed in float64 before any cast to float32, as
        python floats are, so an agent gets the same numbers alone or in a mixed block."""
        values = [getattr(c.hp, key) for c in self.configs]
        if all(v == values[0] for v in values):
            return values[0]
        return np.asarray(values, dtype=np.float64)

    def agent_tensor(self, value: float | np.ndarray, like: torch.Tensor | None = None):
        """A `per_agent` value ready to multiply a float32 tensor: a float stays a float; an
        array becomes a float32 tensor (B, 1, ..., 1) broadcasting against `like` (B, ...)
        (None: shape (B,))."""
        if not isinstance(value, np.ndarray):
            return value
        t = torch.as_tensor(value, dtype=torch.float32, device=self.device)
        return t if like is None else t.reshape((-1,) + (1,) * (like.dim() - 1))

    def begin_episode(self) -> None:
        """Draw this episode's policy noise (one row per possible step) from the `policy` stream."""
        raise NotImplementedError

    def act(self, obs: np.ndarray, t: int, running: np.ndarray | None = None) -> np.ndarray:
        """Actions (B,) int64 or (B, A) float64 for step t of the current episode; with
        `running` ((B,) bool) only those agents' actions are used (the others may be any)."""
        raise NotImplementedError

    def end_episode(self, episode: EpisodeBatch, index: int) -> dict[str, np.ndarray]:
        """Learn from the finished episode (when the schedule says so). `index` counts episodes
        from 0. Returns per-agent metrics, each (B,), recorded in the run dataset per episode."""
        raise NotImplementedError

    def parameters(self) -> list[torch.Tensor]:
        """Every learned tensor, each with leading dim B (used for the divergence check)."""
        raise NotImplementedError

    def final_records(self) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
        """Arrays recorded once at the end of training: name -> (dims after the agent dim,
        array (B, ...)). Default: none. BARFI on GridWorld stores its phi maps here."""
        return {}

    def finite(self) -> np.ndarray:
        """(B,) bool: every learned parameter of the agent is finite."""
        ok = torch.ones(self.num_agents, dtype=torch.bool, device=self.device)
        for p in self.parameters():
            ok &= torch.isfinite(p.detach().reshape(p.shape[0], -1)).all(dim=1)
        return ok.cpu().numpy()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: parameters, optimiser states, buffers, counters.
        (The training loop saves the random streams itself.)"""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError
