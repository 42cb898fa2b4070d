"""The unrolled hypergradient with RMSprop and Adam inner steps (what `barfi-unrolled` runs)
against exact derivatives (float64).

Setting: B = 2 independent problems, theta a pytree [W (B, 3, 2), b (B, 2)], phi (B, 3), a
non-quadratic inner objective with an analytic gradient,

    J_inner(theta, phi) = sum -1/2 theta^T A theta + theta^T C phi - 1/4 sum theta^4,
    grad_theta J_inner  = C phi - A theta - theta^3,

and J_outer(theta) = b^T theta - 1/2 ||theta||^2 + direct term -||phi||^2. The reference is
an independent, hand-written optimiser loop (torch's documented update rules, the analytic
gradient, no double backward); its derivative in phi comes from
`torch.autograd.functional.jacobian` and from central finite differences. The last test
checks that `barfi-unrolled` runs this very function with its actor optimiser's rule.
"""

from __future__ import annotations

import pytest
import torch

from barfi.hypergrad import unroll_inner, unrolled_hypergradient
from barfi.learners.optim import Adam, RMSprop, make_optimizer

DT = torch.float64
B, P, D = 2, 3, 8          # agents, phi per agent, theta entries per agent (3 x 2 + 2)


def _problem(seed=3):
    g = torch.Generator().manual_seed(seed)
    Q = torch.randn(B, D, D, generator=g, dtype=DT)
    A = Q @ Q.transpose(1, 2) / D + 0.5 * torch.eye(D, dtype=DT)
    C = torch.randn(B, D, P, generator=g, dtype=DT)
    b = torch.randn(B, D, generator=g, dtype=DT)
    phi = torch.randn(B, P, generator=g, dtype=DT)
    theta0 = 0.3 * torch.randn(B, D, generator=g, dtype=DT)
    return A, C, b, phi, theta0


def _tree(flat):
    return [flat[:, :6].reshape(B, 3, 2), flat[:, 6:]]


def _flat(tree):
    return torch.cat([t.reshape(B, -1) for t in tree], 1)


def _inner(A, C, phi):
    """J_inner on the pytree, per agent (B,); k (the step) is unused: same data every step."""
    def J(theta, k=0):
        th = _flat(theta)
        return (-0.5 * torch.einsum("bi,bij,bj->b", th, A, th)
                + torch.einsum("bi,bip,bp->b", th, C, phi) - 0.25 * (th ** 4).sum(1))
    return J


def _outer(b):
    def J(theta):
        th = _flat(theta)
        return torch.einsum("bi,bi->b", b, th) - 0.5 * (th ** 2).sum(1)
    return J


def _reference_theta(A, C, phi, theta0, rule, lr, steps, max_norm=None):
    """theta_N by torch's documented RMSprop / Adam (flat (B, D)), on the analytic inner
    gradient; the clipping scale is a constant, as in `clip_grad_norm_per_agent`."""
    th = theta0.clone()
    m = torch.zeros_like(th)
    v = torch.zeros_like(th)
    for k in range(1, steps + 1):
        ascent = torch.einsum("bip,bp->bi", C, phi) - torch.einsum("bij,bj->bi", A, th) - th ** 3
        if max_norm is not None:
            scale = torch.clamp(max_norm / (ascent.detach().norm(dim=1) + 1e-12), max=1.0)
            ascent = ascent * scale[:, None]
        g = -ascent                                   # the optimiser minimises -J_inner
        if rule == "rmsprop":
            v = 0.99 * v + 0.01 * g * g
            th = th - lr * g / (torch.sqrt(v) + 1e-8)
        else:
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            m_hat, v_hat = m / (1 - 0.9 ** k), v / (1 - 0.999 ** k)
            th = th - lr * m_hat / (torch.sqrt(v_hat) + 1e-8)
    return th


def _exact(A, C, b, phi, theta0, rule, lr, steps, max_norm=None):
    """d/dphi [J_outer(theta_N(phi)) - ||phi||^2] by autograd.functional on the reference."""
    def total(p):
        th = _reference_theta(A, C, p, theta0, rule, lr, steps, max_norm)
        return (_outer(b)(_tree(th)) - (p ** 2).sum(1)).sum()
    return torch.autograd.functional.jacobian(total, phi)


