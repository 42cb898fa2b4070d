"""REINFORCE learners: `reinforce` (on r_p + r_aux), `reinforce-pbrs` (potential-based shaping
with potential Phi = r_aux) and `primary-only` (on r_p alone); plus the pieces every policy-
gradient learner shares (the BARFI learner builds on them):

- `PolicyLearner`: features + policy + actor optimiser, per-episode policy noise, `act`,
  `parameters`, and the state plumbing for checkpoints.
- `make_optimizer(params, name, lr)` (from `learners.optim`): RMSprop or Adam with torch's
  defaults, elementwise so each agent's update is bit-identical alone or in a block.
- `episode_tensors(episodes, device)`: an `EpisodeBatch` (or a list of them, stacked as
  dim 1) as torch tensors.
- `policy_gradient_loss(...)`, `reinforce_loss(...)`: per-agent losses (B,); `reinforce_loss` is
  the REINFORCE objective of every REINFORCE learner and of BARFI's inner and outer problems.

Facts from the reference (Dhawgupta/gupta2023behavior, barfi-{gw,mc,cp}/src/algorithms/
REINFORCE.py, REINFORCEPotential.py; barfi-mujoco/src/algorithms/REINFORCE.py):
- Update when an episode ends and `counter % delta == 0`, where `counter` counts episodes
  from 1: here `(index + 1) % delta == 0` with `index` from 0. Only the LAST episode is used
  (`memory.sample_last(0)` is one episode); the other delta - 1 episodes are never learned from.
- Returns G_t = sum_k gamma^k r_{t+k} on the masked rewards, NOT weighted by gamma^t
  (the "gamma-dropped" estimator). `hp.discounted_returns=True` weights step t by gamma^t.
- Objective: mean over the PADDED horizon (H + 1 slots, H = max horizon) of
  mask * log pi * G, then mean over episodes; plus actor_reg * entropy where the entropy is
  the masked mean over steps (for a Gaussian: per-dimension entropy averaged over the action
  dims, a constant here since std is fixed). The loss minimised is the negative.
- PBRS: returns G_t(r_p) - r_aux_t (potential Phi_t = r_aux_t, Phi after the end = 0).
- HalfCheetah: updates every episode (delta = 1) with a running-mean baseline: the first
  update uses no baseline; afterwards (G - b) * mask; after each update
  b <- 0.99 b + 0.01 mean(G) (the first update sets b = mean(G)); mean(G) is over the padded
  horizon (H + 1 slots, zeros after the end). Here `hp.baseline_ema` is the 0.99.
- Optimisers: torch.optim.RMSprop / Adam with torch's default settings (RMSprop alpha 0.99,
  eps 1e-8, no momentum, not centered; Adam betas (0.9, 0.999), eps 1e-8), lr = actor_lr;
  reimplemented as the update rules `learners.optim.RMSprop` / `Adam` (same algorithm).
- float32 throughout (as the reference); features are computed in float64 then cast.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from barfi.features import Features
from barfi.learners.base import CommonParams, EpisodeBatch, Learner
from barfi.learners.optim import make_optimizer
from barfi.learners.returns import discount_weights, pbrs_returns, returns_to_go
from barfi.params import param
from barfi.policies import LinearPolicy, make_policy


@dataclass(frozen=True)
class ReinforceParams(CommonParams):
    """What REINFORCE (`reinforce`, `reinforce-pbrs`, `primary-only`) reads."""

    actor_reg: float = param(0.25, "entropy bonus weight of the policy loss", min=0.0,
                             per_agent=True)
    """weight of the masked-mean policy entropy added to the objective"""
    baseline_ema: float = param(0.0, "running-mean return baseline decay (0 = no baseline; "
                                     "HalfCheetah publishes 0.99)", min=0.0, max=1.0,
                                per_agent=True)
    """decay of the running mean of the returns subtracted from them (0: none)"""

    def structure(self) -> dict[str, Any]:
        # Whether the return baseline is on is a code path, not a number.
        return {**super().structure(), "return_baseline": self.baseline_ema > 0}


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------

def episode_tensors(episodes: EpisodeBatch | Sequence[EpisodeBatch],
                    device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Torch views of one episode batch -- obs (B, T, D) float64 (features cast later),
    actions (B, T) int64 or (B, T, A) float32, r_p, r_aux, mask (B, T) float32 -- or of a list
    of N episode batches stacked along dim 1: (B, N, T, ...)."""
    single = isinstance(episodes, EpisodeBatch)
    eps = [episodes] if single else list(episodes)

    def stack(name):
        arrays = [getattr(e, name) for e in eps]
        return arrays[0] if single else np.stack(arrays, axis=1)

    acts = stack("actions")
    out = {"obs": torch.as_tensor(stack("obs"), dtype=torch.float64, device=device),
           "actions": torch.as_tensor(acts, device=device,
                                      dtype=torch.int64 if np.issubdtype(acts.dtype, np.integer)
                                      else torch.float32)}
    for name in ("r_p", "r_aux", "mask"):
        out[name] = torch.as_tensor(stack(name), dtype=torch.float32, device=device)
    return out


