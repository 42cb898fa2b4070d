"""Batched linear policies: a leading agent dimension B on every parameter.

- `SoftmaxPolicy` (discrete actions): logits = feats @ W + b, W (B, F, A), b (B, A).
- `GaussianPolicy` (HalfCheetah): mean = low + (high - low) * sigmoid(feats @ W + b), fixed
  std (0.1 in every published run), W (B, F, A), b (B, A).

Both heads are `nn.Linear(F, A)` in the reference (barfi-*/src/utils/Policy.py), with
torch's default initialisation U(-1/sqrt(F), 1/sqrt(F)) for weight and bias (the custom
`weight_init` there is never called). Here each agent draws its head from its own `init`
stream with the same distribution (weight first, then bias).

Rollout: `sync()` copies the parameters to a float64 numpy snapshot (call it after every
update); `act(feats (B, F), noise)` samples from the snapshot with pre-drawn noise:
softmax by inverse CDF with u ~ U[0,1) (B,), Gaussian as mean + std * z with z ~ N(0,1) (B, A).
Actions are not clipped (the reference sends the raw Gaussian sample to the simulator, which
clips the control; the log-probability is of the raw sample).

Learning: `log_prob(feats (B, ..., F), actions (B, ...))` and `entropy(feats)` in torch.
Both accept `params=[W, b]` to evaluate the policy at other parameter values (functional use,
e.g. for unrolled differentiation through updates).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from barfi.features import torch_linear_init


def _linear_init(gens: Sequence[np.random.Generator], fan_in: int, fan_out: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per-agent nn.Linear(fan_in, fan_out) default init: W (B, fan_in, fan_out), b (B, fan_out)."""
    ws, bs = [], []
    for g in gens:
        w, b = torch_linear_init(g, fan_in, fan_out)
        ws.append(w.T)
        bs.append(b)
    return np.stack(ws), np.stack(bs)


