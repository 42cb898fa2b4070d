"""Batched inverse-Hessian-vector products and hypergradients for bi-level optimisation.

This module is pure linear algebra on top of torch autograd: it knows nothing about
reinforcement learning. It computes, for B independent problems at once,

    theta*(phi) = argmax_theta J_inner(theta, phi)                      (inner problem)
    dJ/dphi     = d/dphi J_outer(theta*(phi))                           (hypergradient)
                = - (d2 J_inner / dphi dtheta) H^-1 g  (+ direct term)  (implicit function thm)

with H = d2 J_inner / dtheta2 at theta*, g = dJ_outer / dtheta. The path-wise ("unrolled")
alternative, which differentiates through N optimiser steps, is `barfi.hypergrad.unrolled`.

Batched vectors
---------------
Every "vector" here is either one tensor whose leading dimension B indexes independent
problems (agents, seeds), or a list/tuple of such tensors (a parameter "pytree", e.g.
``[W (B, F, A), b (B, A)]``); agent i's vector is the concatenation of the i-th slices of all
tensors. Inner products and norms reduce over every dimension except the batch dimension,
so they return shape (B,) and agents never mix. Functions return the same structure they
receive (a tensor for a tensor, a list for a list or tuple).

Why one Hessian-vector product serves all agents: the caller's objective is the SUM over
agents of per-agent objectives, and agent i's parameters enter only agent i's term. The
Hessian of the sum is therefore block-diagonal with agent i's own Hessian as block i, and a
single double-backward HVP of the summed objective returns every agent's own H_i v_i.

Sign conventions (read this once)
---------------------------------
* The inner objective is MAXIMISED. Near its maximum the Hessian H = d2 J_inner/dtheta2 is
  negative definite. ``hvp(v)`` always means ``H v`` with this H (no sign flip).
* Every inverse solver returns ``u ~= H^-1 v``, the same quantity, so the solvers are
  interchangeable. For negative-definite H, u points roughly along -v (e.g. the first-order
  approximation H^-1 ~ -I gives u = -v).
* ``neumann_inverse_hvp`` is the paper's series (Lorraine et al. 2019 with the typos fixed):
  v_0 = p = v;  v_j = v_{j-1} + alpha H v_{j-1} (= (I + alpha H)^j v);  p += v_j  (j=1..K);
  returns -alpha p.  Since sum_j (I + alpha H)^j = (-alpha H)^-1, -alpha p -> H^-1 v as
  K -> inf, provided rho = max_i |1 + alpha lambda_i(H)| < 1, i.e. H negative definite and
  alpha < 2 / |lambda_min(H)|. The error after K terms is -(I + alpha H)^(K+1) H^-1 v, so
  ||error_K|| <= rho^(K+1) ||H^-1 v||. K = 0 returns -alpha v (a scaled first-order step).
* ``cg_inverse_hvp`` runs conjugate gradient on the positive-definite system
  (-H + damping I) x = v and returns u = -x (= H^-1 v when damping = 0).
* ``implicit_hypergradient`` returns the ASCENT direction dJ_outer/dphi
  = -(d2 J_inner/dphi dtheta) u with u = H^-1 g, plus the gradient of an optional direct
  term (e.g. minus a regulariser on phi) that the caller passes in.
* If you have a MINIMISATION Hessian (positive definite, loss L = -J), pass
  ``lambda v: [-x for x in hvp_L(v)]`` to stay within these conventions.

Functions
---------
batch_dot, batch_norm, clip_grad_norm_per_agent   per-agent reductions and clipping
hvp_fn(objective_or_grads, params)                 H v by double backward
neumann_inverse_hvp(hvp, v, alpha, terms)          paper's Neumann series for H^-1 v
cg_inverse_hvp(hvp, v, iters, damping, tol)        conjugate gradient for H^-1 v
dense_hessian(hvp, like), exact_inverse_hvp(...)   dense per-agent H (B, D, D) and solve
identity_inverse_hvp(hvp, v)                       first-order H^-1 ~ -I (returns -v)
implicit_hypergradient(inner, theta, phi, g, ...)  IFT hypergradient with any solver above
"""

from __future__ import annotations

from typing import Callable, Sequence, Union

import torch

Tensor = torch.Tensor
Vec = Union[Tensor, Sequence[Tensor]]
"""A batched vector: a tensor (B, ...) or a list/tuple of tensors each (B, ...)."""
HVP = Callable[[Vec], Vec]
"""A callable v -> H v on batched vectors of one fixed structure."""

__all__ = [
    "Vec", "HVP", "batch_dot", "batch_norm", "clip_grad_norm_per_agent", "hvp_fn",
    "neumann_inverse_hvp", "cg_inverse_hvp", "dense_hessian", "exact_inverse_hvp",
    "identity_inverse_hvp", "implicit_hypergradient", "SOLVERS",
]


