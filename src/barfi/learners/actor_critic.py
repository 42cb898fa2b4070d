"""One-step actor-critic learners: `actor-critic` (on r_p + r_aux) and `actor-critic-pbrs`
(on r_p shaped with the potential Phi = r_aux: r'_t = r_p,t + gamma r_aux,t+1 - r_aux,t).

Facts from the reference (barfi-{gw,mc,cp}/src/algorithms/ActorCritic.py,
ActorCriticPotential.py; barfi-mujoco/src/algorithms/ActorCritic.py, ActorCriticPotential.py;
utils/Critic.py):
- Linear critic V(s) = w . x(s) + b on the policy's features (nn.Linear(F, 1), torch's
  default init), its own optimiser (same kind as the actor's) with lr = critic_lr
  (HalfCheetah: actor_lr x critic_lr_ratio, given here directly as `hp.critic_lr`).
- Schedule: episodes accumulate; when an episode ends and counter % delta == 0 (here
  `(index + 1) % delta == 0`) one update uses all episodes since the last update, then they
  are discarded. HalfCheetah: delta = 1 (every episode, on that episode).
- TD target: r_t + gamma V(s_{t+1}) mask_{t+1} with V detached; the last step of an episode
  (terminal OR truncated by the horizon) gets no bootstrap.
- Critic loss: sum(mask (target - V)^2) / sum(mask) over all steps of those episodes.
- Actor loss: -mean over the padded horizon (H + 1) and the episodes of
  mask * log pi * delta_t (delta = target - V, detached); no gamma^t weighting
  (`hp.discounted_returns=True` adds it); NO entropy bonus -- the reference actor-critic
  never reads actor_reg, so the published sweeps over it are no-ops; here too.
- One optimiser step on critic_loss + actor_loss (disjoint parameters).
- PBRS shaping uses Phi_t = r_aux_t, with Phi after the last step = 0.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from barfi.features import torch_linear_init
from barfi.learners.base import CommonParams, EpisodeBatch
from barfi.learners.optim import make_optimizer
from barfi.learners.reinforce import (PolicyLearner, _per_agent_sum, _state_to,
                                      policy_gradient_loss)
from barfi.learners.returns import discount_weights, pbrs_shaped_rewards, shift_left
from barfi.params import param
from barfi.policies import LinearHead


@dataclass(frozen=True)
class ActorCriticParams(CommonParams):
    """What the actor-critic learners read: no entropy weight (the reference's actor-critic has
    no entropy term) and no return baseline (the critic is the baseline)."""

    critic_lr: float = param(5e-3, "linear critic learning rate", min=0.0, min_open=True,
                             per_agent=True)
    """learning rate of the critic's optimiser"""


class LinearCritic(LinearHead):
    """V(x) = x @ w + b per agent: w (B, F), b (B,), float32."""

    def __init__(self, gens, n_features: int, device: torch.device):
        ws, bs = zip(*(torch_linear_init(g, n_features, 1) for g in gens))
        self.weight = torch.nn.Parameter(torch.as_tensor(
            np.stack([w[0] for w in ws]), dtype=torch.float32, device=device))
        self.bias = torch.nn.Parameter(torch.as_tensor(
            np.stack([b[0] for b in bs]), dtype=torch.float32, device=device))

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, ..., F) -> (B, ..., 1) squeezed to (B, ...)."""
        B, F = feats.shape[0], feats.shape[-1]
        flat = feats.reshape(B, -1, F)
        # A batched matrix-VECTOR product takes a batch-size-dependent CPU path (a seed would
        # get different rounding alone and in a block); with a zero second column it is a
        # matrix-matrix product, whose per-agent results do not depend on the batch.
        w2 = torch.nn.functional.pad(self.weight[:, :, None], (0, 1))      # (B, F, 2)
        v = torch.baddbmm(self.bias[:, None, None], flat, w2)[..., 0]
        return v.reshape(feats.shape[:-1])



class ActorCriticLearner(PolicyLearner):
    """reward: "naive" (r_p + r_aux) or "pbrs" (r_p + gamma r_aux,t+1 - r_aux,t)."""

    def __init__(self, config, spec, streams, device: str = "cpu"):
        super().__init__(config, spec, streams, device)
        self.reward = {"actor-critic": "naive", "actor-critic-pbrs": "pbrs"}[self.config.method]
        self.critic = LinearCritic(streams["init"], self.features.dim, self.device)
        self.critic_opt = make_optimizer(self.critic.parameters(), self.hp.optimizer,
                                         self.per_agent("critic_lr"))
        self.pending: list[EpisodeBatch] = []

    def rewards(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The reward the critic and actor learn from, masked, (B, N, T)."""
        mask = batch["mask"]
        if self.reward == "pbrs":
            return pbrs_shaped_rewards(batch["r_p"], batch["r_aux"], self.per_agent("gamma"),
                                       mask)
        return (batch["r_p"] + batch["r_aux"]) * mask

    def end_episode(self, episode: EpisodeBatch, index: int) -> dict[str, np.ndarray]:
        self.pending.append(episode)
        if (index + 1) % self.hp.delta == 0:
            self.update(self.pending)
            self.pending = []
        return {}

    def losses(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-agent (critic_loss, actor_loss), each (B,)."""
        gamma, mask, feats = self.per_agent("gamma"), batch["mask"], batch["feats"]
        r = self.rewards(batch)
        v = self.critic(feats)
        target = r + self.agent_tensor(gamma, r) * shift_left(v.detach()) * shift_left(mask)
        td = target - v
        critic_loss = _per_agent_sum(mask * td ** 2) / _per_agent_sum(mask)
        lp = self.policy.log_prob(feats, batch["actions"])
        weights = (discount_weights(gamma, mask.shape[-1], mask)
                   if self.hp.discounted_returns else None)
        actor_loss = policy_gradient_loss(lp, td.detach(), mask, weights=weights,
                                          reduction="steps")
        return critic_loss, actor_loss

    def update(self, episodes: list[EpisodeBatch]) -> None:
        batch = self.tensors(episodes)
        critic_loss, actor_loss = self.losses(batch)
        self.actor_opt.zero_grad()
        self.critic_opt.zero_grad()
        (critic_loss + actor_loss).sum().backward()
        self.actor_opt.step()
        self.critic_opt.step()
        self.policy.sync()
        self.updates += 1

    def parameters(self) -> list[torch.Tensor]:
        return self.policy.parameters() + self.critic.parameters()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "critic": self.critic.state_dict(),
                "critic_opt": copy.deepcopy(self.critic_opt.state_dict()),
                "pending": [copy.deepcopy(vars(e)) for e in self.pending]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.critic.load_state_dict(state["critic"])
        self.critic_opt.load_state_dict(_state_to(copy.deepcopy(state["critic_opt"]),
                                                  self.device))
        self.pending = [EpisodeBatch(**copy.deepcopy(e)) for e in state["pending"]]


def make(config, spec, streams, device: str = "cpu") -> ActorCriticLearner:
    return ActorCriticLearner(config, spec, streams, device)


__all__ = ["ActorCriticLearner", "ActorCriticParams", "LinearCritic", "make"]
