"""Solvers of barfi.hypergrad against dense linear algebra (float64).

Setting: B = 3 independent problems of dimension D = 10. Agent b has a negative-definite
"Hessian" H_b = -A_b, A_b = Q_b diag(lambda_b) Q_b^T with a KNOWN spectrum (an isolated
smallest eigenvalue, the rest spread up to lambda_max), and very different scales across
agents (so any mixing of agents through shared step sizes would show). Vectors are used
both as one tensor (B, D) and as a pytree [(B, 4), (B, 2, 3)].

Checked: the Neumann series converges to torch.linalg.solve(H, v) at the predicted
geometric rate rho = max |1 - alpha lambda| (bound and measured ratio), terms = 0 gives
-alpha v, it diverges for alpha beyond 2 / lambda_max; CG matches the dense solve (also with
damping) and stops per agent; every solver is batch independent; the HVP helper equals
exact Hessians times v; the implicit and unrolled hypergradients match closed forms on
quadratic bi-level problems.
"""

from __future__ import annotations

import math

import pytest
import torch

from barfi.hypergrad import (
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
    unroll_inner,
    unrolled_hypergradient,
)

DT = torch.float64
D = 10
SPECTRA = [(0.5, 5.0), (2.0, 20.0), (100.0, 1000.0)]   # (lambda_min, lambda_max) per agent




def spd_batch(spectra=SPECTRA, seed=0):
    """A (B, D, D) SPD with eigenvalues: lambda_min isolated, the others geometric in
    [2 lambda_min, lambda_max]. Returns (A, eigenvalues (B, D))."""
    g = torch.Generator().manual_seed(seed)
    mats, eigs = [], []
    for lo, hi in spectra:
        q, _ = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=DT))
        lam = torch.cat([torch.tensor([lo], dtype=DT),
                         torch.logspace(math.log10(2 * lo), math.log10(hi), D - 1, dtype=DT)])
        mats.append(q @ torch.diag(lam) @ q.T)
        eigs.append(lam)
    return torch.stack(mats), torch.stack(eigs)


def split(x):
    """(B, D) -> pytree [(B, 4), (B, 2, 3)]."""
    return [x[:, :4].clone(), x[:, 4:].reshape(-1, 2, 3).clone()]


def join(xs):
    return torch.cat([xs[0], xs[1].reshape(xs[1].shape[0], -1)], dim=1)


def make_hvp(H, tree=False):
    """v -> H v for a batched dense H (B, D, D), on tensors or pytrees."""
    def hvp(v):
        if tree:
            return split(torch.einsum("bij,bj->bi", H, join(v)))
        return torch.einsum("bij,bj->bi", H, v)
    return hvp


def rhs(seed=1):
    return torch.randn(len(SPECTRA), D, generator=torch.Generator().manual_seed(seed), dtype=DT)


def exact(H, v):
    return torch.linalg.solve(H, v.unsqueeze(-1)).squeeze(-1)


# ------------------------------------------------------------------------------------------
# Neumann series
# ------------------------------------------------------------------------------------------
def test_neumann_terms_zero_is_minus_alpha_v():
    A, _ = spd_batch()
    v = rhs()
    out = neumann_inverse_hvp(make_hvp(-A), v, alpha=0.3, terms=0)
    torch.testing.assert_close(out, -0.3 * v, rtol=0, atol=0)
    # the first-order approximation H^-1 ~ -I
    torch.testing.assert_close(identity_inverse_hvp(make_hvp(-A), v), -v)


def test_neumann_one_term_by_hand():
    A, _ = spd_batch()
    H, v, a = -A, rhs(), 0.01
    hv = torch.einsum("bij,bj->bi", H, v)
    expected = -a * (v + (v + a * hv))
    torch.testing.assert_close(neumann_inverse_hvp(make_hvp(H), v, a, 1), expected)