# --------------------------------------------------------------------------------------------
# Pytree plumbing: a vector is a tensor or a list/tuple of tensors with a leading batch dim.
# --------------------------------------------------------------------------------------------
def _to_list(v: Vec) -> tuple[list[Tensor], bool]:
    """(list of tensors, whether the input was a single tensor)."""
    if isinstance(v, Tensor):
        return [v], True
    return list(v), False


def _from_list(xs: list[Tensor], single: bool) -> Vec:
    return xs[0] if single else xs


def _per_agent(s: Tensor | float, like: Tensor) -> Tensor | float:
    """Reshape a (B,) tensor to broadcast against `like` (B, ...); floats pass through."""
    if isinstance(s, Tensor) and s.dim() > 0:
        return s.reshape((-1,) + (1,) * (like.dim() - 1))
    return s


def batch_dot(a: Vec, b: Vec) -> Tensor:
    """Per-agent inner product <a_i, b_i>: sum over all non-batch dims of all tensors -> (B,)."""
    xs, _ = _to_list(a)
    ys, _ = _to_list(b)
    return sum((x * y).reshape(x.shape[0], -1).sum(1) for x, y in zip(xs, ys))


def batch_norm(a: Vec) -> Tensor:
    """Per-agent Euclidean norm over all tensors of the vector -> (B,)."""
    return batch_dot(a, a).sqrt()


def clip_grad_norm_per_agent(grads: Vec, max_norm: float | None) -> Vec:
    """Scale each agent's vector so that its norm (over all tensors) is at most `max_norm`.

    The scale min(1, max_norm / ||g_i||) is computed without a graph (as
    torch.nn.utils.clip_grad_norm_ treats it): gradients flow through g, not through the
    scale. `max_norm` None or <= 0 disables clipping."""
    xs, single = _to_list(grads)
    if max_norm is None or max_norm <= 0:
        return _from_list(xs, single)
    with torch.no_grad():
        scale = torch.clamp(max_norm / (batch_norm(xs) + 1e-12), max=1.0)
    return _from_list([x * _per_agent(scale, x) for x in xs], single)


# --------------------------------------------------------------------------------------------
# Hessian-vector products
# --------------------------------------------------------------------------------------------
def hvp_fn(objective_or_grads: Tensor | Sequence[Tensor], params: Vec,
           create_graph: bool = False) -> HVP:
    """Return the callable v -> H v, H = d2 J / dparams2, by double backward.

    objective_or_grads: either the scalar objective J (the SUM over agents of per-agent
        objectives; its gradient is then taken here with create_graph=True), or the gradient
        dJ/dparams already computed with ``torch.autograd.grad(J, params, create_graph=True)``
        (same structure as params). Pass the gradient when you also need it elsewhere (e.g.
        for the mixed derivative in `implicit_hypergradient`), so that one graph serves both.
    params: the tensors (B, ...) differentiated against, single tensor or list.
    create_graph: keep a graph through the HVP outputs (only for higher-order derivatives).

    The returned hvp takes and returns vectors with the structure of `params`. Because J is
    a sum of per-agent terms, H is block-diagonal and hvp(v)_i = H_i v_i for every agent.
    Parameters on which the gradient does not depend give zero rows. The graph is retained,
    so hvp can be called many times."""
    ps, single = _to_list(params)
    if isinstance(objective_or_grads, Tensor) and objective_or_grads.dim() == 0:
        grads = list(torch.autograd.grad(objective_or_grads, ps, create_graph=True,
                                         allow_unused=True))
    else:
        grads, _ = _to_list(objective_or_grads)
    if len(grads) != len(ps):
        raise ValueError(f"{len(grads)} gradients for {len(ps)} parameter tensors")
    # Gradients that are None or carry no graph (objective linear/constant in them) add
    # nothing to H v; torch.autograd.grad refuses them as outputs, so leave them out.
    live = [i for i, gr in enumerate(grads) if gr is not None and gr.requires_grad]

    def hvp(v: Vec) -> Vec:
        vs, _ = _to_list(v)
        if not live:
            return _from_list([torch.zeros_like(p) for p in ps], single)
        out = torch.autograd.grad([grads[i] for i in live], ps,
                                  grad_outputs=[vs[i] for i in live],
                                  retain_graph=True, create_graph=create_graph,
                                  allow_unused=True)
        return _from_list([torch.zeros_like(p) if o is None else o for p, o in zip(ps, out)],
                          single)

    return hvp


