"""Returns, potential-based shaping, and the REINFORCE / actor-critic learners: hand-checked
values, the reference's loss and schedule, per-agent independence in a block, and exact resume
from a state dict."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

from barfi.checkpoint import decode, encode
from barfi.config import RunConfig
from barfi.learners import METHODS, EpisodeBatch, make_learner
from barfi.learners.reinforce import episode_tensors, reinforce_loss
from barfi.learners.returns import (discount_weights, pbrs_returns, pbrs_shaped_rewards,
                                    returns_to_go)
from barfi.rng import BlockStreams
from stand_ins import Spec


GRID = Spec("gridworld", 2, 4, obs_low=(0.0, 0.0), obs_high=(1.0, 1.0))
MC = Spec("mountaincar", 2, 3, horizon=15, obs_low=(-1.2, -0.07), obs_high=(0.5, 0.07))
CHEETAH = Spec("halfcheetah", 17, None, 6, -1.0, 1.0, horizon=10)


def config(method, spec=GRID, **hp):
    if spec.name == "halfcheetah":
        hp = {"optimizer": "adam", "actor_lr": 1e-2, "critic_lr": 1e-2, "delta": 1,
              "actor_reg": 0.0, "baseline_ema": 0.99 if "reinforce" in method else 0.0, **hp}
    else:
        hp = {"actor_lr": 5e-2, "critic_lr": 5e-2, **hp}
    params = METHODS[method].params  # the values above are for every method: keep what it reads
    read = {f.name for f in dataclasses.fields(params)}
    return RunConfig(env=spec.name, aux="none", method=method,
                     hp=params(**{k: v for k, v in hp.items() if k in read}))


def random_episode(spec, B, rng) -> EpisodeBatch:
    H = spec.horizon
    length = rng.integers(1, H + 1, size=B)
    length[0] = H                                       # one agent runs to the horizon
    mask = (np.arange(H + 1)[None] < length[:, None]).astype(np.float64)
    if spec.obs_low is None:
        obs = rng.normal(size=(B, H + 1, spec.obs_dim))
    else:
        lo, hi = np.array(spec.obs_low), np.array(spec.obs_high)
        obs = lo + rng.random((B, H + 1, spec.obs_dim)) * (hi - lo)
    obs *= (np.arange(H + 1)[None] <= length[:, None])[..., None]
    if spec.n_actions is not None:
        actions = rng.integers(0, spec.n_actions, size=(B, H + 1)) * mask.astype(np.int64)
    else:
        actions = rng.normal(size=(B, H + 1, spec.action_dim)) * 0.5 * mask[..., None]
    return EpisodeBatch(obs=obs, actions=actions, r_p=rng.normal(size=(B, H + 1)) * mask,
                        r_aux=rng.normal(size=(B, H + 1)) * mask, mask=mask,
                        terminated=length < H, length=length)


def agent(ep: EpisodeBatch, i: int) -> EpisodeBatch:
    """Agent i's slice of an episode batch, as a batch of one."""
    return EpisodeBatch(**{f.name: getattr(ep, f.name)[i:i + 1]
                           for f in dataclasses.fields(EpisodeBatch)})


def params(learner):
    return [p.detach().clone() for p in learner.parameters()]


ALL_METHODS = ["reinforce", "reinforce-pbrs", "primary-only", "actor-critic",
               "actor-critic-pbrs"]


# ----------------------------------------------------------------------------- returns

def test_returns_to_go_hand_computed_and_per_agent_gamma():
    r = torch.tensor([[1.0, 2.0, 3.0, 0.0], [1.0, 2.0, 3.0, 0.0]])
    G = returns_to_go(r, torch.tensor([0.5, 1.0]))
    torch.testing.assert_close(G, torch.tensor([[2.75, 3.5, 3.0, 0.0], [6.0, 5.0, 3.0, 0.0]]))
    torch.testing.assert_close(returns_to_go(r, 0.5)[0], G[0])
    # long horizons (several scan chunks) equal the sequential recursion
    rng = np.random.default_rng(0)
    r = torch.as_tensor(rng.normal(size=(2, 3, 2001)))
    g = torch.tensor([0.99, 0.9], dtype=torch.float64)
    want = torch.zeros_like(r)
    nxt = torch.zeros(2, 3, dtype=torch.float64)
    for t in range(2000, -1, -1):
        nxt = r[..., t] + g[:, None] * nxt
        want[..., t] = nxt
    torch.testing.assert_close(returns_to_go(r, g), want)


