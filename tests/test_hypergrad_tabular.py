"""Hypergradients of barfi.hypergrad against finite differences on exact tabular MDPs.

Problem (tests/tabular_mdp.py): B = 3 agents, each with its own random MDP (5 states,
3 actions, termination probability 0.1-0.3 per step), softmax policy with the last logit
fixed at 0 (this removes the null direction "add a constant to all of a state's logits",
which would make the Hessian singular; the entropy bonus alone does not), and

    inner  J_phi(theta) = exact entropy-regularised return (tau = 2) under
           r_phi(s,a) = phi[s,0] + phi[s,1] r_p(s,a) + phi[s,2] r_aux(s,a), gamma_phi = sigmoid(psi)
    outer  J(theta)     = exact primary return with gamma = 0.99,

computed by a dense linear solve (differentiable, float64). psi = (4.6, 2, 0): gamma_phi =
0.990, 0.881, 0.5. theta*(phi) is solved to ||grad|| <= 1e-13 (soft value iteration + Newton).
tau = 2 keeps every action probability >= 0.05, so the inner Hessian's condition number is
about 8-12 (with tau = 1 it is about 60, which only makes the Neumann series and the
unrolled inner loop slower).

Reference: central finite differences of phi -> J(theta*(phi)) (step 1e-5; each component
perturbed for all agents at once, which is valid because agents are independent). They
agree with the exact implicit gradient to ~1e-10 relative, so they also validate the
implicit function theorem formula and its sign conventions end to end.
"""

from __future__ import annotations

import pytest
import torch

from barfi.hypergrad import (
    batch_norm,
    dense_hessian,
    hvp_fn,
    implicit_hypergradient,
    neumann_inverse_hvp,
    unrolled_hypergradient,
)
from tabular_mdp import (
    DT,
    TabularMDP,
    inner_gradient_norm,
    inner_objective,
    outer_objective,
    random_mdp,
    solve_inner,
)

B, S, A = 3, 5, 3
TAU = 2.0
EPS = 1e-5


def _rel(est, ref):
    """Per-agent relative error of the hypergradient vector (phi and psi together), (B,)."""
    return batch_norm([e - r for e, r in zip(est, ref)]) / batch_norm(ref)


def _signs_agree(est, ref, frac=0.02):
    """Signs agree on every component larger than frac * (that agent's largest component)."""
    for e, r in zip(est, ref):
        e, r = e.reshape(B, -1), r.reshape(B, -1)
        big = r.abs() > frac * r.abs().max(dim=1, keepdim=True).values
        if not torch.all(torch.sign(e[big]) == torch.sign(r[big])):
            return False
    return True


@pytest.fixture(scope="module")
def problem():
    mdp = random_mdp(B, S, A, seed=0)
    g = torch.Generator().manual_seed(1)
    phi = torch.stack([0.3 * torch.randn(B, S, generator=g, dtype=DT),
                       1 + 0.3 * torch.randn(B, S, generator=g, dtype=DT),
                       0.5 + 0.3 * torch.randn(B, S, generator=g, dtype=DT)], dim=-1)
    psi = torch.tensor([4.6, 2.0, 0.0], dtype=DT)
    theta = solve_inner(mdp, phi, psi, TAU)

    def j_star(ph, ps):
        return outer_objective(mdp, solve_inner(mdp, ph, ps, TAU))

    fd_phi = torch.zeros_like(phi)
    for s in range(S):
        for k in range(3):
            e = torch.zeros_like(phi)
            e[:, s, k] = EPS
            fd_phi[:, s, k] = (j_star(phi + e, psi) - j_star(phi - e, psi)) / (2 * EPS)
    fd_psi = (j_star(phi, psi + EPS) - j_star(phi, psi - EPS)) / (2 * EPS)
    return {"mdp": mdp, "phi": phi, "psi": psi, "theta": theta, "fd": [fd_phi, fd_psi]}


def _graphs(p, mdp: TabularMDP | None = None, sl=slice(None)):
    """theta (leaf), phi, psi (leaves), outer gradient g, inner gradient with graph."""
    mdp = mdp or p["mdp"]
    theta = p["theta"][sl].clone().requires_grad_(True)
    phi = p["phi"][sl].clone().requires_grad_(True)
    psi = p["psi"][sl].clone().requires_grad_(True)
    g = torch.autograd.grad(outer_objective(mdp, theta).sum(), theta)[0]
    inner_grad = torch.autograd.grad(inner_objective(mdp, theta, phi, psi, TAU).sum(), theta,
                                     create_graph=True)[0]
    return theta, phi, psi, g, inner_grad


def _spectrum(theta, inner_grad):
    return torch.linalg.eigvalsh(dense_hessian(hvp_fn(inner_grad, theta), theta))  # (B, D)


def test_inner_solution_is_a_strict_maximum(problem):
    p = problem
    assert torch.all(inner_gradient_norm(p["mdp"], p["theta"], p["phi"], p["psi"], TAU) < 1e-12)
    theta, _, _, _, inner_grad = _graphs(p)
    ev = _spectrum(theta, inner_grad)
    assert torch.all(ev < 0)                               # negative definite
    cond = ev[:, 0] / ev[:, -1]
    assert torch.all(cond < 20), cond