@pytest.mark.parametrize("c", [1.0, 1.9])
def test_neumann_geometric_rate(c):
    """alpha_b = c / lambda_max_b (per-agent alpha). c = 1: rho = 1 - lambda_min/lambda_max =
    0.9 (smallest eigenvalue dominates); c = 1.9: rho = |1 - 1.9| = 0.9 from the largest
    eigenvalue (error alternates in sign; the smallest gives 1 - 0.19 = 0.81). Error_K = -(I + alpha H)^(K+1) H^-1 v exactly, so
    ||error_K|| <= rho^(K+1) ||H^-1 v|| and the ratio of successive errors tends to rho."""
    A, lam = spd_batch()
    H, v = -A, rhs()
    alpha = c / lam.max(dim=1).values                              # (B,)
    rho = (1 - alpha[:, None] * lam).abs().max(dim=1).values       # (B,)
    ref = exact(H, v)
    hvp = make_hvp(H)
    ks = list(range(0, 161, 10)) + [161]
    errs = {k: (neumann_inverse_hvp(hvp, v, alpha, k) - ref).norm(dim=1) for k in ks}
    scale = ref.norm(dim=1)
    for k in ks:
        assert torch.all(errs[k] <= rho ** (k + 1) * scale * (1 + 1e-9) + 1e-14), k
    for k0, k1 in zip(ks[:-2], ks[1:-1]):
        assert torch.all(errs[k1] < errs[k0])
    ratio = errs[161] / errs[160]
    torch.testing.assert_close(ratio, rho, rtol=1e-4, atol=0)
    # approaches the dense solve: relative error < 1e-6 after 160 terms (0.9^161 ~ 4e-8)
    assert torch.all(errs[160] / scale < 1e-6)


def test_neumann_scalar_alpha_and_pytree():
    A, lam = spd_batch()
    v = rhs()
    alpha = 0.9 / lam.max()                     # one alpha for all agents: slow for small ones
    rho = (1 - alpha * lam).abs().max(dim=1).values
    out_t = neumann_inverse_hvp(make_hvp(-A), v, float(alpha), 50)
    out_p = neumann_inverse_hvp(make_hvp(-A, tree=True), split(v), float(alpha), 50)
    assert isinstance(out_p, list) and out_p[1].shape == (3, 2, 3)
    torch.testing.assert_close(join(out_p), out_t, rtol=1e-13, atol=1e-15)
    err = (out_t - exact(-A, v)).norm(dim=1)
    assert torch.all(err <= rho ** 51 * exact(-A, v).norm(dim=1) * (1 + 1e-9))


def test_neumann_diverges_when_alpha_too_large():
    A, lam = spd_batch()
    v = rhs()
    alpha = 2.2 / lam.max(dim=1).values          # |1 - 2.2| = 1.2 > 1
    e20 = (neumann_inverse_hvp(make_hvp(-A), v, alpha, 20) - exact(-A, v)).norm(dim=1)
    e40 = (neumann_inverse_hvp(make_hvp(-A), v, alpha, 40) - exact(-A, v)).norm(dim=1)
    assert torch.all(e40 > 10 * e20)


# ------------------------------------------------------------------------------------------
# Conjugate gradient and the dense solver
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tree", [False, True])
def test_cg_matches_dense_solve(tree):
    A, _ = spd_batch()
    v = rhs()
    ref = exact(-A, v)
    out = cg_inverse_hvp(make_hvp(-A, tree), split(v) if tree else v, iters=3 * D, tol=1e-14)
    out = join(out) if tree else out
    rel = (out - ref).norm(dim=1) / ref.norm(dim=1)
    assert torch.all(rel < 1e-6), rel
    # sign convention: u = H^-1 v with H negative definite -> <u, v> < 0
    assert torch.all(batch_dot(out, v) < 0)