def _finite_differences(A, C, b, phi, theta0, rule, lr, steps, h=1e-6):
    out = torch.zeros_like(phi)
    for i in range(B):
        for j in range(P):
            e = torch.zeros_like(phi)
            e[i, j] = h
            f = [(_outer(b)(_tree(_reference_theta(A, C, p, theta0, rule, lr, steps)))
                  - (p ** 2).sum(1))[i] for p in (phi + e, phi - e)]
            out[i, j] = (f[0] - f[1]) / (2 * h)
    return out


def _unrolled(A, C, b, phi, theta0, rule, lr, steps, max_norm=None, state=None):
    phi = phi.clone().requires_grad_(True)
    opt = {"rmsprop": RMSprop, "adam": Adam}[rule](lr=lr)
    state = [{}, {}] if state is None else state
    return unrolled_hypergradient(_inner(A, C, phi), _outer(b), _tree(theta0), phi, steps,
                                  max_norm=max_norm, optimizer=opt.step_all, state=state,
                                  outer_direct=-(phi ** 2).sum())


@pytest.mark.parametrize("rule,lr", [("rmsprop", 0.02), ("adam", 0.05)])
def test_unrolled_hypergradient_with_optimizer_steps_is_the_exact_derivative(rule, lr):
    A, C, b, phi, theta0 = _problem()
    steps = 12
    hyper, theta_n, state = _unrolled(A, C, b, phi, theta0, rule, lr, steps)
    exact = _exact(A, C, b, phi, theta0, rule, lr, steps)
    torch.testing.assert_close(hyper, exact, rtol=1e-10, atol=1e-12)
    fd = _finite_differences(A, C, b, phi, theta0, rule, lr, steps)
    torch.testing.assert_close(hyper, fd, rtol=1e-6, atol=1e-8)
    # the inner trajectory is torch's optimiser's, and the state counts the steps
    torch.testing.assert_close(_flat(theta_n),
                               _reference_theta(A, C, phi, theta0, rule, lr, steps),
                               rtol=1e-12, atol=1e-14)
    assert [s["step"] for s in state] == [steps, steps]
    # the hypergradient is not trivially the direct term: theta_N depends on phi
    assert (hyper + 2 * phi).abs().min() > 1e-4


@pytest.mark.parametrize("rule,lr", [("rmsprop", 0.02), ("adam", 0.05)])
def test_unrolled_hypergradient_with_clipped_optimizer_steps(rule, lr):
    """Per-agent clipping of the inner gradients (scale a constant), active at the start."""
    A, C, b, phi, theta0 = _problem()
    theta0 = 3 * theta0                                      # large first gradients
    hyper, _, _ = _unrolled(A, C, b, phi, theta0, rule, lr, 10, max_norm=0.5)
    exact = _exact(A, C, b, phi, theta0, rule, lr, 10, max_norm=0.5)
    torch.testing.assert_close(hyper, exact, rtol=1e-10, atol=1e-12)
    unclipped = _exact(A, C, b, phi, theta0, rule, lr, 10)
    assert not torch.allclose(exact, unclipped, rtol=1e-3)   # clipping did change something


@pytest.mark.parametrize("rule,lr", [("rmsprop", 0.02), ("adam", 0.05)])
def test_unroll_continues_from_the_returned_state(rule, lr):
    """N1 steps, then N2 more from the returned theta and state, equal N1 + N2 steps (Adam's
    bias correction needs the step count to carry over)."""
    A, C, b, phi, theta0 = _problem()
    opt = {"rmsprop": RMSprop, "adam": Adam}[rule](lr=lr)
    J = _inner(A, C, phi)
    th, st = unroll_inner(J, _tree(theta0), 4, optimizer=opt.step_all, state=[{}, {}])
    th, st = unroll_inner(J, [t.detach() for t in th], 3, optimizer=opt.step_all, state=st)
    once, _ = unroll_inner(J, _tree(theta0), 7, optimizer=opt.step_all, state=[{}, {}])
    for x, y in zip(th, once):
        assert torch.equal(x.detach(), y.detach())


