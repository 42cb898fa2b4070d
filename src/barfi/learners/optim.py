"""RMSprop and Adam: one update rule each, used both in place and differentiably.

`RMSprop.step` / `Adam.step` are pure functions (param, gradient of the loss, state) -> (new
param, new state): no in-place operation, so autograd can run through them. The learners'
optimisers (`make_optimizer`) apply them in place under `no_grad`; BARFI's unrolled
hypergradient applies the same `step_all` with a graph through every step (as torchopt builds
its in-place and functional optimisers from one update rule).

Same algorithms and defaults as `torch.optim.RMSprop` / `torch.optim.Adam` with only `lr` set
(what the reference uses), written with separate elementwise operations only: no fused
multiply-add kernels (addcmul/addcdiv), whose vectorised body and scalar tail may round
differently, so every element's update is the same whatever the tensor's size and an agent gets
exactly the same numbers alone or inside a block.

The optimiser does not derive from `torch.optim.Optimizer`: its constructor imports
torch._dynamo, about a second of start-up for every training process. The interface the
learners use is kept: `zero_grad`, `step`, `state` (keyed by parameter tensor), `state_dict`,
`load_state_dict`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np
import torch

State = dict[str, Any]
"""One tensor's optimiser state: {"step": int, ...the rule's running averages}; {} before the
first step."""


def _sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt(v) for v >= 0 with a finite derivative at 0 (where sqrt' is infinite): parameters
    whose gradient has always been 0 keep v = 0, and inf * 0 would poison the unrolled graph.
    The values are exactly torch.sqrt's (NaN included)."""
    zero = v == 0
    return torch.where(zero, torch.zeros_like(v),
                       torch.sqrt(torch.where(zero, torch.ones_like(v), v)))


LearningRate = Union[float, tuple[float, ...]]
"""One learning rate, or one per agent (a tuple of B floats: the leading dim of every tensor)."""


def _per_agent(value: LearningRate, p: torch.Tensor):
    """A float stays a float; per-agent values (float64, derived in float64 as python floats
    are) become a tensor of p's dtype, shape (B, 1, ..., 1): multiplying by it rounds each
    agent's elements exactly as multiplying by that agent's float."""
    if isinstance(value, (int, float)):
        return value
    t = value if isinstance(value, torch.Tensor) else \
        torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=p.dtype, device=p.device)
    return t.reshape((-1,) + (1,) * (p.dim() - 1)) if t.dim() > 0 else t


class UpdateRule:
    """An optimiser's update rule with its settings (a frozen dataclass in each subclass)."""

    def step(self, p: torch.Tensor, g: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """(param, gradient of the loss, state) -> (param after one step, new state)."""
        raise NotImplementedError

    def step_all(self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor],
                 states: Sequence[State]) -> tuple[list[torch.Tensor], list[State]]:
        """`step` on every tensor of a list (the functional form of one optimiser step)."""
        out = [self.step(p, g, s) for p, g, s in zip(params, grads, states)]
        return [p for p, _ in out], [s for _, s in out]


@dataclass(frozen=True)
class RMSprop(UpdateRule):
    """RMSprop, torch's defaults (no momentum, not centered):
    v <- alpha v + (1 - alpha) g^2;  p <- p - lr g / (sqrt(v) + eps)."""

    lr: LearningRate
    """learning rate (or one per agent)"""
    alpha: float = 0.99
    """decay of the running average of squared gradients"""
    eps: float = 1e-8
    """added to the denominator"""

    def step(self, p, g, state):
        v = state["square_avg"] if "square_avg" in state else torch.zeros_like(p)
        v = v * self.alpha + (g * g) * (1 - self.alpha)
        new_p = p - (g / (_sqrt(v) + self.eps)) * _per_agent(self.lr, p)
        return new_p, {"step": int(state.get("step", 0)) + 1, "square_avg": v}


@dataclass(frozen=True)
class Adam(UpdateRule):
    """Adam, torch's defaults (no weight decay, no amsgrad), k the step count from 1:
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^k) * m / (sqrt(v) / sqrt(1 - b2^k) + eps)."""

    lr: LearningRate
    """learning rate (or one per agent)"""
    betas: tuple[float, float] = (0.9, 0.999)
    """decays (b1, b2) of the running averages of the gradient and its square"""
    eps: float = 1e-8
    """added to the denominator"""

    def step(self, p, g, state):
        b1, b2 = self.betas
        k = int(state.get("step", 0)) + 1
        m = state["exp_avg"] if "exp_avg" in state else torch.zeros_like(p)
        v = state["exp_avg_sq"] if "exp_avg_sq" in state else torch.zeros_like(p)
        m = m * b1 + g * (1 - b1)
        v = v * b2 + (g * g) * (1 - b2)
        denom = _sqrt(v) / math.sqrt(1 - b2 ** float(k)) + self.eps
        step_size = self.lr / (1 - b1 ** float(k)) if not isinstance(self.lr, tuple) else \
            tuple(np.asarray(self.lr) / (1 - b1 ** float(k)))
        new_p = p - (m / denom) * _per_agent(step_size, p)
        return new_p, {"step": k, "exp_avg": m, "exp_avg_sq": v}


RULES = {"rmsprop": RMSprop, "adam": Adam}


class ElementwiseOptimizer:
    """An update rule applied in place to a list of parameters, with per-parameter state."""

    def __init__(self, params: Sequence[torch.Tensor], rule: UpdateRule):
        self.params = list(params)
        self.rule = rule
        self.state: dict[torch.Tensor, State] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for p in self.params:
            if p.grad is not None:
                new_p, self.state[p] = self.rule.step(p, p.grad, self.state.get(p, {}))
                p.copy_(new_p)

    def states(self) -> list[State]:
        """Every parameter's state, detached, in parameter order: where a differentiable
        unroll of `rule.step_all` starts."""
        return [{k: v.detach() if isinstance(v, torch.Tensor) else v
                 for k, v in self.state.get(p, {}).items()} for p in self.params]

    def load_states(self, states: Sequence[State]) -> None:
        """Continue from the states an unroll ended with (detached copies)."""
        for p, st in zip(self.params, states):
            self.state[p] = {k: v.detach().clone() if isinstance(v, torch.Tensor) else v
                             for k, v in st.items()}

    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {name: tensor or int}}, "defaults": {...}} (copies)."""
        state = {i: {k: v.detach().clone() if isinstance(v, torch.Tensor) else v
                     for k, v in self.state[p].items()}
                 for i, p in enumerate(self.params) if p in self.state}
        return {"state": state, "defaults": dataclasses.asdict(self.rule)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.state = {}
        for i, st in state_dict["state"].items():
            p = self.params[int(i)]
            self.state[p] = {k: v.detach().clone().to(p.device) if isinstance(v, torch.Tensor)
                             else v for k, v in st.items()}


def make_optimizer(params: Sequence[torch.Tensor], name: str, lr) -> ElementwiseOptimizer:
    """`name` in {"rmsprop", "adam"} with torch's default settings. `lr`: a float, or one per
    agent (a sequence or (B,) array of floats, B the leading dim of every parameter)."""
    if name not in RULES:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(RULES)}")
    lr = float(lr) if np.ndim(lr) == 0 else tuple(float(x) for x in np.asarray(lr).ravel())
    return ElementwiseOptimizer(params, RULES[name](lr=lr))
