"""RMSprop and Adam for batched parameters (leading agent dimension), bit-identical per agent.

Same algorithms and defaults as `torch.optim.RMSprop` / `torch.optim.Adam` with only `lr` set
(what the reference uses), written with separate elementwise operations only: no fused
multiply-add kernels (addcmul/addcdiv), whose vectorised body and scalar tail may round
differently, so every element's update is the same whatever the tensor's size and an agent gets
exactly the same numbers alone or inside a block.

They do not derive from `torch.optim.Optimizer`: its constructor imports torch._dynamo, about a
second of start-up for every training process. The interface the learners use is kept:
`zero_grad`, `step`, `state` (keyed by parameter tensor), `state_dict`, `load_state_dict`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch


class ElementwiseOptimizer:
    """Shared plumbing: parameters, per-parameter state, checkpoints."""

    def __init__(self, params: Sequence[torch.Tensor], **defaults: Any):
        self.params = list(params)
        self.defaults = defaults
        self.state: dict[torch.Tensor, dict[str, Any]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for p in self.params:
            if p.grad is not None:
                state = self.state.setdefault(p, {})
                state["step"] = int(state.get("step", 0)) + 1
                self._update(p, p.grad, state)

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {name: tensor or int}}, "defaults": {...}} (copies)."""
        state = {i: {k: v.detach().clone() if isinstance(v, torch.Tensor) else v
                     for k, v in self.state[p].items()}
                 for i, p in enumerate(self.params) if p in self.state}
        return {"state": state, "defaults": dict(self.defaults)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.state = {}
        for i, st in state_dict["state"].items():
            p = self.params[int(i)]
            self.state[p] = {k: v.detach().clone().to(p.device) if isinstance(v, torch.Tensor)
                             else v for k, v in st.items()}


class ElementwiseRMSprop(ElementwiseOptimizer):
    """RMSprop, torch's defaults (alpha 0.99, eps 1e-8, no momentum, not centered):
    v <- alpha v + (1 - alpha) g^2;  p <- p - lr g / (sqrt(v) + eps)."""

    def __init__(self, params, lr: float, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps)

    def _update(self, p, g, state):
        lr, alpha, eps = self.defaults["lr"], self.defaults["alpha"], self.defaults["eps"]
        if "square_avg" not in state:
            state["square_avg"] = torch.zeros_like(p)
        v = state["square_avg"]
        v.mul_(alpha).add_((g * g) * (1 - alpha))
        p.sub_((g / (v.sqrt() + eps)) * lr)


class ElementwiseAdam(ElementwiseOptimizer):
    """Adam, torch's defaults (betas (0.9, 0.999), eps 1e-8, no weight decay):
    m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^k) * m / (sqrt(v) / sqrt(1 - b2^k) + eps)."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        super().__init__(params, lr=lr, betas=betas, eps=eps)

    def _update(self, p, g, state):
        lr, (b1, b2), eps = self.defaults["lr"], self.defaults["betas"], self.defaults["eps"]
        if "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        k = float(state["step"])
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.mul_(b1).add_(g * (1 - b1))
        v.mul_(b2).add_((g * g) * (1 - b2))
        denom = v.sqrt() / math.sqrt(1 - b2 ** k) + eps
        p.sub_((m / denom) * (lr / (1 - b1 ** k)))


def make_optimizer(params: Sequence[torch.Tensor], name: str, lr: float) -> ElementwiseOptimizer:
    """`name` in {"rmsprop", "adam"} with torch's default settings."""
    if name == "rmsprop":
        return ElementwiseRMSprop(params, lr=lr)
    if name == "adam":
        return ElementwiseAdam(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; valid: rmsprop, adam")