# --------------------------------------------------------------------------------------------
# Inverse-Hessian-vector products: all return u ~= H^-1 v (H negative definite)
# --------------------------------------------------------------------------------------------
def neumann_inverse_hvp(hvp: HVP, v: Vec, alpha: float | Tensor, terms: int) -> Vec:
    """The paper's truncated Neumann series for u ~= H^-1 v (H = Hessian of a MAXIMISED J).

        v_0 = p = v;   for j = 1..K:  v_j = v_{j-1} + alpha * H v_{j-1};  p = p + v_j
        return -alpha * p

    hvp: v -> H v (see `hvp_fn`); v: batched vector (B, ...) or list of them;
    alpha: step size, a float or a (B,) tensor (one per agent); terms: K >= 0.

    Converges when rho = max |1 + alpha * lambda(H)| < 1 (H negative definite, alpha <
    2 / |lambda_min(H)|); then ||u_K - H^-1 v|| <= rho^(K+1) ||H^-1 v|| per agent. K = 0 gives
    -alpha * v. The result carries no graph (each H v is computed without create_graph
    unless `hvp` was built with it). Cost: K Hessian-vector products."""
    if terms < 0:
        raise ValueError("terms must be >= 0")
    vs, single = _to_list(v)
    cur = [x.detach().clone() for x in vs]
    acc = [x.clone() for x in cur]
    for _ in range(terms):
        hv, _ = _to_list(hvp(_from_list(cur, single)))
        cur = [c + _per_agent(alpha, c) * h.detach() for c, h in zip(cur, hv)]
        acc = [a + c for a, c in zip(acc, cur)]
    return _from_list([-_per_agent(alpha, a) * a for a in acc], single)


def cg_inverse_hvp(hvp: HVP, v: Vec, iters: int = 20, damping: float = 0.0,
                   tol: float = 1e-10) -> Vec:
    """Conjugate gradient for u ~= H^-1 v (H = Hessian of a MAXIMISED J, negative definite).

    Solves the positive-definite system (-H + damping * I) x = v for every agent
    independently and returns u = -x, so the result is interchangeable with
    `neumann_inverse_hvp` (equal to H^-1 v when damping = 0 and CG has converged).

    Per-agent CG: step sizes and conjugation coefficients use per-agent inner products (B,),
    so agents with different spectra do not interact. An agent stops (its x frozen) once its
    residual norm is <= tol * ||v_i||; the loop ends when all agents have stopped or after
    `iters` iterations (in exact arithmetic CG converges in at most D iterations, D = number
    of parameters per agent). damping > 0 regularises an ill-conditioned or indefinite H
    (the solve is then biased toward -v / damping in the flat directions).
    Cost: one Hessian-vector product per iteration."""
    vs, single = _to_list(v)
    b = [x.detach() for x in vs]

    def apply(xs: list[Tensor]) -> list[Tensor]:  # (-H + damping I) x
        hx, _ = _to_list(hvp(_from_list(xs, single)))
        return [damping * x - h.detach() for x, h in zip(xs, hx)]

    x = [torch.zeros_like(t) for t in b]
    r = [t.clone() for t in b]          # residual b - A x with x = 0
    d = [t.clone() for t in r]          # search direction
    rs = batch_dot(r, r)                # (B,)
    threshold = (tol * batch_norm(b)) ** 2
    active = rs > threshold
    for _ in range(iters):
        if not bool(active.any()):
            break
        ad = apply(d)
        dad = batch_dot(d, ad)
        safe = torch.where(active, dad, torch.ones_like(dad))
        step = torch.where(active, rs / safe, torch.zeros_like(rs))
        x = [xi + _per_agent(step, xi) * di for xi, di in zip(x, d)]
        r = [ri - _per_agent(step, ri) * ai for ri, ai in zip(r, ad)]
        rs_new = batch_dot(r, r)
        safe_rs = torch.where(active, rs, torch.ones_like(rs))
        beta = torch.where(active, rs_new / safe_rs, torch.zeros_like(rs))
        d = [ri + _per_agent(beta, di) * di for ri, di in zip(r, d)]
        rs = torch.where(active, rs_new, rs)
        active = active & (rs > threshold)
    return _from_list([-xi for xi in x], single)


def _flatten(xs: list[Tensor]) -> Tensor:
    """List of (B, ...) tensors -> (B, D)."""
    return torch.cat([x.reshape(x.shape[0], -1) for x in xs], dim=1)


def _unflatten(flat: Tensor, like: list[Tensor]) -> list[Tensor]:
    """(B, D) -> list of tensors shaped like `like`."""
    out, start = [], 0
    for t in like:
        n = t[0].numel()
        out.append(flat[:, start:start + n].reshape(t.shape))
        start += n
    return out


