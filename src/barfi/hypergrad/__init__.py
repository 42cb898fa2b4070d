"""Batched implicit and unrolled hypergradients (pure linear algebra, no RL).

See `barfi.hypergrad.solvers` for the conventions: batched vectors with a leading agent
dimension, H = Hessian of a MAXIMISED objective, and every solver returning u ~= H^-1 v;
`barfi.hypergrad.unrolled` differentiates through N optimiser steps instead.
"""

from barfi.hypergrad.solvers import (
    HVP,
    SOLVERS,
    Vec,
    batch_dot,
    batch_norm,
    cg_inverse_hvp,
    clip_grad_norm_per_agent,
    dense_hessian,
    exact_inverse_hvp,
    hvp_fn,
    identity_inverse_hvp,
    implicit_hypergradient,
    neumann_inverse_hvp,
)
from barfi.hypergrad.unrolled import OptimizerStep, unroll_inner, unrolled_hypergradient

__all__ = [
    "HVP", "OptimizerStep", "SOLVERS", "Vec", "batch_dot", "batch_norm", "cg_inverse_hvp",
    "clip_grad_norm_per_agent", "dense_hessian", "exact_inverse_hvp", "hvp_fn",
    "identity_inverse_hvp", "implicit_hypergradient", "neumann_inverse_hvp", "unroll_inner",
    "unrolled_hypergradient",
]