@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_unroll_takes_the_in_place_optimisers_steps(name):
    """The functional steps of the unroll and the learners' in-place optimiser give bit-equal
    parameters and states (one update rule), starting from a state with history."""
    A, C, b, phi, theta0 = _problem()
    J = _inner(A, C, phi)
    params = [t.clone().requires_grad_(True) for t in _tree(theta0)]
    opt = make_optimizer(params, name, 0.03)
    for _ in range(2):                                       # some history first
        opt.zero_grad()
        (-J(params).sum()).backward()
        opt.step()
    th, states = unroll_inner(J, params, 5, optimizer=opt.rule.step_all, state=opt.states())
    for _ in range(5):
        opt.zero_grad()
        (-J(params).sum()).backward()
        opt.step()
    for p, t, s in zip(params, th, states):
        assert torch.equal(p.detach(), t.detach())
        for key, value in opt.state[p].items():
            assert (torch.equal(value, s[key]) if isinstance(value, torch.Tensor)
                    else value == s[key] == 7)


def test_unroll_needs_exactly_one_step_kind():
    A, C, b, phi, theta0 = _problem()
    with pytest.raises(ValueError, match="exactly one of lr"):
        unroll_inner(_inner(A, C, phi), _tree(theta0), 1)
    with pytest.raises(ValueError, match="exactly one of lr"):
        unroll_inner(_inner(A, C, phi), _tree(theta0), 1, lr=0.1,
                     optimizer=RMSprop(lr=0.1).step_all, state=[{}, {}])


def test_unrolled_rmsprop_keeps_a_finite_graph_for_a_parameter_without_gradient():
    """The weight of a feature that is always 0 (a tile never visited) gets gradient 0 * phi:
    zero, but with a graph to phi. Its v stays 0, where sqrt' is infinite, so a naive rule
    would put inf * 0 = NaN into the hypergradient."""
    A, C, b, phi, theta0 = _problem()
    phi = phi.clone().requires_grad_(True)
    inactive = torch.zeros(B, 4, dtype=DT)                   # the feature's values
    J = _inner(A, C, phi)
    hyper, theta_n, _ = unrolled_hypergradient(
        lambda th, k: J(th[:2], k) + (th[2] * inactive).sum(1) * phi[:, 0],
        lambda th: _outer(b)(th[:2]) + th[2].sum(1),
        _tree(theta0) + [torch.ones(B, 4, dtype=DT)], phi, 5,
        optimizer=RMSprop(lr=0.02).step_all, state=[{}, {}, {}])
    assert torch.isfinite(hyper).all() and torch.equal(theta_n[2], torch.ones(B, 4, dtype=DT))
    torch.testing.assert_close(hyper, _exact(A, C, b, phi.detach(), theta0, "rmsprop", 0.02, 5)
                               + 2 * phi.detach(), rtol=1e-10, atol=1e-12)


def test_barfi_unrolled_runs_this_unrolled_hypergradient(monkeypatch):
    """`barfi-unrolled` takes its outer step through `unrolled_hypergradient` (the function
    checked above) with the actor optimiser's own update rule and state, and continues from
    the unrolled theta and state."""
    import barfi.learners.barfi as barfi_learner
    from barfi.config import resolve_config
    from barfi.train import train

    calls = []

    def spy(*args, **kwargs):
        out = unrolled_hypergradient(*args, **kwargs)
        calls.append((kwargs, out))
        return out

    monkeypatch.setattr(barfi_learner, "unrolled_hypergradient", spy)
    for optimizer in ("rmsprop", "adam"):
        calls.clear()
        config = resolve_config("gridworld", "center-bonus", "barfi-unrolled",
                                {"episodes": 9, "first_mul": 1, "inner_mul": 1,
                                 "optimizer": optimizer})
        (ds,) = train(config, [1])
        assert ds.attrs["status"] == "completed"
        assert len(calls) == 2                                   # episodes 6 and 9
        kwargs, (hyper, theta, states) = calls[-1]
        rule = kwargs["optimizer"].__self__
        assert type(rule).__name__.lower() == optimizer
        # warm-up step, 4 first inner steps, 3 unrolled steps, written back, then 3 more
        assert [s["step"] for s in states] == [1 + 4 + 3 + 3] * 2
        assert all(torch.isfinite(h).all() for h in hyper)