def _affine(feats: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(B, ..., F) @ (B, F, A) + (B, A) -> (B, ..., A), each agent with its own head."""
    B, F = feats.shape[0], feats.shape[-1]
    flat = feats.reshape(B, -1, F)
    out = torch.baddbmm(bias[:, None, :], flat, weight)
    return out.reshape(feats.shape[:-1] + (weight.shape[-1],))


class LinearHead:
    """The learned tensors of a per-agent linear head, weight and bias (leading dim B), and
    their checkpoint state: the policies here and the actor-critic's critic."""

    weight: torch.nn.Parameter
    bias: torch.nn.Parameter

    def parameters(self) -> list[torch.nn.Parameter]:
        return [self.weight, self.bias]

    def state_dict(self) -> dict[str, Any]:
        return {"weight": self.weight.detach().clone(), "bias": self.bias.detach().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.weight.copy_(torch.as_tensor(state["weight"]))
            self.bias.copy_(torch.as_tensor(state["bias"]))


class LinearPolicy(LinearHead):
    """Shared plumbing: parameters [W, b] with leading dim B, numpy snapshot, state."""

    def __init__(self, weight: np.ndarray | torch.Tensor, bias: np.ndarray | torch.Tensor,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        self.device = torch.device(device)
        self.weight = torch.nn.Parameter(torch.tensor(np.array(weight), dtype=dtype,
                                                      device=self.device))
        self.bias = torch.nn.Parameter(torch.tensor(np.array(bias), dtype=dtype,
                                                    device=self.device))
        self.num_agents, self.num_features, self.num_outputs = self.weight.shape
        self.sync()

    def _params(self, params):
        return (self.weight, self.bias) if params is None else tuple(params)

    def sync(self) -> None:
        """Refresh the numpy snapshot used by `act` (after every parameter update)."""
        self._w = np.ascontiguousarray(self.weight.detach().cpu().numpy(), np.float64)
        self._b = np.ascontiguousarray(self.bias.detach().cpu().numpy(), np.float64)
        self._tmp = np.empty((self.num_agents, 1, self.num_outputs))

    def _affine_np(self, feats: np.ndarray) -> np.ndarray:
        """(B, F) -> (B, A) from the snapshot."""
        np.matmul(feats[:, None, :], self._w, out=self._tmp)
        return self._tmp[:, 0, :] + self._b

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.sync()


class SoftmaxPolicy(LinearPolicy):
    """Linear softmax policy over `n_actions` discrete actions."""

    @classmethod
    def init(cls, gens: Sequence[np.random.Generator], n_features: int, n_actions: int,
             device: str | torch.device = "cpu") -> "SoftmaxPolicy":
        w, b = _linear_init(gens, n_features, n_actions)
        return cls(w, b, device)

    @property
    def n_actions(self) -> int:
        return self.num_outputs

    # --- rollout (numpy) ---
    def probs_np(self, feats: np.ndarray) -> np.ndarray:
        logits = self._affine_np(feats)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def act(self, feats: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Inverse-CDF sampling: action k with c_{k-1} <= u < c_k (c = cumulative probs).
        feats (B, F) float64, u (B,) in [0, 1) -> actions (B,) int64."""
        # ufunc methods directly: the reductions' Python wrappers cost more than the maths
        logits = self._affine_np(feats)
        np.subtract(logits, np.maximum.reduce(logits, axis=1, keepdims=True), out=logits)
        cdf = np.add.accumulate(np.exp(logits, out=logits), axis=1)    # unnormalised CDF
        a = np.add.reduce(cdf <= (u * cdf[:, -1])[:, None], axis=1, dtype=np.int64)
        return np.minimum(a, self.num_outputs - 1)

    # --- learning (torch) ---
    def logits(self, feats: torch.Tensor, params=None) -> torch.Tensor:
        w, b = self._params(params)
        return _affine(feats, w, b)

    def log_probs(self, feats: torch.Tensor, params=None) -> torch.Tensor:
        """log pi(. | s): (B, ..., F) -> (B, ..., A)."""
        return torch.log_softmax(self.logits(feats, params), dim=-1)

    def log_prob(self, feats: torch.Tensor, actions: torch.Tensor, params=None) -> torch.Tensor:
        """log pi(a | s): feats (B, ..., F), actions (B, ...) int -> (B, ...)."""
        lp = self.log_probs(feats, params)
        return lp.gather(-1, actions.to(device=lp.device, dtype=torch.int64)[..., None])[..., 0]

    def entropy(self, feats: torch.Tensor, params=None) -> torch.Tensor:
        """-sum_a pi log pi: (B, ..., F) -> (B, ...)."""
        lp = self.log_probs(feats, params)
        return -(lp.exp() * lp).sum(-1)

    def log_prob_and_entropy(self, feats, actions, params=None):
        """Both from one forward pass."""
        lp = self.log_probs(feats, params)
        a = actions.to(device=lp.device, dtype=torch.int64)[..., None]
        return lp.gather(-1, a)[..., 0], -(lp.exp() * lp).sum(-1)


class GaussianPolicy(LinearPolicy):
    """Diagonal Gaussian with mean low + (high - low) * sigmoid(feats @ W + b), fixed std."""

    def __init__(self, weight, bias, low: float, high: float, std: float = 0.1,
                 device: str | torch.device = "cpu"):
        super().__init__(weight, bias, device)
        self.low, self.high, self.std = float(low), float(high), float(std)
        self.scale = self.high - self.low
        self._log_norm = math.log(self.std) + 0.5 * math.log(2 * math.pi)

    @classmethod
    def init(cls, gens: Sequence[np.random.Generator], n_features: int, action_dim: int,
             low: float, high: float, std: float = 0.1,
             device: str | torch.device = "cpu") -> "GaussianPolicy":
        w, b = _linear_init(gens, n_features, action_dim)
        return cls(w, b, low, high, std, device)

    @property
    def action_dim(self) -> int:
        return self.num_outputs

    def state_dict(self):
        return {**super().state_dict(), "low": self.low, "high": self.high, "std": self.std}

    # --- rollout (numpy) ---
    def mean_np(self, feats: np.ndarray) -> np.ndarray:
        x = self._affine_np(feats)
        return self.low + self.scale / (1.0 + np.exp(-x))

    def act(self, feats: np.ndarray, z: np.ndarray) -> np.ndarray:
        """feats (B, F), z (B, A) standard normal -> actions (B, A) float64 (unclipped)."""
        return self.mean_np(feats) + self.std * z

    # --- learning (torch) ---
    def mean(self, feats: torch.Tensor, params=None) -> torch.Tensor:
        w, b = self._params(params)
        return self.low + self.scale * torch.sigmoid(_affine(feats, w, b))

    def log_prob(self, feats: torch.Tensor, actions: torch.Tensor, params=None) -> torch.Tensor:
        """sum over action dims of log N(a; mean, std^2): feats (B, ..., F), actions (B, ..., A)
        -> (B, ...)."""
        mu = self.mean(feats, params)
        a = actions.to(device=mu.device, dtype=mu.dtype)
        return (-0.5 * ((a - mu) / self.std) ** 2 - self._log_norm).sum(-1)

    def entropy(self, feats: torch.Tensor, params=None) -> torch.Tensor:
        """Entropy per action dimension, averaged over the action dims (the reference's
        normalisation of the entropy bonus): a constant (B, ...) tensor, since std is fixed."""
        value = 0.5 + 0.5 * math.log(2 * math.pi) + math.log(self.std)
        return torch.full(feats.shape[:-1], value, dtype=feats.dtype, device=feats.device)

    def log_prob_and_entropy(self, feats, actions, params=None):
        return self.log_prob(feats, actions, params), self.entropy(feats)


def make_policy(spec: Any, n_features: int, streams: Any, device: str | torch.device = "cpu",
                std: float = 0.1) -> LinearPolicy:
    """The policy of `spec` (softmax if `spec.n_actions`, else Gaussian on the action bounds),
    initialised from each agent's `init` stream (draw after the features' draws)."""
    gens = streams["init"]
    if spec.n_actions is not None:
        return SoftmaxPolicy.init(gens, n_features, spec.n_actions, device)
    return GaussianPolicy.init(gens, n_features, spec.action_dim, spec.action_low,
                               spec.action_high, std, device)


__all__ = ["LinearHead", "LinearPolicy", "SoftmaxPolicy", "GaussianPolicy", "make_policy"]