def dense_hessian(hvp: HVP, like: Vec) -> Tensor:
    """Every agent's dense Hessian block, (B, D, D), D = parameters per agent.

    Built column by column with D Hessian-vector products on unit vectors (each product
    gives column j for all agents at once). `like` fixes the vector structure (e.g. params).
    Meant for small problems and tests: O(D) HVPs and O(B D^2) memory."""
    ls, single = _to_list(like)
    B = ls[0].shape[0]
    D = sum(t[0].numel() for t in ls)
    eye = torch.eye(D, dtype=ls[0].dtype, device=ls[0].device)
    cols = []
    for j in range(D):
        e = _unflatten(eye[j].expand(B, D), ls)
        cols.append(_flatten(_to_list(hvp(_from_list(e, single)))[0]).detach())
    return torch.stack(cols, dim=2)


def exact_inverse_hvp(hvp: HVP, v: Vec, damping: float = 0.0) -> Vec:
    """u = (H - damping I)^-1 v by a dense per-agent solve (reference / small problems).

    With damping = 0 this is exactly H^-1 v; with damping > 0 it equals what
    `cg_inverse_hvp` converges to: -(-H + damping I)^-1 v. Cost: D HVPs + a (B, D, D) solve."""
    vs, single = _to_list(v)
    H = dense_hessian(hvp, v)
    if damping:
        H = H - damping * torch.eye(H.shape[-1], dtype=H.dtype, device=H.device)
    u = torch.linalg.solve(H, _flatten([x.detach() for x in vs]).unsqueeze(-1)).squeeze(-1)
    return _from_list(_unflatten(u, vs), single)


def identity_inverse_hvp(hvp: HVP, v: Vec) -> Vec:
    """First-order approximation H^-1 ~ -I: returns -v (no HVP). Compare the Neumann series
    with terms=0, which returns -alpha v (the same direction scaled by alpha)."""
    vs, single = _to_list(v)
    return _from_list([-x.detach() for x in vs], single)


SOLVERS: dict[str, Callable[..., Vec]] = {
    "neumann": neumann_inverse_hvp,
    "cg": cg_inverse_hvp,
    "exact": exact_inverse_hvp,
    "identity": identity_inverse_hvp,
}
"""Solver names accepted by `implicit_hypergradient`; each is (hvp, v, **options) -> H^-1 v."""


# --------------------------------------------------------------------------------------------
# Hypergradients
# --------------------------------------------------------------------------------------------
def implicit_hypergradient(inner: Tensor | Sequence[Tensor], theta: Vec, hyperparams: Vec,
                           outer_grad: Vec, solver: str | Callable[..., Vec] = "neumann", *,
                           outer_direct: Tensor | None = None, **solver_options) -> Vec:
    """Implicit-function-theorem hypergradient dJ_outer/dphi (an ASCENT direction).

        dJ/dphi = - (d2 J_inner / dphi dtheta) H^-1 g  +  d(outer_direct)/dphi

    with H = d2 J_inner/dtheta2 (negative definite at the inner maximum) and
    g = dJ_outer/dtheta, both evaluated at theta ~= theta*(phi).

    inner: the scalar inner objective J_inner (SUM over agents) as a function of theta and
        phi, or its gradient dJ_inner/dtheta computed with create_graph=True (same structure
        as theta) -- the graph must reach both theta and phi.
    theta: inner parameters (B, ...) or list; hyperparams: phi (B, ...) or list.
    outer_grad: g = dJ_outer/dtheta, structure of theta (no graph needed; it is detached).
    solver: "neumann" (options alpha, terms), "cg" (iters, damping, tol), "exact"
        (damping), "identity" (first order, H^-1 ~ -I), or a callable (hvp, v, **options)
        returning ~ H^-1 v.
    outer_direct: optional scalar (summed over agents) part of the outer objective that
        depends on phi directly, e.g. ``-lambda * reg(phi)``; its gradient is added.
        Without it the result is only the implicit (through-theta) part.

    Returns dJ/dphi with the structure of `hyperparams` (zeros for tensors that receive no
    gradient). The mixed term is one vector-Jacobian product: grad of <dJ_inner/dtheta, u>
    with respect to phi, u = H^-1 g held constant. Agents stay independent because every
    objective is a sum of per-agent terms."""
    ts, _ = _to_list(theta)
    hs, h_single = _to_list(hyperparams)
    if isinstance(inner, Tensor) and inner.dim() == 0:
        inner_grads = list(torch.autograd.grad(inner, ts, create_graph=True))
    else:
        inner_grads, _ = _to_list(inner)
    solve = SOLVERS[solver] if isinstance(solver, str) else solver
    u, _ = _to_list(solve(hvp_fn(inner_grads, ts), _from_list(_to_list(outer_grad)[0], False),
                          **solver_options))
    cross = batch_dot(inner_grads, [x.detach() for x in u]).sum()
    total = -cross if outer_direct is None else outer_direct - cross
    grads = torch.autograd.grad(total, hs, retain_graph=True, allow_unused=True)
    return _from_list([torch.zeros_like(h) if g is None else g for h, g in zip(hs, grads)],
                      h_single)