def test_returns_to_go_is_differentiable_in_gamma_and_rewards():
    r = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64, requires_grad=True)
    g = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    G0 = returns_to_go(r, g)[0, 0]
    dr, dg = torch.autograd.grad(G0, (r, g))
    torch.testing.assert_close(dg, torch.tensor([2.0 + 2 * 0.7 * 3.0], dtype=torch.float64))
    torch.testing.assert_close(dr, torch.tensor([[1.0, 0.7, 0.49]], dtype=torch.float64))
    r2 = torch.randn(3, 150, dtype=torch.float64)
    g2 = torch.tensor([0.95, 0.5, 0.99], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: returns_to_go(r2, x), (g2,))
    torch.testing.assert_close(discount_weights(g2, 3, r2).detach(),
                               torch.stack([g2.detach() ** k for k in range(3)], -1))


def test_pbrs_telescopes():
    """sum_t gamma^t (r_t + gamma Phi_{t+1} - Phi_t) = sum_t gamma^t r_t + gamma^L Phi_L - Phi_0,
    with Phi_L = 0 after the last step (the reference's convention), and the REINFORCE-PBRS
    return G_t(r) - Phi_t is the return of the shaped reward at every t."""
    rng = np.random.default_rng(1)
    T, L, gamma = 9, 6, 0.9
    r = torch.as_tensor(rng.normal(size=(2, T)))
    phi = torch.as_tensor(rng.normal(size=(2, T)))
    mask = (torch.arange(T) < L).double().expand(2, T)
    shaped = pbrs_shaped_rewards(r, phi, gamma, mask)
    disc = gamma ** torch.arange(T, dtype=torch.float64)
    lhs = (disc * shaped).sum(-1)
    rhs = (disc * r * mask).sum(-1) + gamma ** L * 0.0 - phi[:, 0]
    torch.testing.assert_close(lhs, rhs)
    # the general identity with a non-zero final potential, written out by hand
    phi_ext = torch.cat([phi[:, :L], torch.as_tensor(rng.normal(size=(2, 1)))], -1)
    by_hand = sum(gamma ** t * (r[:, t] + gamma * phi_ext[:, t + 1] - phi_ext[:, t])
                  for t in range(L))
    torch.testing.assert_close(by_hand, (disc * r * mask).sum(-1)
                               + gamma ** L * phi_ext[:, L] - phi_ext[:, 0])
    # REINFORCE-PBRS: G'_t = G_t(r) - Phi_t equals the return-to-go of the shaped reward
    torch.testing.assert_close(pbrs_returns(r, phi, gamma, mask),
                               returns_to_go(shaped, gamma) * mask)


def test_reinforce_loss_matches_the_reference_formula():
    """-(mean over the padded T of mask * log pi * G) - w * (masked mean entropy)."""
    rng = np.random.default_rng(2)
    learner = make_learner(config("reinforce"), GRID, BlockStreams([1, 2]))
    ep = random_episode(GRID, 2, rng)
    b = learner.tensors(ep)
    pol = learner.policy
    G_all = returns_to_go((b["r_p"] + b["r_aux"]) * b["mask"], 0.99)
    loss = reinforce_loss(pol, b["feats"], b["actions"], G_all, b["mask"], 0.25)
    T = GRID.horizon + 1
    for i in range(2):
        logits = b["feats"][i] @ pol.weight[i] + pol.bias[i]
        dist = torch.distributions.Categorical(logits=logits)
        r = ((b["r_p"][i] + b["r_aux"][i]) * b["mask"][i]).tolist()
        G, acc = [0.0] * T, 0.0
        for t in range(T - 1, -1, -1):
            acc = r[t] + 0.99 * acc
            G[t] = acc
        G = torch.tensor(G)
        m = b["mask"][i]
        want = -((m * dist.log_prob(b["actions"][i]) * G).sum() / T
                 + 0.25 * (m * dist.entropy()).sum() / m.sum())
        torch.testing.assert_close(loss[i], want)
    # discounted variant: step t weighted by gamma^t
    G = returns_to_go(b["r_p"] * b["mask"], 0.5)
    d = reinforce_loss(pol, b["feats"], b["actions"], G, b["mask"], 0.0, discount=0.5)
    lp = pol.log_prob(b["feats"], b["actions"])
    want = -(b["mask"] * lp * G * 0.5 ** torch.arange(T)).sum(-1) / T
    torch.testing.assert_close(d, want)


