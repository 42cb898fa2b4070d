"""The optimisers' update rules (barfi.learners.optim): pure, differentiable, and applied in
place bit for bit (the unrolled use is in test_hypergrad_unrolled.py; torch's algorithms in
test_learners.py)."""

from __future__ import annotations

import pytest
import torch

from barfi.learners.optim import Adam, RMSprop, make_optimizer


@pytest.mark.parametrize("rule", [RMSprop(lr=0.1), Adam(lr=0.1)])
def test_step_is_pure_and_differentiable(rule):
    """`step` leaves its inputs alone and its derivative matches finite differences."""
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(2, 5, generator=gen, dtype=torch.float64)
    g = torch.randn(2, 5, generator=gen, dtype=torch.float64)
    _, state = rule.step(p, g, {})                        # a state with history
    p0, g0, state0 = p.clone(), g.clone(), {k: v for k, v in state.items()}
    rule.step(p, g, state)
    assert torch.equal(p, p0) and torch.equal(g, g0)
    for key, value in state0.items():
        assert value is state[key]
    names = [k for k, v in state.items() if isinstance(v, torch.Tensor)]

    def f(p, g, *tensors):
        return rule.step(p, g, {**state, **dict(zip(names, tensors))})[0]

    inputs = [x.clone().requires_grad_(True) for x in [p, g, *(state[k] for k in names)]]
    assert torch.autograd.gradcheck(f, inputs)


@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_in_place_optimiser_applies_the_rule(name):
    params = [torch.randn(3, 4, requires_grad=True), torch.randn(3, requires_grad=True)]
    opt = make_optimizer(params, name, 0.01)
    rule = opt.rule
    want, states = [p.detach().clone() for p in params], [{}, {}]
    for k in range(4):
        grads = [torch.randn_like(p) for p in params]
        for p, gr in zip(params, grads):
            p.grad = gr
        opt.step()
        want, states = rule.step_all(want, grads, states)
        for p, w in zip(params, want):
            assert torch.equal(p.detach(), w)
    assert opt.state[params[0]]["step"] == 4


def test_state_dict_format_and_old_checkpoints():
    """Checkpoints keep their format ({"state", "defaults"}); a step count saved as a tensor
    (by barfi-unrolled before the update rules were shared) still loads and counts on."""
    p = torch.zeros(2, 3, requires_grad=True)
    opt = make_optimizer([p], "adam", 0.01)
    assert opt.state_dict() == {"state": {}, "defaults": {"lr": 0.01, "betas": (0.9, 0.999),
                                                          "eps": 1e-8}}
    assert make_optimizer([p], "rmsprop", 0.5).state_dict()["defaults"] == {
        "lr": 0.5, "alpha": 0.99, "eps": 1e-8}
    opt.load_state_dict({"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2, 3),
                                       "exp_avg_sq": torch.ones(2, 3)}}, "defaults": {}})
    p.grad = torch.ones(2, 3)
    opt.step()
    assert opt.state[p]["step"] == 4


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'; valid: rmsprop, adam"):
        make_optimizer([torch.zeros(1)], "sgd", 0.1)