def _per_agent_mean(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).mean(1)


def _per_agent_sum(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).sum(1)


def policy_gradient_loss(log_prob: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                         entropy: torch.Tensor | None = None, entropy_weight: float = 0.0,
                         weights: torch.Tensor | None = None, *,
                         reduction: str = "episodes") -> torch.Tensor:
    """Per-agent policy-gradient loss (B,) to MINIMISE:

        -( mean_{episodes} mean_{t < T} [mask * log_prob * returns * weights]
           + entropy_weight * sum(mask * entropy) / sum(mask) )

    All inputs (B, ..., T) (`weights` broadcastable, e.g. gamma^t; None = 1). The mean runs
    over the padded horizon T (= H + 1) of each episode, then over the episode dims, as in the
    reference; sum the result over agents before `backward()` so each agent's gradient is its
    own. reduction="steps" takes one mean over all step slots of all episodes instead: the
    same number up to rounding (every episode has T slots), summed in the order actor-critic's
    results were produced with. The entropy bonus is the masked mean over all steps (0 for an
    empty mask)."""
    if reduction not in ("episodes", "steps"):
        raise ValueError(f"unknown reduction {reduction!r}; valid: episodes, steps")
    term = mask * log_prob * returns
    if weights is not None:
        term = term * weights
    objective = _per_agent_mean(term.mean(-1) if reduction == "episodes" else term)
    if entropy is not None and (isinstance(entropy_weight, torch.Tensor) or entropy_weight):
        objective = objective + entropy_weight * (_per_agent_sum(mask * entropy)
                                                  / _per_agent_sum(mask).clamp(min=1.0))
    return -objective


def reinforce_loss(policy: LinearPolicy, feats: torch.Tensor, actions: torch.Tensor,
                   returns: torch.Tensor, mask: torch.Tensor, entropy_weight: float = 0.0, *,
                   discount=None, params=None) -> torch.Tensor:
    """The REINFORCE objective: per-agent loss (B,) to minimise, -J_hat (BARFI's inner and
    outer objectives are its negative). `policy_gradient_loss` of log pi(a | s) and the
    returns, with the policy's entropy as the bonus.

    feats (B, ..., T, F) (from `features.torch(obs)`), actions (B, ..., T[, A]), mask
    (B, ..., T) float32; entropy_weight a float or a (B,) float32 tensor (one per agent);
    returns G (B, ..., T) as the estimator uses them (`returns_to_go`, `pbrs_returns`, minus
    a baseline), which may carry an autograd graph (r_phi, gamma_phi).
    discount: None for the gamma-dropped estimator (as published), or gamma (a float or a (B,)
    tensor) to weight step t by gamma^t. `params` evaluates the policy at other parameters
    [W, b] (functional use)."""
    log_prob, entropy = policy.log_prob_and_entropy(feats, actions, params)
    weights = (None if discount is None
               else discount_weights(discount, returns.shape[-1], returns))
    return policy_gradient_loss(log_prob, returns, mask, entropy, entropy_weight, weights)