def test_reinforce_loss_on_several_episodes_averages_the_episode_means():
    """(B, n, T) episodes: the mean over episodes of each episode's mean over its padded
    horizon, and ONE masked entropy mean over all their steps (the reference's batch loss)."""
    rng = np.random.default_rng(4)
    learner = make_learner(config("reinforce"), GRID, BlockStreams([1, 2]))
    eps = [random_episode(GRID, 2, rng) for _ in range(3)]
    b = learner.tensors(eps)                                 # (B, 3, T, ...)
    G = returns_to_go(b["r_p"] * b["mask"], 0.9)
    loss = reinforce_loss(learner.policy, b["feats"], b["actions"], G, b["mask"], 0.5)
    lp, ent = learner.policy.log_prob_and_entropy(b["feats"], b["actions"])
    m = b["mask"]
    per_episode = (m * lp * G).sum(-1) / m.shape[-1]           # (B, 3)
    want = -(per_episode.mean(-1) + 0.5 * (m * ent).sum((1, 2)) / m.sum((1, 2)))
    torch.testing.assert_close(loss, want)
    # one episode per agent gives the single-episode loss
    one = reinforce_loss(learner.policy, b["feats"][:, :1], b["actions"][:, :1], G[:, :1],
                         m[:, :1], 0.5)
    alone = reinforce_loss(learner.policy, b["feats"][:, 0], b["actions"][:, 0], G[:, 0],
                           m[:, 0], 0.5)
    assert torch.equal(one, alone)


def test_reinforce_update_is_an_optimiser_step_on_reinforce_loss():
    """The learner's update is exactly one actor-optimiser step on `reinforce_loss`."""
    rng = np.random.default_rng(6)
    learner = make_learner(config("reinforce", delta=1), GRID, BlockStreams([1, 2]))
    ep = random_episode(GRID, 2, rng)
    b = learner.tensors(ep)
    G = returns_to_go((b["r_p"] + b["r_aux"]) * b["mask"], learner.hp.gamma)
    theta = [p.detach().clone().requires_grad_() for p in learner.policy.parameters()]
    loss = reinforce_loss(learner.policy, b["feats"], b["actions"], G, b["mask"],
                          learner.hp.actor_reg, params=theta)
    grads = torch.autograd.grad(loss.sum(), theta)
    want, _ = learner.actor_opt.rule.step_all([t.detach() for t in theta], grads,
                                              [{} for _ in theta])
    learner.end_episode(ep, 0)
    for p, w in zip(learner.policy.parameters(), want):
        assert torch.equal(p.detach(), w)


# ----------------------------------------------------------------------------- schedule