def test_cg_damping():
    A, _ = spd_batch()
    v, damping = rhs(), 0.7
    ref = -exact(A + damping * torch.eye(D, dtype=DT), v)
    out = cg_inverse_hvp(make_hvp(-A), v, iters=3 * D, damping=damping, tol=1e-14)
    torch.testing.assert_close(out, ref, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(exact_inverse_hvp(make_hvp(-A), v, damping=damping), ref)


def test_cg_agents_stop_independently():
    """An agent whose system is a multiple of I converges in one iteration; later
    iterations must leave it untouched (no 0/0) while the others keep going."""
    A, _ = spd_batch()
    A = A.clone()
    A[1] = 3.0 * torch.eye(D, dtype=DT)
    v = rhs()
    out = cg_inverse_hvp(make_hvp(-A), v, iters=3 * D, tol=1e-14)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, exact(-A, v), rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(out[1], -v[1] / 3.0, rtol=1e-14, atol=0)


def test_cg_zero_rhs_agent():
    A, _ = spd_batch()
    v = rhs()
    v[0] = 0.0
    out = cg_inverse_hvp(make_hvp(-A), v, iters=3 * D, tol=1e-14)
    assert torch.isfinite(out).all() and torch.all(out[0] == 0)
    torch.testing.assert_close(out[1:], exact(-A, v)[1:], rtol=1e-8, atol=1e-12)


def test_exact_solver_and_dense_hessian():
    A, _ = spd_batch()
    v = rhs()
    torch.testing.assert_close(dense_hessian(make_hvp(-A, True), split(v)), -A)
    torch.testing.assert_close(exact_inverse_hvp(make_hvp(-A), v), exact(-A, v))


@pytest.mark.parametrize("solver,kwargs", [
    (neumann_inverse_hvp, {"alpha": 1e-3, "terms": 30}),
    (cg_inverse_hvp, {"iters": 6, "tol": 1e-14}),          # truncated: not yet converged
    (cg_inverse_hvp, {"iters": 40, "tol": 1e-9}),
    (exact_inverse_hvp, {}),
])
def test_batch_independence(solver, kwargs):
    """Solving agent i alone gives row i of the batched solve (agents differ in scale by
    200x, so shared step sizes or a global stopping rule would break this)."""
    A, _ = spd_batch()
    v = rhs()
    batched = solver(make_hvp(-A), v, **kwargs)
    for i in range(A.shape[0]):
        alone = solver(make_hvp(-A[i:i + 1]), v[i:i + 1], **kwargs)
        torch.testing.assert_close(alone[0], batched[i], rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------------------------
# Hessian-vector products by double backward
# ------------------------------------------------------------------------------------------
def _agent_objective(W, c, X):
    """A non-quadratic per-agent objective of W (3, 2) and c (4,)."""
    z = X @ W.reshape(-1)                                   # (5,)
    return (torch.logsumexp(z, 0) + (c ** 3).sum() / 3 + torch.sin(W).sum() * c.sum()
            - 0.5 * (W ** 2).sum())


def test_hvp_fn_equals_exact_hessian_times_v():
    g = torch.Generator().manual_seed(3)
    B = 3
    X = torch.randn(B, 5, 6, generator=g, dtype=DT)
    W = torch.randn(B, 3, 2, generator=g, dtype=DT, requires_grad=True)
    c = torch.randn(B, 4, generator=g, dtype=DT, requires_grad=True)
    unused = torch.randn(B, 2, generator=g, dtype=DT, requires_grad=True)
    total = sum(_agent_objective(W[b], c[b], X[b]) for b in range(B))
    v = [torch.randn(B, 3, 2, generator=g, dtype=DT), torch.randn(B, 4, generator=g, dtype=DT),
         torch.randn(B, 2, generator=g, dtype=DT)]

    grads = torch.autograd.grad(total, [W, c, unused], create_graph=True, allow_unused=True)
    out_g = hvp_fn(grads, [W, c, unused])(v)
    out_o = hvp_fn(total, [W, c, unused])(v)
    for b in range(B):
        def flat_obj(x, b=b):
            return _agent_objective(x[:6].reshape(3, 2), x[6:], X[b])
        x = torch.cat([W[b].detach().reshape(-1), c[b].detach()])
        Hb = torch.autograd.functional.hessian(flat_obj, x)
        hv = Hb @ torch.cat([v[0][b].reshape(-1), v[1][b]])
        for out in (out_g, out_o):
            torch.testing.assert_close(torch.cat([out[0][b].reshape(-1), out[1][b]]), hv,
                                       rtol=1e-12, atol=1e-12)
    assert torch.all(out_g[2] == 0)                   # parameter the objective ignores
    # repeated calls reuse the retained graph
    torch.testing.assert_close(hvp_fn(grads, [W, c, unused])(v)[0], out_g[0])


def test_hvp_fn_single_tensor():
    g = torch.Generator().manual_seed(4)
    A, _ = spd_batch()
    x = torch.randn(3, D, generator=g, dtype=DT, requires_grad=True)
    J = -0.5 * torch.einsum("bi,bij,bj->", x, A, x) + (x ** 3).sum() / 6
    v = rhs()
    out = hvp_fn(J, x)(v)
    expected = -torch.einsum("bij,bj->bi", A, v) + x.detach() * v
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, expected)


# ------------------------------------------------------------------------------------------
# Hypergradients on quadratic bi-level problems (closed forms)
# ------------------------------------------------------------------------------------------
def _quadratic_problem(seed=5, P=4):
    """J_inner(theta, phi) = sum_b -1/2 theta_b^T A_b theta_b + theta_b^T C_b phi_b, so
    theta*(phi) = A^-1 C phi, H = -A, d2J/dphi dtheta = C^T."""
    g = torch.Generator().manual_seed(seed)
    A, _ = spd_batch(SPECTRA[:2], seed=seed)
    A = A / torch.linalg.eigvalsh(A)[:, -1:, None]        # lambda_max = 1 per agent
    C = torch.randn(2, D, P, generator=g, dtype=DT)
    phi = torch.randn(2, P, generator=g, dtype=DT, requires_grad=True)
    b = torch.randn(2, D, generator=g, dtype=DT)
    return A, C, phi, b


def _inner(A, C, phi):
    def J(th, k=0):
        th = th[0]
        return (-0.5 * torch.einsum("bi,bij,bj->b", th, A, th)
                + torch.einsum("bi,bip,bp->b", th, C, phi))
    return J


@pytest.mark.parametrize("solver,kwargs,rtol", [
    ("exact", {}, 1e-10),
    ("cg", {"iters": 50, "tol": 1e-13}, 1e-8),
    ("neumann", {"alpha": 1.0, "terms": 400}, 1e-6),
])
def test_implicit_hypergradient_quadratic(solver, kwargs, rtol):
    """Outer J(theta) = b^T theta + 1/4 ||theta||^4 at theta*: dJ/dphi = C^T A^-1 g."""
    A, C, phi, b = _quadratic_problem()
    theta = exact(A, torch.einsum("bip,bp->bi", C, phi.detach())).requires_grad_(True)
    outer = (torch.einsum("bi,bi->", b, theta) + 0.25 * (theta ** 2).sum(1).pow(2).sum())
    g = torch.autograd.grad(outer, theta)[0]
    unused = torch.zeros(2, 3, dtype=DT, requires_grad=True)
    J_inner = _inner(A, C, phi)([theta]).sum()
    hyper = implicit_hypergradient(J_inner, theta, [phi, unused], g, solver, **kwargs)
    expected = torch.einsum("bip,bi->bp", C, exact(A, g))
    torch.testing.assert_close(hyper[0], expected, rtol=rtol, atol=1e-12)
    assert torch.all(hyper[1] == 0)
    # first order: H^-1 ~ -I -> C^T g ; direct term added
    direct = -(phi ** 2).sum()
    first = implicit_hypergradient(torch.autograd.grad(J_inner, theta, create_graph=True),
                                   theta, phi, g, "identity", outer_direct=direct)
    torch.testing.assert_close(first, torch.einsum("bip,bi->bp", C, g) - 2 * phi.detach())


def test_unrolled_hypergradient_quadratic_closed_form():
    """theta_{k+1} = theta_k + lr (C phi - A theta_k) from a fixed theta_0, outer b^T theta:
    d/dphi b^T theta_N = C^T A^-1 (I - M^N) b with M = I - lr A."""
    A, C, phi, b = _quadratic_problem()
    theta0 = torch.randn(2, D, generator=torch.Generator().manual_seed(9), dtype=DT)
    lr, n = 0.7, 25
    hyper, theta_n, state = unrolled_hypergradient(_inner(A, C, phi),
                                                   lambda th: torch.einsum("bi,bi->b", b, th[0]),
                                                   theta0, phi, steps=n, lr=lr)
    assert state is None
    M = torch.eye(D, dtype=DT) - lr * A
    Mn = torch.linalg.matrix_power(M, n)
    expected = torch.einsum("bip,bi->bp", C, exact(A, b - torch.einsum("bij,bj->bi", Mn, b)))
    torch.testing.assert_close(hyper, expected, rtol=1e-10, atol=1e-12)
    star = exact(A, torch.einsum("bip,bp->bi", C, phi.detach()))
    expected_theta = torch.einsum("bij,bj->bi", Mn, theta0 - star) + star
    torch.testing.assert_close(theta_n[0], expected_theta, rtol=1e-10, atol=1e-12)


def test_clip_grad_norm_per_agent_and_clipped_unroll():
    g = torch.Generator().manual_seed(11)
    x = [torch.randn(3, 4, generator=g, dtype=DT), torch.randn(3, 2, 2, generator=g, dtype=DT)]
    x[0][1] *= 1e-3
    x[1][1] *= 1e-3                                    # agent 1 below the threshold
    norms = batch_norm(x)
    out = clip_grad_norm_per_agent(x, 0.5)
    new = batch_norm(out)
    assert torch.all(new <= 0.5 + 1e-12)
    torch.testing.assert_close(new[1], norms[1])
    for o, t in zip(out, x):
        torch.testing.assert_close(o[1], t[1])
        cos = batch_dot([o], [t]) / (batch_norm([o]) * batch_norm([t]))
        torch.testing.assert_close(cos, torch.ones_like(cos))
    assert clip_grad_norm_per_agent(x, None) is not x and clip_grad_norm_per_agent(x, 0)[0] is x[0]

    # clipped unroll: each step moves each agent by at most lr * max_norm
    A, C, phi, _ = _quadratic_problem()
    theta0 = 10 * torch.ones(2, D, dtype=DT)
    prev = theta0
    for n in range(1, 4):
        th = unroll_inner(_inner(A, C, phi), theta0, n, lr=0.1, max_norm=0.2)[0][0].detach()
        step = (th - prev).norm(dim=1)
        assert torch.all(step <= 0.1 * 0.2 + 1e-12) and torch.all(step > 0.1 * 0.2 - 1e-9)
        prev = th
