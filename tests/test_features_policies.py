"""Features (Fourier, tile coding, random ReLU) and batched policies (softmax, Gaussian):
numpy and torch agree, hand-checked values, the reference's tile coder, sampling, densities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from barfi.envs.mountaincar import MountainCarOptions
from barfi.features import TileCoding, torch_linear_init
from barfi.policies import GaussianPolicy, SoftmaxPolicy, make_policy
from barfi.rng import BlockStreams
from stand_ins import Spec


GRID = Spec("gridworld", 2, 4, horizon=20, obs_low=(0.0, 0.0), obs_high=(1.0, 1.0))
CART = Spec("cartpole", 4, 2, horizon=20, obs_low=(-2.4, -3.5, -0.2095, -3.5), obs_high=(2.4, 3.5, 0.2095, 3.5))
MC = Spec("mountaincar", 2, 3, horizon=20, obs_low=(-1.2, -0.07), obs_high=(0.5, 0.07))
CHEETAH = Spec("halfcheetah", 17, None, 6, -1.0, 1.0, horizon=20)


def sample_obs(spec, shape, rng):
    if spec.obs_low is None:
        return rng.normal(size=shape + (spec.obs_dim,)) * 2
    lo, hi = np.array(spec.obs_low), np.array(spec.obs_high)
    span = hi - lo
    return lo - 0.1 * span + rng.random(shape + (spec.obs_dim,)) * 1.2 * span


# ----------------------------------------------------------------------------- features

def test_fourier_feature_count_and_hand_value():
    f = GRID.make_features(BlockStreams([0]))
    assert f.dim == 16
    assert CART.make_features(BlockStreams([0])).dim == 256
    x = f.np(np.array([[0.25, 0.5]]))
    # coefficient vectors in itertools.product order: index of c = (1, 2) is 1*4 + 2 = 6
    assert x.shape == (1, 16)
    assert x[0, 0] == pytest.approx(1.0)                                  # c = (0, 0)
    assert x[0, 6] == pytest.approx(math.cos(math.pi * (1 * 0.25 + 2 * 0.5)))
    assert x[0, 15] == pytest.approx(math.cos(math.pi * (3 * 0.25 + 3 * 0.5)))
    # CartPole: normalised by the reference's bounds, x = (obs - low) / (high - low)
    c = CART.make_features(BlockStreams([0]))
    obs = np.array([[1.2, 0.0, 0.0, -3.5]])                               # -> (0.75, .5, .5, 0)
    idx = ((1 * 4 + 0) * 4 + 2) * 4 + 3                                   # c = (1, 0, 2, 3)
    assert c.np(obs)[0, idx] == pytest.approx(math.cos(math.pi * (0.75 + 2 * 0.5 + 0)))


@pytest.mark.parametrize("spec,mode", [(GRID, "clip"), (CART, "clip"), (MC, "clip"),
                                       (MC, "wrap"), (MC, "published"), (CHEETAH, "clip")],
                         ids=["gridworld", "cartpole", "mc-clip", "mc-wrap", "mc-published",
                              "halfcheetah"])
def test_features_numpy_equals_torch(spec, mode):
    rng = np.random.default_rng(0)
    f = spec.make_features(BlockStreams([1, 2, 3]),
                           options=MountainCarOptions(mode) if spec is MC else None)
    obs = sample_obs(spec, (3, 4, 7), rng)                                # (B, N, T, D)
    a = f.np(obs)
    b = f.torch(torch.as_tensor(obs))
    assert a.shape == (3, 4, 7, f.dim) and b.dtype == torch.float32
    np.testing.assert_allclose(b.numpy(), a.astype(np.float32), rtol=1e-6, atol=1e-6)
    # rollout shape (B, D)
    np.testing.assert_allclose(f.np(obs[:, 0, 0]), a[:, 0, 0])


def pyfixedreps(obs, low, high, version, tiles=4, tilings=5):
    """Transcription of PyFixedReps' TileCoder.encode (scale_output=True, evenly offset
    tilings): version 1 = 1.0.0 (the reference's pin; the scaled input is computed but the
    raw one is used), version 2 = 2.0.0 (scaled input)."""
    dims = len(obs)
    if version == 1:
        tile_length = 1.0 / tiles + 1e-16
        pos = list(obs)
    else:
        tile_length = 1.0 / tiles
        pos = [(o - lo) / (hi - lo) for o, lo, hi in zip(obs, low, high)]
    vec = np.zeros(tilings * tiles ** dims)
    for n in range(tilings):
        off = n * (tile_length / tilings)
        ind = 0
        for d in range(dims):
            p = pos[d] + off
            ind += ((p + 1e-16) // tile_length if version == 1 else int(math.floor(p * tiles))) \
                * tiles ** d
        vec[int(ind % tiles ** dims) + tiles ** dims * n] = 1
    return vec / tilings


@pytest.mark.parametrize("mode,version", [("published", 1), ("wrap", 2)])
def test_tile_coding_matches_pyfixedreps(mode, version):
    rng = np.random.default_rng(1)
    f = TileCoding(MC.obs_low, MC.obs_high, mode=mode)
    obs = sample_obs(MC, (200,), rng)
    got = f.np(obs)
    want = np.stack([pyfixedreps(o, MC.obs_low, MC.obs_high, version) for o in obs])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode", ["clip", "wrap", "published"])
def test_tile_coding_activates_exactly_one_tile_per_tiling(mode):
    f = MC.make_features(BlockStreams([0]), options=MountainCarOptions(mode))
    assert f.dim == 80
    obs = sample_obs(MC, (500,), np.random.default_rng(2))
    x = f.np(obs)
    assert np.all((x > 0).sum(-1) == 5)
    assert np.allclose(x[x > 0], 0.2)
    per_tiling = (x.reshape(500, 5, 16) > 0).sum(-1)
    assert np.all(per_tiling == 1)


def test_tile_coding_clip_is_a_grid_without_aliasing():
    f = TileCoding(MC.obs_low, MC.obs_high, mode="clip")
    # tiling 0 splits [low, high] into 4 equal cells per dim: cell (i, j) -> index i + 4 j
    lo, hi = np.array(MC.obs_low), np.array(MC.obs_high)
    for i in range(4):
        for j in range(4):
            obs = lo + (np.array([i, j]) + 0.5) / 4 * (hi - lo)
            assert np.flatnonzero(f.np(obs[None]))[0] == i + 4 * j
    # the top-right corner never aliases to a low cell of another tiling row
    top = f.np(hi[None] + 1e-9)[0].reshape(5, 16)
    assert np.all(top.argmax(-1) == 15)
    # velocity is resolved (the published coder tiles raw v in [-0.07, 0.07] with tiles of
    # width 0.25: at a fixed position it tells at most 4 velocity bands apart)
    pub = TileCoding(MC.obs_low, MC.obs_high, mode="published")
    obs = np.stack([np.full(141, -0.5), np.linspace(-0.07, 0.07, 141)], -1)
    assert len(np.unique(pub.np(obs), axis=0)) <= 4
    assert len(np.unique(f.np(obs), axis=0)) >= 16


def test_random_relu_features_per_agent_and_deterministic():
    block = CHEETAH.make_features(BlockStreams([5, 6, 7]))
    alone = CHEETAH.make_features(BlockStreams([6]))
    again = CHEETAH.make_features(BlockStreams([5, 6, 7]))
    assert block.dim == 32 and block.weight.shape == (3, 17, 32)
    np.testing.assert_array_equal(block.weight[1], alone.weight[0])
    np.testing.assert_array_equal(block.bias[1], alone.bias[0])
    np.testing.assert_array_equal(block.weight, again.weight)
    assert not np.array_equal(block.weight[0], block.weight[1])
    bound = 1 / math.sqrt(17)
    assert np.abs(block.weight).max() <= bound and np.abs(block.bias).max() <= bound
    obs = np.random.default_rng(0).normal(size=(3, 17))
    x = block.np(obs)
    assert np.all(x >= 0)
    want = np.maximum(obs[1] @ block.weight[1] + block.bias[1], 0)
    np.testing.assert_allclose(x[1], want)
    # state round trip
    other = CHEETAH.make_features(BlockStreams([8, 9, 10]))
    other.load_state_dict(block.state_dict())
    np.testing.assert_array_equal(other.np(obs), x)


def test_torch_linear_init_distribution():
    g = np.random.default_rng(0)
    w, b = torch_linear_init(g, 16, 4)
    assert w.shape == (4, 16) and b.shape == (4,)
    assert np.abs(w).max() <= 0.25 and np.abs(b).max() <= 0.25
    w, _ = torch_linear_init(np.random.default_rng(1), 400, 400)
    assert w.std() == pytest.approx(0.05 / math.sqrt(3), rel=0.02)     # U(-k, k): k / sqrt 3


# ----------------------------------------------------------------------------- policies

def test_policy_init_per_agent_and_same_under_blocks():
    block = make_policy(GRID, 16, BlockStreams([5, 6, 7]))
    alone = make_policy(GRID, 16, BlockStreams([6]))
    assert isinstance(block, SoftmaxPolicy)
    assert block.weight.shape == (3, 16, 4) and block.bias.shape == (3, 4)
    assert torch.equal(block.weight[1], alone.weight[0])
    assert torch.equal(block.bias[1], alone.bias[0])
    assert block.weight.abs().max() <= 0.25
    g = make_policy(CHEETAH, 32, BlockStreams([1, 2]))
    assert isinstance(g, GaussianPolicy) and g.weight.shape == (2, 32, 6)


def test_softmax_sampling_frequencies_match_probabilities():
    n = 40000
    rng = np.random.default_rng(0)
    w = np.broadcast_to(rng.normal(size=(1, 5, 4)), (n, 5, 4))
    b = np.broadcast_to(rng.normal(size=(1, 4)), (n, 4))
    pol = SoftmaxPolicy(w, b)
    feats = np.broadcast_to(rng.normal(size=(1, 5)), (n, 5)).copy()
    probs = pol.probs_np(feats)[0]
    actions = pol.act(feats, rng.random(n))
    freq = np.bincount(actions, minlength=4) / n
    assert actions.dtype == np.int64
    np.testing.assert_allclose(freq, probs, atol=4 * np.sqrt(probs * (1 - probs) / n).max())
    # torch agrees with the numpy snapshot
    tp = torch.softmax(pol.logits(torch.as_tensor(feats, dtype=torch.float32)), -1)
    np.testing.assert_allclose(tp[0].detach().numpy(), probs, rtol=1e-5)
    # inverse CDF edge cases: u = 0 -> first action with positive mass; u -> 1 -> last action
    u = np.full(n, 0.5)
    u[:2] = [0.0, 1 - 1e-12]
    assert pol.act(feats, u)[:2].tolist() == [0, 3]


def test_softmax_log_prob_and_entropy_match_torch_distributions():
    rng = np.random.default_rng(3)
    pol = SoftmaxPolicy.init(BlockStreams([1, 2])["init"], 6, 3)
    feats = torch.as_tensor(rng.normal(size=(2, 4, 5, 6)), dtype=torch.float32)
    actions = torch.as_tensor(rng.integers(0, 3, size=(2, 4, 5)))
    logits = torch.einsum("bntf,bfa->bnta", feats, pol.weight) + pol.bias[:, None, None]
    dist = torch.distributions.Categorical(logits=logits)
    torch.testing.assert_close(pol.log_prob(feats, actions), dist.log_prob(actions))
    torch.testing.assert_close(pol.entropy(feats), dist.entropy())
    lp, ent = pol.log_prob_and_entropy(feats, actions)
    torch.testing.assert_close(lp, dist.log_prob(actions))
    torch.testing.assert_close(ent, dist.entropy())
    # functional parameters
    params = [p.detach() * 2 for p in pol.parameters()]
    logits2 = torch.einsum("bntf,bfa->bnta", feats, params[0]) + params[1][:, None, None]
    torch.testing.assert_close(pol.log_prob(feats, actions, params),
                               torch.distributions.Categorical(logits=logits2).log_prob(actions))


def test_gaussian_policy_act_log_prob_entropy():
    rng = np.random.default_rng(4)
    pol = GaussianPolicy.init(BlockStreams([1, 2, 3])["init"], 8, 6, -1.0, 1.0, std=0.1)
    feats = rng.normal(size=(3, 8))
    z = rng.normal(size=(3, 6))
    mean = pol.mean_np(feats)
    assert np.all(np.abs(mean) < 1)
    np.testing.assert_allclose(pol.act(feats, z), mean + 0.1 * z)
    ft = torch.as_tensor(feats, dtype=torch.float32)
    torch.testing.assert_close(pol.mean(ft).double(), torch.as_tensor(mean), rtol=1e-5, atol=1e-6)
    actions = torch.as_tensor(pol.act(feats, z), dtype=torch.float32)
    dist = torch.distributions.Normal(pol.mean(ft), 0.1)
    torch.testing.assert_close(pol.log_prob(ft, actions), dist.log_prob(actions).sum(-1))
    torch.testing.assert_close(pol.entropy(ft), dist.entropy().mean(-1))
    # (B, T, F) with (B, T, A)
    ft3 = torch.as_tensor(rng.normal(size=(3, 5, 8)), dtype=torch.float32)
    a3 = torch.as_tensor(rng.normal(size=(3, 5, 6)), dtype=torch.float32)
    assert pol.log_prob(ft3, a3).shape == (3, 5)


def test_policy_sync_and_state_round_trip():
    pol = make_policy(GRID, 16, BlockStreams([1, 2]))
    feats = np.random.default_rng(0).normal(size=(2, 16))
    before = pol.probs_np(feats)
    with torch.no_grad():
        pol.weight[:, :, 0].add_(1.0)
    np.testing.assert_array_equal(pol.probs_np(feats), before)   # snapshot until sync()
    pol.sync()
    assert not np.allclose(pol.probs_np(feats), before)
    other = make_policy(GRID, 16, BlockStreams([3, 4]))
    other.load_state_dict(pol.state_dict())
    np.testing.assert_array_equal(other.probs_np(feats), pol.probs_np(feats))


@pytest.mark.parametrize("env", ["cartpole", "mountaincar", "gridworld"])
def test_live_only_features_are_bit_identical(env):
    """`torch_padded` (features of the nonzero observations only) and `np_rows` (features of
    the running agents only) give exactly the full maps' values where they are used, including
    a block with a single running agent (numpy's matrix-vector kernel rounds differently)."""
    from barfi.envs import ENVS

    spec = ENVS[env]
    feats = spec.make_features(BlockStreams([0, 1, 2]), "cpu", None)
    rng = np.random.default_rng(1)
    low, high = np.asarray(spec.obs_low, float), np.asarray(spec.obs_high, float)
    obs = low + (high - low) * rng.uniform(size=(6, 4, 40, len(low)))
    for i, length in enumerate(rng.integers(1, 15, size=24)):      # mostly padding
        obs.reshape(24, 40, -1)[i, length:] = 0.0
    for o in (torch.as_tensor(obs), torch.as_tensor(obs, dtype=torch.float32)):
        assert torch.equal(feats.torch_padded(o), feats.torch(o))
    step = obs[:, 0, 0]                                                  # (6, D)
    for running in ([1, 0, 0, 0, 0, 0], [0, 1, 1, 0, 1, 0], [1] * 6):
        running = np.array(running, bool)
        assert np.array_equal(feats.np_rows(step, running)[running], feats.np(step)[running])
