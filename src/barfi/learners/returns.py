"""Return and shaping computations shared by the learners (torch, batched, differentiable).

Conventions: rewards are (B, ..., T) with the agent dim first and time last (T = horizon + 1,
the padded episode length of `EpisodeBatch`); `mask` is 1.0 for real steps; `gamma` is a float
or a tensor broadcastable to the leading dims, typically (B,) -- one discount per agent, which
may carry an autograd graph (BARFI's learned gamma_phi): every function here is differentiable
in both the rewards and gamma.
"""

from __future__ import annotations

import torch

# Chunk length of the blocked scan in `returns_to_go`: within a chunk the discounted sums are
# one batched matrix product (powers gamma^0 .. gamma^(C-1), never negative powers), between
# chunks a short backward loop carries the return. T = 2001 needs 32 loop steps, not 2001.
_CHUNK = 64


def _gamma_like(gamma, ref: torch.Tensor) -> torch.Tensor:
    """gamma as a tensor of shape (B, 1, ..., 1) (or a 0-d tensor), on ref's device/dtype."""
    g = torch.as_tensor(gamma, dtype=ref.dtype, device=ref.device)
    if g.dim() == 0:
        return g
    return g.reshape(g.shape + (1,) * (ref.dim() - g.dim()))


def returns_to_go(rewards: torch.Tensor, gamma) -> torch.Tensor:
    """G_t = sum_{k >= t} gamma^(k - t) r_k along the last dim (rewards past the end of an
    episode must already be zero: multiply by the mask first).

    rewards (B, ..., T); gamma float, 0-d tensor, or (B,) / (B, ...) tensor broadcast over the
    leading dims. Differentiable in rewards and gamma. Computed by a blocked scan (exact up to
    float rounding; equal to the sequential recursion G_t = r_t + gamma G_{t+1})."""
    T = rewards.shape[-1]
    g = _gamma_like(gamma, rewards)                              # (B, 1, .., 1) or ()
    C = min(_CHUNK, T)
    n_chunks = -(-T // C)
    pad = n_chunks * C - T
    r = torch.nn.functional.pad(rewards, (0, pad)) if pad else rewards
    lead = r.shape[:-1]
    r = r.reshape(lead + (n_chunks, C))                          # (..., n, C)
    k = torch.arange(C, device=r.device, dtype=r.dtype)
    diff = k[:, None] - k[None, :]                               # [k, j] = k - j
    upper = diff >= 0
    # gamma with one trailing singleton dropped: batch dims of the matmul match r's lead dims
    gm = g[..., 0][..., None, None] if g.dim() else g            # (B, 1.., 1, 1)
    # M[k, j] = gamma^(k - j) for k >= j else 0; local[j] = sum_k r[k] M[k, j]
    M = torch.where(upper, gm ** diff.clamp(min=0),
                    torch.zeros((), dtype=r.dtype, device=r.device))
    local = torch.matmul(r, M)                                   # (..., n, C)
    carry_w = g ** (C - k)                                       # gamma^(C - j): (B, 1.., C)
    chunks = []
    nxt = torch.zeros(lead, dtype=r.dtype, device=r.device)      # return at the chunk's end
    for c in range(n_chunks - 1, -1, -1):
        G = local[..., c, :] + carry_w * nxt[..., None]
        chunks.append(G)
        nxt = G[..., 0]
    G = torch.stack(chunks[::-1], dim=-2).reshape(lead + (n_chunks * C,))
    return G[..., :T] if pad else G


def discount_weights(gamma, T: int, ref: torch.Tensor) -> torch.Tensor:
    """gamma^t for t = 0..T-1, shaped to broadcast against ref (B, ..., T)."""
    t = torch.arange(T, device=ref.device, dtype=ref.dtype)
    return _gamma_like(gamma, ref) ** t


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
