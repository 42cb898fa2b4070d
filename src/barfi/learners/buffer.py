"""BARFI's trajectory buffer: the last `capacity` episodes of every agent, as torch tensors."""

from __future__ import annotations

from typing import Any

import torch

from barfi.learners.base import EpisodeBatch


class EpisodeBuffer:
    """Per-agent FIFO buffer of episodes as torch tensors (B, capacity, H+1, ...).

    Every agent adds one episode per episode, so all agents share the write position. Episodes
    are addressed by age: 0 is the newest."""

    def __init__(self, num_agents: int, capacity: int, horizon: int, obs_dim: int,
                 action_shape: tuple[int, ...], discrete: bool, device: torch.device):
        T = horizon + 1
        shape = (num_agents, capacity, T)
        self.obs = torch.zeros(shape + (obs_dim,), dtype=torch.float32, device=device)
        self.actions = torch.zeros(shape + action_shape,
                                   dtype=torch.int64 if discrete else torch.float32, device=device)
        self.r_p = torch.zeros(shape, dtype=torch.float32, device=device)
        self.r_aux = torch.zeros(shape, dtype=torch.float32, device=device)
        self.mask = torch.zeros(shape, dtype=torch.float32, device=device)
        self.capacity, self.size, self.pos = capacity, 0, -1
        self.device = device

    @staticmethod
    def bytes_per_agent(capacity: int, spec: Any) -> int:
        """Bytes one agent's share of a buffer of `capacity` episodes holds in `spec`'s env (all
        allocated at construction): float32 observations, rewards and mask, int64 discrete or
        float32 continuous actions, (horizon + 1) steps per episode."""
        action = 8 if spec.n_actions is not None else 4 * spec.action_dim
        return capacity * (spec.horizon + 1) * (4 * spec.obs_dim + action + 3 * 4)

    @classmethod
    def mb_per_agent(cls, hp: Any, spec: Any) -> float:
        """MiB of one agent's buffer for a method's hyperparameters `hp` (0 for a method that
        keeps none, i.e. whose parameters have no `buffer_capacity`)."""
        capacity = getattr(hp, "buffer_capacity", None)
        return 0.0 if capacity is None else cls.bytes_per_agent(capacity, spec) / 2**20

    def add(self, ep: EpisodeBatch) -> None:
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        for name in ("obs", "actions", "r_p", "r_aux", "mask"):
            getattr(self, name)[:, self.pos] = torch.as_tensor(getattr(ep, name),
                                                               device=self.device)

    def get(self, ages: torch.Tensor) -> dict[str, torch.Tensor]:
        """Episodes by age, ages (B, n) int64 -> dict of (B, n, T, ...) tensors."""
        slots = (self.pos - ages) % self.capacity
        rows = torch.arange(slots.shape[0], device=self.device)[:, None]
        return {name: getattr(self, name)[rows, slots]
                for name in ("obs", "actions", "r_p", "r_aux", "mask")}

    def last(self, count: int) -> dict[str, torch.Tensor]:
        """The newest `count` episodes of every agent (fewer if the buffer holds fewer)."""
        ages = torch.arange(min(count, self.size), device=self.device)
        return self.get(ages.expand(self.obs.shape[0], -1))

    def state_dict(self) -> dict[str, Any]:
        state = {name: getattr(self, name).clone()
                 for name in ("obs", "actions", "r_p", "r_aux", "mask")}
        return {**state, "size": self.size, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                getattr(self, name).copy_(value)
            else:
                setattr(self, name, value)
