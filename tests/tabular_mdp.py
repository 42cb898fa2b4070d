"""A small batched tabular MDP with exact, differentiable returns (test helper).

Used by tests/test_hypergrad_tabular.py to check barfi.hypergrad against finite differences
of the true bi-level objective. Everything is float64 and batched over B agents, each with
its own random MDP and its own hyperparameters.

MDP (per agent): S states, A actions, start distribution d0 (full support), continuation
kernel P[s, a, s'] whose rows sum to 1 - p_term(s, a) (the episode ends with probability
p_term in [0.1, 0.3] after every step, so every return is finite even with gamma = 1),
primary reward r_p(s, a) and auxiliary reward r_aux(s, a).

Policy: softmax over logits (theta[s, 0..A-2], 0): the LAST action's logit is fixed at 0.
A full table of logits has a null direction per state (adding a constant to a state's logits
leaves the policy unchanged), which makes the Hessian singular; fixing one logit removes it,
so theta (B, S, A-1) is identifiable and, with the entropy bonus, the inner optimum is
unique with a negative-definite Hessian.

Values: for a policy pi, reward r and discount gamma,
    V = (I - gamma P_pi)^-1 (r_pi + tau H_pi),   J = d0 . V,
with P_pi[s, s'] = sum_a pi(a|s) P[s, a, s'], r_pi(s) = sum_a pi(a|s) r(s, a) and
H_pi(s) the policy's entropy in s (maximum-entropy RL: the bonus is earned at every visit).
A dense linear solve, differentiable in theta, r and gamma.

Bi-level problem (the paper's bi-level formulation, with tabular features):
    r_phi(s, a) = phi[s, 0] + phi[s, 1] r_p(s, a) + phi[s, 2] r_aux(s, a)
                  (phi (B, S, 3): a linear head on one-hot state features)
    gamma_phi   = sigmoid(psi), psi (B,)
    inner: J_phi(theta) = d0 . V(pi_theta, r_phi, gamma_phi, tau)   (maximised over theta)
    outer: J(theta)     = d0 . V(pi_theta, r_p, gamma_outer, 0)
The inner maximiser theta*(phi) is found by soft value iteration (the soft-optimal policy is
pi*(a|s) ~ exp(Q*(s,a) / tau), which our parametrisation represents exactly as
theta*[s, a] = (Q*(s, a) - Q*(s, A-1)) / tau), polished by Newton steps on J_phi.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from barfi.hypergrad import dense_hessian, hvp_fn

DT = torch.float64


@dataclass
class TabularMDP:
    P: torch.Tensor       # (B, S, A, S) continuation probabilities
    r_p: torch.Tensor     # (B, S, A)
    r_aux: torch.Tensor   # (B, S, A)
    d0: torch.Tensor      # (B, S)

    @property
    def shape(self) -> tuple[int, int, int]:
        B, S, A, _ = self.P.shape
        return B, S, A


def random_mdp(B: int = 3, S: int = 5, A: int = 3, seed: int = 0) -> TabularMDP:
    g = torch.Generator().manual_seed(seed)
    kernel = torch.distributions.Dirichlet(torch.ones(S, dtype=DT))
    torch.manual_seed(seed)  # Dirichlet sampling uses the global generator
    P = kernel.sample((B, S, A))
    p_term = 0.1 + 0.2 * torch.rand(B, S, A, generator=g, dtype=DT)
    P = P * (1 - p_term)[..., None]
    r_p = torch.randn(B, S, A, generator=g, dtype=DT)
    r_aux = torch.randn(B, S, A, generator=g, dtype=DT)
    d0 = torch.rand(B, S, generator=g, dtype=DT) + 0.5
    return TabularMDP(P, r_p, r_aux, d0 / d0.sum(1, keepdim=True))


def policy(theta: torch.Tensor) -> torch.Tensor:
    """theta (B, S, A-1) -> pi (B, S, A), last logit fixed at 0."""
    zeros = torch.zeros(theta.shape[:-1] + (1,), dtype=theta.dtype, device=theta.device)
    return torch.softmax(torch.cat([theta, zeros], dim=-1), dim=-1)


def values(mdp: TabularMDP, pi: torch.Tensor, r: torch.Tensor, gamma, tau: float = 0.0
           ) -> torch.Tensor:
    """V (B, S) of policy pi (B, S, A) for reward r (B, S, A), discount gamma (float or (B,)),
    entropy bonus weight tau."""
    B, S, _ = mdp.shape
    gamma = torch.as_tensor(gamma, dtype=DT).reshape(-1, 1, 1) if not isinstance(
        gamma, torch.Tensor) or gamma.dim() == 0 else gamma.reshape(-1, 1, 1)
    P_pi = torch.einsum("bsa,bsat->bst", pi, mdp.P)
    r_pi = (pi * r).sum(-1)
    if tau:
        r_pi = r_pi - tau * (pi * torch.log(pi)).sum(-1)
    eye = torch.eye(S, dtype=DT).expand(B, S, S)
    return torch.linalg.solve(eye - gamma * P_pi, r_pi.unsqueeze(-1)).squeeze(-1)


def alignment_reward(mdp: TabularMDP, phi: torch.Tensor) -> torch.Tensor:
    """r_phi (B, S, A) from phi (B, S, 3)."""
    return (phi[..., 0:1] + phi[..., 1:2] * mdp.r_p + phi[..., 2:3] * mdp.r_aux)


def inner_objective(mdp: TabularMDP, theta, phi, psi, tau: float) -> torch.Tensor:
    """J_phi(theta) per agent (B,): entropy-regularised return under r_phi, sigmoid(psi)."""
    pi = policy(theta)
    return (mdp.d0 * values(mdp, pi, alignment_reward(mdp, phi), torch.sigmoid(psi), tau)).sum(1)


def outer_objective(mdp: TabularMDP, theta, gamma: float = 0.99) -> torch.Tensor:
    """J(theta) per agent (B,): primary return with discount `gamma`, no entropy."""
    return (mdp.d0 * values(mdp, policy(theta), mdp.r_p, gamma)).sum(1)


def solve_inner(mdp: TabularMDP, phi, psi, tau: float, vi_iters: int = 60,
                newton_steps: int = 6, tol: float = 1e-13) -> torch.Tensor:
    """theta*(phi) (B, S, A-1), detached: soft value iteration, then Newton polishing.

    Soft VI: Q = r_phi + gamma P V, V = tau logsumexp(Q / tau); it contracts at rate
    gamma * max(1 - p_term) <= 0.9, so 60 sweeps land well inside Newton's basin. Newton
    steps theta <- theta - H^-1 grad (dense per-agent Hessian of J_phi) then converge
    quadratically; they stop once every agent's ||grad_theta J_phi|| <= tol."""
    with torch.no_grad():
        r = alignment_reward(mdp, phi.detach())
        gamma = torch.sigmoid(psi.detach()).reshape(-1, 1, 1)
        B, S, A = mdp.shape
        V = torch.zeros(B, S, dtype=DT)
        for _ in range(vi_iters):
            Q = r + gamma * torch.einsum("bsat,bt->bsa", mdp.P, V)
            V = tau * torch.logsumexp(Q / tau, dim=-1)
        theta = (Q[..., :-1] - Q[..., -1:]) / tau
    phi, psi = phi.detach(), psi.detach()
    for _ in range(newton_steps):
        theta = theta.detach().requires_grad_(True)
        grads = torch.autograd.grad(inner_objective(mdp, theta, phi, psi, tau).sum(), theta,
                                    create_graph=True)[0]
        if grads.reshape(B, -1).norm(dim=1).max() <= tol:
            break
        H = dense_hessian(hvp_fn(grads, theta), theta)
        step = torch.linalg.solve(H, grads.detach().reshape(B, -1, 1)).reshape(theta.shape)
        theta = theta.detach() - step
    return theta.detach()


def inner_gradient_norm(mdp: TabularMDP, theta, phi, psi, tau: float) -> torch.Tensor:
    """Per-agent ||grad_theta J_phi(theta)|| (B,): how well theta solves the inner problem."""
    theta = theta.detach().requires_grad_(True)
    g = torch.autograd.grad(inner_objective(mdp, theta, phi.detach(), psi.detach(), tau).sum(),
                            theta)[0]
    return g.reshape(g.shape[0], -1).norm(dim=1)