@pytest.mark.parametrize("solver,options,tol", [
    ("exact", {}, 1e-6),
    ("cg", {"iters": 40, "tol": 1e-12}, 1e-6),
    ("neumann", {"terms": 200}, 1e-4),          # alpha = 1 / |lambda_min(H)| per agent
])
def test_implicit_hypergradient_matches_finite_differences(problem, solver, options, tol):
    theta, phi, psi, g, inner_grad = _graphs(problem)
    if solver == "neumann":
        options = dict(options, alpha=1.0 / _spectrum(theta, inner_grad)[:, 0].abs())
    hyper = implicit_hypergradient([inner_grad], [theta], [phi, psi], [g], solver, **options)
    err = _rel(hyper, problem["fd"])
    assert torch.all(err < tol), err
    assert _signs_agree(hyper, problem["fd"])
    # the psi component (learned discount) separately: relative error per agent
    torch.testing.assert_close(hyper[1], problem["fd"][1], rtol=100 * tol, atol=0)


def test_neumann_rate_on_the_real_hessian(problem):
    """u_K = Neumann estimate of H^-1 g: ||u_K - u*|| <= rho^(K+1) ||u*|| with
    rho = 1 - lambda_min/lambda_max (alpha = 1/|lambda_min(H)|), and the hypergradient error
    against finite differences shrinks with K (the paper's K = 5 is far from converged)."""
    theta, phi, psi, g, inner_grad = _graphs(problem)
    ev = _spectrum(theta, inner_grad)
    alpha = 1.0 / ev[:, 0].abs()
    rho = (1 + alpha[:, None] * ev).abs().max(dim=1).values
    hvp = hvp_fn(inner_grad, theta)
    u_star = torch.linalg.solve(dense_hessian(hvp, theta), g.reshape(B, -1, 1)).reshape(g.shape)
    errs, hyper_errs = [], []
    ks = [5, 25, 50, 100, 150]
    for k in ks:
        u = neumann_inverse_hvp(hvp, g, alpha, k)
        errs.append(batch_norm(u - u_star))
        assert torch.all(errs[-1] <= rho ** (k + 1) * batch_norm(u_star) * (1 + 1e-9)), k
        hyper = implicit_hypergradient([inner_grad], [theta], [phi, psi], [g], "neumann",
                                       alpha=alpha, terms=k)
        hyper_errs.append(_rel(hyper, problem["fd"]))
    for a, b in zip(hyper_errs[:-1], hyper_errs[1:]):
        assert torch.all(b < a)
    # measured asymptotic rate of the solve error: (e_150 / e_100)^(1/50), at most rho
    rate = (errs[-1] / errs[-2]) ** (1 / 50)
    assert torch.all(rate <= rho + 1e-6) and torch.all(rate > rho - 0.05), (rate, rho)


def test_batch_independence(problem):
    """Agent 1's hypergradient computed alone equals row 1 of the batched computation."""
    theta, phi, psi, g, inner_grad = _graphs(problem)
    batched = implicit_hypergradient([inner_grad], [theta], [phi, psi], [g], "cg", iters=40,
                                     tol=1e-12)
    m = problem["mdp"]
    one = TabularMDP(m.P[1:2], m.r_p[1:2], m.r_aux[1:2], m.d0[1:2])
    theta1, phi1, psi1, g1, inner1 = _graphs(problem, one, slice(1, 2))
    alone = implicit_hypergradient([inner1], [theta1], [phi1, psi1], [g1], "cg", iters=40,
                                   tol=1e-12)
    for a, b in zip(alone, batched):
        torch.testing.assert_close(a[0], b[1], rtol=1e-10, atol=1e-14)


def _unrolled(problem, steps, lr, max_norm=None):
    mdp = problem["mdp"]
    phi = problem["phi"].clone().requires_grad_(True)
    psi = problem["psi"].clone().requires_grad_(True)
    hyper, theta_n, _ = unrolled_hypergradient(
        lambda th, k: inner_objective(mdp, th[0], phi, psi, TAU),
        lambda th: outer_objective(mdp, th[0]), torch.zeros_like(problem["theta"]),
        [phi, psi], steps=steps, lr=lr, max_norm=max_norm)
    return hyper, theta_n


def test_unrolled_approaches_finite_differences(problem):
    """Differentiating through N gradient-ascent steps from theta_0 = 0 (uniform policy):
    the error against finite differences falls with N and is small at N = 320."""
    theta, _, _, _, inner_grad = _graphs(problem)
    lr = 1.5 / _spectrum(theta, inner_grad)[:, 0].abs().max().item()
    errs = {}
    for n in (5, 20, 80, 320):
        hyper, theta_n = _unrolled(problem, n, lr)
        errs[n] = _rel(hyper, problem["fd"])
    ns = sorted(errs)
    for a, b in zip(ns[:-1], ns[1:]):
        assert torch.all(errs[b] < errs[a]), errs
    assert torch.all(errs[5] > 1e-2)            # truncation visibly biases short unrolls
    assert torch.all(errs[320] < 1e-4), errs[320]
    torch.testing.assert_close(theta_n[0], problem["theta"], rtol=0, atol=1e-6)


def test_unrolled_with_per_agent_clipping(problem):
    """Per-agent gradient-norm clipping (scale treated as a constant) slows the first steps
    but the estimate still converges once the gradients fall below the threshold."""
    theta, _, _, _, inner_grad = _graphs(problem)
    lr = 1.5 / _spectrum(theta, inner_grad)[:, 0].abs().max().item()
    hyper, _ = _unrolled(problem, 320, lr, max_norm=0.2)
    err = _rel(hyper, problem["fd"])
    assert torch.all(err < 1e-3), err
    assert _signs_agree(hyper, problem["fd"])
