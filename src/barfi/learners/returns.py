"""Return and shaping computations shared by the learners (torch, batched, differentiable).

Conventions: rewards are (B, ..., T) with the agent dim first and time last (T = horizon + 1,
the padded episode length of `EpisodeBatch`); `mask` is 1.0 for real steps; `gamma` is a float
or a (B,) tensor -- one discount per agent, which may carry an autograd graph (BARFI's learned
gamma_phi): every function here is differentiable in both the rewards and gamma.

Per-agent exactness: nothing here mixes agents, and the operations are chosen so that an
agent's numbers are bit-identical alone or inside a block (elementwise arithmetic only; no
BLAS products, whose rounding can depend on the batch size, and no vectorised pow, whose
SIMD body and scalar tail may round differently).
"""

from __future__ import annotations

import math

import torch


def _gamma_like(gamma, ref: torch.Tensor) -> torch.Tensor:
    """gamma as a tensor of shape (B, 1, ..., 1) (or a 0-d tensor), on ref's device/dtype."""
    g = torch.as_tensor(gamma, dtype=ref.dtype, device=ref.device)
    if g.dim() == 0:
        return g
    return g.reshape(g.shape + (1,) * (ref.dim() - g.dim()))


def _per_agent_gamma(gamma, ref: torch.Tensor) -> torch.Tensor:
    """gamma as a (B,) tensor on ref's device and dtype."""
    B = ref.shape[0]
    g = torch.as_tensor(gamma, dtype=ref.dtype, device=ref.device)
    if g.dim() == 0:
        g = g.expand(B)
    if g.shape != (B,):
        raise ValueError(f"gamma must be a scalar or of shape ({B},), got {tuple(g.shape)}")
    return g


def returns_to_go(rewards: torch.Tensor, gamma) -> torch.Tensor:
    """G_t = sum_{k >= t} gamma^(k - t) r_k along the last dim (rewards past the end of an
    episode must already be zero: multiply by the mask first).

    rewards (B, ..., T); gamma a float, a 0-d tensor or a (B,) tensor (one discount per agent).
    Differentiable in rewards and gamma.

    A two-level scan of the recursion G_t = r_t + gamma G_{t+1}: the horizon is cut into chunks
    of C ~ sqrt(T) steps; one backward loop of C steps runs inside all chunks at once (starting
    from 0), then one loop over the chunks adds gamma^(C - j) G(start of the next chunk). That
    is C + T/C tensor operations instead of T (89 instead of 2001 for MountainCar). Only
    elementwise multiplications and additions are used (no BLAS, no pow), so an agent's values
    are bit-identical whatever the rest of the batch."""
    shape, T, B = rewards.shape, rewards.shape[-1], rewards.shape[0]
    g = _per_agent_gamma(gamma, rewards)
    C = max(1, math.isqrt(T - 1) + 1) if T > 1 else 1
    n = -(-T // C)                                               # number of chunks
    pad = n * C - T
    r = torch.nn.functional.pad(rewards, (0, pad)) if pad else rewards
    r = r.reshape(B, -1, n, C)                                   # (B, rows, n, C)
    gb = g[:, None, None]                                        # (B, 1, 1)
    # inside every chunk: local_j = r_j + gamma local_{j+1}, local_C = 0; and gamma^(C - j)
    local, acc = [None] * C, torch.zeros(r.shape[:3], dtype=r.dtype, device=r.device)
    carry, power = [None] * C, g
    for j in range(C - 1, -1, -1):
        acc = r[..., j] + gb * acc
        local[j] = acc
        carry[j] = power
        power = power * g
    local = torch.stack(local, -1)                               # (B, rows, n, C)
    carry = torch.stack(carry, -1)[:, None, :]                   # (B, 1, C)
    # across chunks: G = local + gamma^(C - j) G(next chunk start)
    out, nxt = [None] * n, torch.zeros(r.shape[:2], dtype=r.dtype, device=r.device)
    for c in range(n - 1, -1, -1):
        G = local[:, :, c, :] + carry * nxt[..., None]
        out[c] = G
        nxt = G[..., 0]
    G = torch.stack(out, dim=2).reshape(shape[:-1] + (n * C,))
    return G[..., :T] if pad else G


def discount_weights(gamma, T: int, ref: torch.Tensor) -> torch.Tensor:
    """gamma^t for t = 0..T-1, (T,) for a scalar gamma, (B, 1, ..., 1, T) for a (B,) gamma,
    to broadcast against ref (B, ..., T). Differentiable in gamma; a per-agent gamma's powers
    come from a running product (per-agent exact, whatever the batch)."""
    g = torch.as_tensor(gamma, dtype=ref.dtype, device=ref.device)
    t = torch.arange(T, device=ref.device, dtype=ref.dtype)
    if g.dim() == 0:
        return g ** t
    g = _per_agent_gamma(g, ref)
    steps = torch.cat([torch.ones_like(g)[:, None], g[:, None].expand(-1, T - 1)], 1)
    w = torch.cumprod(steps, dim=1)                              # (B, T)
    return w.reshape((ref.shape[0],) + (1,) * (ref.dim() - 2) + (T,))


def shift_left(x: torch.Tensor) -> torch.Tensor:
    """x[t + 1] along the last dim, with 0 after the end."""
    return torch.nn.functional.pad(x[..., 1:], (0, 1))


def pbrs_shaped_rewards(rewards: torch.Tensor, potential: torch.Tensor, gamma,
                        mask: torch.Tensor) -> torch.Tensor:
    """Potential-based shaping r'_t = r_t + gamma Phi_{t+1} - Phi_t, masked.

    `potential` (B, ..., T) is Phi(S_t) (the reference uses Phi_t = r_aux of step t), zero
    past the episode's end, so the last step gets r - Phi_{L-1} (Phi of the state after the
    last step is taken as 0, whether the episode terminated or was truncated). This is the
    reference's ActorCriticPotential (barfi-*/src/algorithms/ActorCriticPotential.py)."""
    phi = potential * mask
    g = _gamma_like(gamma, rewards)
    return (rewards + g * shift_left(phi) - phi) * mask


def pbrs_returns(rewards: torch.Tensor, potential: torch.Tensor, gamma,
                 mask: torch.Tensor) -> torch.Tensor:
    """Returns of the potential-shaped reward: G'_t = G_t(r) - Phi_t (with Phi after the end
    = 0), which telescopes from `pbrs_shaped_rewards`. The reference's REINFORCEPotential
    computes exactly G_t(r_p) - r_aux_t."""
    return (returns_to_go(rewards * mask, gamma) - potential) * mask


__all__ = ["returns_to_go", "discount_weights", "shift_left", "pbrs_shaped_rewards",
           "pbrs_returns"]
