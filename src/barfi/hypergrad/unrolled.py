"""Path-wise ("unrolled") hypergradients: the gradient of the outer objective through N
differentiable optimiser steps on the inner objective (pure autograd, no RL).

    theta_0 = theta0 (detached: treated as independent of phi)
    theta_{k+1} = step(theta_k, clip(grad_theta J_inner(theta_k, k)))      k = 0..N-1
    dJ/dphi     = d/dphi [ J_outer(theta_N) + direct(phi) ]

`step` is either plain gradient ascent, theta + lr * g, or any differentiable optimiser step
that MINIMISES a loss (torch's convention; the loss here is -J_inner), such as
`barfi.learners.optim.RMSprop(lr).step_all` with the optimiser's states: the same update rule
the learners apply in place. For finite N the result is the exact gradient of the truncated
procedure; as N -> inf with a convergent step it tends to the implicit hypergradient at
theta*(phi) (`barfi.hypergrad.solvers.implicit_hypergradient`).

Batched vectors and signs as in `barfi.hypergrad.solvers`: every tensor has a leading agent
dimension B, objectives are sums of per-agent terms, J_inner and J_outer are maximised.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from barfi.hypergrad.solvers import (Vec, _from_list, _per_agent, _to_list,
                                     clip_grad_norm_per_agent)

Tensor = torch.Tensor
OptimizerStep = Callable[[list[Tensor], list[Tensor], Any], tuple[list[Tensor], Any]]
"""(theta, gradient of the loss -J_inner, state) -> (theta after one step, new state),
differentiable in theta and the gradient."""


def unroll_inner(inner_objective: Callable[[list[Tensor], int], Tensor], theta0: Vec,
                 steps: int, lr: float | Tensor | None = None, max_norm: float | None = None,
                 *, optimizer: OptimizerStep | None = None,
                 state: Any = None) -> tuple[list[Tensor], Any]:
    """N differentiable steps on the inner objective.

    inner_objective: callable(theta list, k) -> J_inner at step k = 0..N-1 (k lets each step
        use its own data), a scalar or (B,) per-agent objectives (summed here); it may depend
        on hyperparameters phi (captured in the closure) with a graph.
    lr: plain gradient ascent theta + lr * g, a float or a (B,) tensor (one per agent); or
    optimizer: a differentiable optimiser step (see `OptimizerStep`) starting from `state`.
    max_norm: optional per-agent gradient-norm clipping (`clip_grad_norm_per_agent`, scale
        treated as constant) before the step.

    Returns (theta_N as a list of tensors whose graph reaches phi through every step, the
    optimiser's final state, None for gradient ascent). Memory grows linearly with N."""
    if (lr is None) == (optimizer is None):
        raise ValueError("give exactly one of lr (gradient ascent) and optimizer")
    th, _ = _to_list(theta0)
    th = [t.detach().requires_grad_(True) for t in th]
    for k in range(steps):
        j = inner_objective(th, k)
        grads = torch.autograd.grad(j.sum(), th, create_graph=True, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(th, grads)]
        grads = clip_grad_norm_per_agent(grads, max_norm)
        if optimizer is None:
            th = [t + _per_agent(lr, t) * g for t, g in zip(th, grads)]
        else:
            th, state = optimizer(th, [-g for g in grads], state)
    return th, state


def unrolled_hypergradient(inner_objective: Callable[[list[Tensor], int], Tensor],
                           outer_objective: Callable[[list[Tensor]], Tensor], theta0: Vec,
                           hyperparams: Vec, steps: int, lr: float | Tensor | None = None,
                           max_norm: float | None = None, *,
                           optimizer: OptimizerStep | None = None, state: Any = None,
                           outer_direct: Tensor | None = None
                           ) -> tuple[Vec, list[Tensor], Any]:
    """Path-wise hypergradient d/dphi J_outer(theta_N(phi)), theta_N from `unroll_inner`
    (same inner arguments).

    outer_objective: callable(theta list) -> scalar or (B,) (summed).
    outer_direct: optional scalar depending on phi directly (e.g. -regulariser), added.
    Returns (dJ/dphi with the structure of hyperparams, zeros for tensors that receive no
    gradient; theta_N detached, as a list; the optimiser's final state, still carrying its
    graph: detach it before keeping it)."""
    hs, h_single = _to_list(hyperparams)
    th, state = unroll_inner(inner_objective, theta0, steps, lr, max_norm,
                             optimizer=optimizer, state=state)
    total = outer_objective(th).sum()
    if outer_direct is not None:
        total = total + outer_direct
    grads = torch.autograd.grad(total, hs, allow_unused=True)
    hyper = [torch.zeros_like(h) if g is None else g for h, g in zip(hs, grads)]
    return _from_list(hyper, h_single), [t.detach() for t in th], state


__all__ = ["OptimizerStep", "unroll_inner", "unrolled_hypergradient"]