def test_reinforce_updates_every_delta_episodes_on_the_last_episode_only():
    rng = np.random.default_rng(3)
    eps = [random_episode(GRID, 2, rng) for _ in range(4)]
    a = make_learner(config("reinforce"), GRID, BlockStreams([1, 2]))
    b = make_learner(config("reinforce"), GRID, BlockStreams([1, 2]))
    p0 = params(a)
    a.end_episode(eps[0], 0)
    a.end_episode(eps[1], 1)
    assert all(torch.equal(x, y) for x, y in zip(params(a), p0))      # no update yet
    a.end_episode(eps[2], 2)
    assert not torch.equal(params(a)[0], p0[0])
    b.end_episode(eps[3], 0)            # b saw other episodes before, then the same third one
    b.end_episode(eps[3], 1)
    b.end_episode(eps[2], 2)
    for x, y in zip(params(a), params(b)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_actor_critic_updates_on_the_delta_episodes_then_clears():
    rng = np.random.default_rng(4)
    eps = [random_episode(MC, 2, rng) for _ in range(6)]
    a = make_learner(config("actor-critic", MC), MC, BlockStreams([1, 2]))
    p0 = params(a)
    a.end_episode(eps[0], 0)
    a.end_episode(eps[1], 1)
    assert len(a.pending) == 2 and all(torch.equal(x, y) for x, y in zip(params(a), p0))
    a.end_episode(eps[2], 2)
    assert a.pending == [] and a.updates == 1
    # the update equals the reference's flattened computation on those three episodes
    b = make_learner(config("actor-critic", MC), MC, BlockStreams([1, 2]))
    batch = b.tensors(eps[:3])
    critic_loss, actor_loss = b.losses(batch)
    for i in range(2):
        feats = batch["feats"][i].reshape(-1, b.features.dim)               # (N*T, F)
        mask = batch["mask"][i].reshape(-1)
        r = ((batch["r_p"][i] + batch["r_aux"][i]).reshape(-1)) * mask
        v = feats @ b.critic.weight[i] + b.critic.bias[i]
        vals = v.detach()
        target = torch.zeros_like(vals)
        target[:-1] = r[:-1] + 0.99 * vals[1:] * mask[1:]
        want_critic = (mask * (target - v) ** 2).sum() / mask.sum()
        logits = feats @ b.policy.weight[i] + b.policy.bias[i]
        lp = torch.log_softmax(logits, -1).gather(
            1, batch["actions"][i].reshape(-1, 1))[:, 0]
        td = (target - v).detach()
        want_actor = -(mask * lp * td).reshape(3, -1).mean(-1).mean()
        torch.testing.assert_close(critic_loss[i], want_critic)
        torch.testing.assert_close(actor_loss[i], want_actor)


def test_actor_critic_pbrs_shapes_primary_reward():
    rng = np.random.default_rng(5)
    ep = random_episode(GRID, 2, rng)
    learner = make_learner(config("actor-critic-pbrs"), GRID, BlockStreams([1, 2]))
    b = learner.tensors(ep)
    r = learner.rewards(b)
    for i in range(2):
        L = int(ep.length[i])
        aux = np.append(ep.r_aux[i, :L], 0.0)
        want = ep.r_p[i, :L] + 0.99 * aux[1:] - aux[:-1]
        np.testing.assert_allclose(r[i, :L].numpy(), want, rtol=1e-5, atol=1e-5)
        assert torch.all(r[i, L:] == 0)


def test_halfcheetah_baseline_running_mean():
    rng = np.random.default_rng(6)
    learner = make_learner(config("reinforce", CHEETAH), CHEETAH, BlockStreams([1, 2]))
    eps = [random_episode(CHEETAH, 2, rng) for _ in range(3)]
    assert not learner.baseline_set.any()
    means = []
    for k, ep in enumerate(eps):
        b = episode_tensors(ep)
        means.append(returns_to_go((b["r_p"] + b["r_aux"]) * b["mask"], 0.99).mean(-1))
        learner.end_episode(ep, k)                         # delta = 1: every episode
    want = means[0]
    for m in means[1:]:
        want = 0.99 * want + 0.01 * m
    torch.testing.assert_close(learner.baseline, want)
    assert learner.updates == 3


# ----------------------------------------------------------------------------- rollout

@pytest.mark.parametrize("spec", [GRID, MC, CHEETAH], ids=lambda s: s.name)
def test_act_uses_the_episode_noise(spec):
    learner = make_learner(config("reinforce", spec), spec, BlockStreams([1, 2, 3]))
    alone = make_learner(config("reinforce", spec), spec, BlockStreams([2]))
    learner.begin_episode()
    alone.begin_episode()
    obs = random_episode(spec, 3, np.random.default_rng(0)).obs[:, 0]
    for t in (0, 5):
        a = learner.act(obs, t)
        if spec.n_actions:
            assert a.shape == (3,) and a.dtype == np.int64
        else:
            assert a.shape == (3, spec.action_dim)
        np.testing.assert_array_equal(a[1:2], alone.act(obs[1:2], t))


# ----------------------------------------------------------------------------- independence

@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("spec", [GRID, MC, CHEETAH], ids=lambda s: s.name)
def test_agent_in_a_block_learns_as_if_alone(method, spec):
    rng = np.random.default_rng(7)
    cfg = config(method, spec)
    block = make_learner(cfg, spec, BlockStreams([5, 6, 7]))
    alones = [make_learner(cfg, spec, BlockStreams([s])) for s in (5, 6, 7)]
    for k in range(6):
        ep = random_episode(spec, 3, rng)
        block.end_episode(ep, k)
        for i, learner in enumerate(alones):
            learner.end_episode(agent(ep, i), k)
    assert block.updates > 0
    for i, learner in enumerate(alones):
        for pb, pa in zip(block.parameters(), learner.parameters()):
            torch.testing.assert_close(pb[i:i + 1], pa, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- resume

@pytest.mark.parametrize("method,spec", [("reinforce", GRID), ("reinforce-pbrs", MC),
                                         ("actor-critic", GRID), ("actor-critic-pbrs", MC),
                                         ("reinforce", CHEETAH), ("actor-critic", CHEETAH)],
                         ids=lambda x: x if isinstance(x, str) else x.name)
def test_state_dict_round_trip_resumes_identically(method, spec):
    rng = np.random.default_rng(8)
    eps = [random_episode(spec, 2, rng) for _ in range(8)]
    cfg = config(method, spec)
    a = make_learner(cfg, spec, BlockStreams([1, 2]))
    for k in range(4):                                    # stop mid-cycle (pending episodes)
        a.end_episode(eps[k], k)
    buf = io.BytesIO()
    torch.save(encode(a.state_dict()), buf)               # as a checkpoint: data only
    buf.seek(0)
    b = make_learner(cfg, spec, BlockStreams([3, 4]))     # different init, then overwritten
    b.load_state_dict(decode(torch.load(buf, weights_only=True)))
    for k in range(4, 8):
        a.end_episode(eps[k], k)
        b.end_episode(eps[k], k)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    obs = eps[0].obs[:, 0]
    a.begin_episode()
    b.noise = a._noise
    b._noise = a._noise
    np.testing.assert_array_equal(a.act(obs, 0), b.act(obs, 0))


def test_registry_builds_every_baseline_method():
    for method in ALL_METHODS:
        learner = make_learner(config(method), GRID, BlockStreams([0]))
        assert learner.finite().tolist() == [True]
        assert learner.end_episode(random_episode(GRID, 1, np.random.default_rng(0)), 0) == {}


@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_elementwise_optimizers_follow_torch(name):
    """Same algorithm and defaults as torch.optim.RMSprop / Adam (the reference's optimisers)."""
    from barfi.learners.optim import make_optimizer
    torch.manual_seed(0)
    p0 = torch.randn(3, 5, 4)
    ours = torch.nn.Parameter(p0.clone())
    ref = torch.nn.Parameter(p0.clone())
    opt = make_optimizer([ours], name, 1e-2)
    ref_opt = {"rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}[name]([ref], lr=1e-2)
    for _ in range(20):
        g = torch.randn(3, 5, 4)
        for p, o in ((ours, opt), (ref, ref_opt)):
            o.zero_grad()
            p.grad = g.clone()
            o.step()
    torch.testing.assert_close(ours.detach(), ref.detach(), rtol=1e-5, atol=1e-6)
    assert not torch.equal(ours.detach(), p0)