def _state_to(state: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) optimizer state onto `device`."""
    if isinstance(state, torch.Tensor):
        return state.to(device)
    if isinstance(state, dict):
        return {k: _state_to(v, device) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_state_to(v, device) for v in state)
    return state


class PolicyLearner(Learner):
    """Features, policy and actor optimiser of a block of agents; the rollout side.

    Construction order fixes each agent's `init` stream use: features (HalfCheetah only), then
    the policy head, then whatever a subclass adds (critic, reward heads). So a seed gets the
    same initial policy under every method.
    """

    def __init__(self, config, spec, streams, device: str = "cpu"):
        super().__init__(config, spec, streams, device)
        self.horizon = spec.horizon
        self.discrete = spec.n_actions is not None
        self.features: Features = spec.make_features(streams, self.device,
                                                     self.config.env_options)
        self.policy: LinearPolicy = make_policy(spec, self.features.dim, streams, self.device)
        self.actor_opt = make_optimizer(self.policy.parameters(), self.hp.optimizer,
                                        self.per_agent("actor_lr"))
        self.updates = 0
        self._noise: np.ndarray | None = None

    # --- rollout ---
    def begin_episode(self) -> None:
        """Policy noise for the whole episode from the `policy` stream: U[0,1) (B, H) for a
        softmax policy, N(0,1) (B, H, A) for a Gaussian one."""
        if self.discrete:
            self._noise = self.streams.uniform("policy", (self.horizon,))
        else:
            self._noise = self.streams.normal("policy", (self.horizon, self.spec.action_dim))

    def act(self, obs: np.ndarray, t: int, running: np.ndarray | None = None) -> np.ndarray:
        """Actions for step t; with `running` ((B,) bool) the features of the other agents
        (whose actions the loop ignores) are not computed."""
        feats = self.features.np(obs) if running is None else \
            self.features.np_rows(obs, running)
        return self.policy.act(feats, self._noise[:, t])

    # --- learning helpers ---
    def tensors(self, episodes) -> dict[str, torch.Tensor]:
        """`episode_tensors` plus feats = features.torch(obs) (float32)."""
        batch = episode_tensors(episodes, self.device)
        batch["feats"] = self.features.torch_padded(batch["obs"])
        return batch

    def parameters(self) -> list[torch.Tensor]:
        return self.policy.parameters()

    # --- checkpoints ---
    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "features": self.features.state_dict(),
                "actor_opt": copy.deepcopy(self.actor_opt.state_dict()),
                "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.features.load_state_dict(state["features"])
        self.policy.load_state_dict(state["policy"])
        self.actor_opt.load_state_dict(_state_to(copy.deepcopy(state["actor_opt"]), self.device))
        self.updates = int(state["updates"])


# --------------------------------------------------------------------------------------------
# REINFORCE, REINFORCE + PBRS, primary-only
# --------------------------------------------------------------------------------------------

REWARDS = {"reinforce": "naive", "reinforce-pbrs": "pbrs", "primary-only": "primary"}


class ReinforceLearner(PolicyLearner):
    """REINFORCE on the last episode every `delta` episodes.

    reward: "naive" (r_p + r_aux), "pbrs" (returns G_t(r_p) - r_aux_t) or "primary" (r_p)."""

    def __init__(self, config, spec, streams, device: str = "cpu"):
        super().__init__(config, spec, streams, device)
        self.reward = REWARDS[self.config.method]
        B = self.num_agents
        self.baseline = torch.zeros(B, dtype=torch.float32, device=self.device)
        self.baseline_set = torch.zeros(B, dtype=torch.bool, device=self.device)

    def returns(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The (unbaselined) returns the policy gradient uses, (B, T)."""
        gamma, mask = self.per_agent("gamma"), batch["mask"]
        if self.reward == "pbrs":
            return pbrs_returns(batch["r_p"], batch["r_aux"], gamma, mask)
        rewards = batch["r_p"] + batch["r_aux"] if self.reward == "naive" else batch["r_p"]
        return returns_to_go(rewards * mask, gamma)

    def end_episode(self, episode: EpisodeBatch, index: int) -> dict[str, np.ndarray]:
        if (index + 1) % self.hp.delta == 0:
            self.update(episode)
        return {}

    def update(self, episode: EpisodeBatch) -> None:
        batch = self.tensors(episode)
        mask = batch["mask"]
        G = self.returns(batch)
        used = G
        ema = self.per_agent("baseline_ema")
        if self.hp.baseline_ema > 0:      # structural: the block agrees on whether it is > 0
            b = torch.where(self.baseline_set, self.baseline, torch.zeros_like(self.baseline))
            used = torch.where(self.baseline_set[:, None], (G - b[:, None]) * mask, G)
        loss = reinforce_loss(self.policy, batch["feats"], batch["actions"], used, mask,
                              self.agent_tensor(self.per_agent("actor_reg")),
                              discount=self.hp.gamma if self.hp.discounted_returns else None)
        self.actor_opt.zero_grad()
        loss.sum().backward()
        self.actor_opt.step()
        self.policy.sync()
        self.updates += 1
        if self.hp.baseline_ema > 0:
            with torch.no_grad():
                m = G.mean(-1)
                decay, rest = self.agent_tensor(ema), self.agent_tensor(1 - ema)
                self.baseline = torch.where(self.baseline_set,
                                            decay * self.baseline + rest * m, m)
                self.baseline_set = torch.ones_like(self.baseline_set)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "baseline": self.baseline.clone(),
                "baseline_set": self.baseline_set.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.baseline = state["baseline"].to(self.device).clone()
        self.baseline_set = state["baseline_set"].to(self.device).clone()


def make(config, spec, streams, device: str = "cpu") -> ReinforceLearner:
    return ReinforceLearner(config, spec, streams, device)


__all__ = ["PolicyLearner", "ReinforceLearner", "ReinforceParams", "make", "episode_tensors",
           "policy_gradient_loss", "reinforce_loss"]
