"""State features: fixed maps obs -> features shared by every method's linear heads. Each
environment picks its own (`EnvSpec.features`, `EnvSpec.make_features`); the published ones:

| env          | features                                   | F   | reference file                   |
|--------------|--------------------------------------------|-----|----------------------------------|
| gridworld    | coupled Fourier basis, order 3, 2 dims     | 16  | barfi-gw/src/utils/Basis.py      |
| cartpole     | coupled Fourier basis, order 3, 4 dims     | 256 | barfi-cp/src/utils/Basis.py      |
| mountaincar  | tile coding, 5 tilings x 4 tiles per dim   | 80  | barfi-mc/src/utils/Basis.py      |
| halfcheetah  | fixed random Linear(17 -> 32) + ReLU       | 32  | barfi-mujoco/src/utils/Basis.py  |

Every feature map works on a leading agent dimension B and any number of middle dims:
`np(obs (B, ..., D)) -> (B, ..., F)` (float64, for the rollout) and
`torch(obs tensor (B, ..., D)) -> tensor (B, ..., F)` (float32, for learning). The torch path
computes in float64 and casts at the end, so both paths give the same float32 values (tile
indices in particular never differ between rollout and learning).

None of the maps carries a bias feature: the policy, critic and reward heads are affine
(`nn.Linear` with bias in the reference), so the bias lives in the heads.

Facts settled from the authors' code (Dhawgupta/gupta2023behavior):
- Fourier: coefficient vectors are all of {0..order}^D in `itertools.product` order (last
  dimension fastest); phi_i(x) = cos(pi * c_i . x) with x = (obs - low) / (high - low), not
  clipped (normalisation bounds of the env: `EnvSpec.obs_low/obs_high`).
- Tile coding: the reference uses PyFixedReps==1.0.0 (`requirements.txt`) with
  tiles=4, tilings=5, input_ranges = observation-space bounds, scale_output=True (each active
  tile is 1/tilings), tiling n offset by n * tile_length / tilings on every dim. Version 1.0.0
  computes the min-max scaled position but passes the UNSCALED one to the index computation
  (fixed upstream in 2.0.0), so the published MountainCar runs tile the raw (x, v) with tiles
  of width 1/4 + 1e-16 and wrap indices modulo 4^2: velocity (|v| <= 0.07) barely registers.
  Modes here: "clip" (default, correct: scaled input, cells clipped to the 4x4 grid),
  "wrap" (PyFixedReps >= 2.0: scaled input, cell indices wrap modulo 4^D) and
  "published" (PyFixedReps 1.0.0 exactly: raw input).
- Random ReLU features (HalfCheetah, basis "NN" with NN_basis_dim 32, state_lr 0): raw
  observations (no normalisation), torch's default Linear init U(-1/sqrt(17), 1/sqrt(17)) for
  weight and bias; never trained. Here each agent draws them from its own `init` stream.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch

TILE_MODES = ("clip", "wrap", "published")


class Features:
    """Base class: a fixed feature map with numpy and torch versions."""

    dim: int
    """number of features F"""
    obs_dim: int
    """observation size D"""
    per_agent: bool = False
    """whether each agent has its own map (then `np_rows` computes every row)"""

    def np(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def torch(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def np_rows(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """`np(obs)` (B, F) on the agents `rows` (a (B,) bool mask) only; other rows are 0.
        For the rollout, whose finished agents' actions are ignored. Bit-identical to `np` on
        the selected rows: a map without per-agent state computes each row on its own, and
        at least two rows are computed so numpy's matrix product never switches from its
        matrix-matrix kernel to the matrix-vector one (whose rounding differs)."""
        rows = np.asarray(rows, bool)
        if rows.all() or self.per_agent:
            return self.np(obs)
        chosen = rows.copy()
        if chosen.sum() < 2:
            chosen[np.flatnonzero(~chosen)[:2 - chosen.sum()]] = True
        out = np.zeros((len(rows), self.dim))
        out[chosen] = self.np(obs[chosen])
        return out

    def torch_padded(self, obs: torch.Tensor) -> torch.Tensor:
        """`torch(obs)` for obs (B, ..., D) padded with zero observations past the episodes'
        ends: the map runs only on the nonzero observations (plus two zero ones), and every
        zero observation gets the zero one's features. Equal to `torch(obs)` bit for bit for
        maps without per-agent state (each row's features depend on its observation alone,
        computed by the same kernels as long as at least two rows go through the matrix
        product), and much cheaper when episodes are far shorter than the horizon (CartPole:
        500 steps, ~20 used early on)."""
        flat = obs.reshape(-1, obs.shape[-1])
        live = (flat != 0).any(-1)
        rows = torch.nonzero(live).reshape(-1)
        if self.per_agent or 2 * len(rows) > len(live):       # gathering would cost more
            return self.torch(obs)
        zeros = torch.zeros((2, flat.shape[1]), dtype=flat.dtype, device=flat.device)
        feats = self.torch(torch.cat([flat[rows], zeros]))
        out = feats[-1].expand(flat.shape[0], feats.shape[1]).clone()
        out[rows] = feats[:-2]
        return out.reshape(obs.shape[:-1] + (feats.shape[1],))

    def state_dict(self) -> dict[str, Any]:
        """Per-agent state (only the random features have any)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def _bounds(low, high, dim: int) -> tuple[np.ndarray, np.ndarray]:
    low = np.asarray(low, dtype=np.float64).reshape(dim)
    high = np.asarray(high, dtype=np.float64).reshape(dim)
    if np.any(high <= low):
        raise ValueError(f"feature normalisation bounds need high > low: {low}, {high}")
    return low, high


class FourierBasis(Features):
    """Coupled cosine Fourier basis of order n on min-max normalised observations:
    F = (n + 1)^D features cos(pi * c . x), c in {0..n}^D (c = 0 gives the constant 1)."""

    def __init__(self, obs_low, obs_high, order: int = 3, device: str | torch.device = "cpu"):
        self.obs_dim = len(obs_low)
        self.order = order
        self.low, self.high = _bounds(obs_low, obs_high, self.obs_dim)
        self.scale = 1.0 / (self.high - self.low)
        coeffs = np.array(list(itertools.product(range(order + 1), repeat=self.obs_dim)),
                          dtype=np.float64)                       # (F, D)
        self.coeffs = coeffs
        self.dim = coeffs.shape[0]
        self._proj = np.ascontiguousarray((coeffs * np.pi).T)    # (D, F): pi * c^T
        self.device = torch.device(device)
        self._t_low = torch.as_tensor(self.low, dtype=torch.float64, device=self.device)
        self._t_scale = torch.as_tensor(self.scale, dtype=torch.float64, device=self.device)
        self._t_proj = torch.as_tensor(self._proj, dtype=torch.float64, device=self.device)

    def np(self, obs: np.ndarray) -> np.ndarray:
        x = (np.asarray(obs, dtype=np.float64) - self.low) * self.scale
        return np.cos(x @ self._proj)

    def torch(self, obs: torch.Tensor) -> torch.Tensor:
        x = (obs.to(device=self.device, dtype=torch.float64) - self._t_low) * self._t_scale
        return torch.cos(x @ self._t_proj).to(torch.float32)


class TileCoding(Features):
    """Grid tile coding with `tilings` uniformly offset tilings of `tiles` tiles per dim.

    F = tilings * tiles^D; exactly `tilings` features are active, each with value 1/tilings.
    Tiling n is shifted by n * (1/tiles) / tilings (in normalised units) on every dim.
    `mode`: "clip" (default), "wrap" or "published" -- see the module docstring.
    """

    def __init__(self, obs_low, obs_high, tiles: int = 4, tilings: int = 5, mode: str = "clip",
                 device: str | torch.device = "cpu"):
        if mode not in TILE_MODES:
            raise ValueError(f"unknown tile coding mode {mode!r}; valid: {', '.join(TILE_MODES)}")
        self.obs_dim = len(obs_low)
        self.tiles, self.tilings, self.mode = tiles, tilings, mode
        self.low, self.high = _bounds(obs_low, obs_high, self.obs_dim)
        self.tiles_per_tiling = tiles ** self.obs_dim
        self.dim = tilings * self.tiles_per_tiling
        if mode == "published":
            # PyFixedReps 1.0.0: tile length 1/tiles + 1e-16 in raw units, the same offsets.
            self.tile_length = 1.0 / tiles + 1e-16
        else:
            self.tile_length = 1.0 / tiles
        self.offsets = np.arange(tilings, dtype=np.float64) * (self.tile_length / tilings)
        self.place = tiles ** np.arange(self.obs_dim)               # (D,) int
        self.base = np.arange(tilings) * self.tiles_per_tiling     # (T,)
        self.device = torch.device(device)

    # Index computation, written once for both array libraries (xp = np or torch).
    def _indices(self, obs, xp):
        """Active feature index per tiling: (B, ..., D) -> (B, ..., tilings) int64."""
        if xp is np:
            obs = np.asarray(obs, dtype=np.float64)
            offsets, low, high = self.offsets, self.low, self.high
            place, base = self.place, self.base
        else:
            obs = obs.to(device=self.device, dtype=torch.float64)
            t = lambda a, dt=torch.float64: torch.as_tensor(a, dtype=dt, device=self.device)
            offsets, low, high = t(self.offsets), t(self.low), t(self.high)
            place, base = t(self.place, torch.int64), t(self.base, torch.int64)
        if self.mode != "published":
            obs = (obs - low) / (high - low)
        pos = obs[..., None, :] + offsets[:, None]                  # (..., T, D)
        if self.mode == "published":
            cells = xp.floor_divide(pos + 1e-16, self.tile_length)
        else:
            cells = xp.floor(pos * self.tiles)
        if self.mode == "clip":
            cells = xp.clip(cells, 0, self.tiles - 1)
        if xp is np:
            cells = cells.astype(np.int64)
        else:
            cells = cells.to(torch.int64)
        idx = (cells * place).sum(-1)                               # (..., T)
        if self.mode != "clip":
            idx = xp.remainder(idx, self.tiles_per_tiling)          # non-negative, as Python %
        return idx + base

    def np(self, obs: np.ndarray) -> np.ndarray:
        idx = self._indices(obs, np)
        flat = idx.reshape(-1, self.tilings)
        out = np.zeros((flat.shape[0], self.dim))
        out[np.arange(flat.shape[0])[:, None], flat] = 1.0 / self.tilings
        return out.reshape(idx.shape[:-1] + (self.dim,))

    def torch(self, obs: torch.Tensor) -> torch.Tensor:
        idx = self._indices(obs, torch)
        out = torch.zeros(idx.shape[:-1] + (self.dim,), dtype=torch.float32, device=self.device)
        return out.scatter_(-1, idx, 1.0 / self.tilings)


def torch_linear_init(gen: np.random.Generator, fan_in: int, fan_out: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """torch.nn.Linear's default initialisation drawn from a numpy Generator:
    weight (fan_out, fan_in) and bias (fan_out,), both U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    (kaiming_uniform with a = sqrt(5) reduces to this bound). Weight first, then bias."""
    bound = 1.0 / np.sqrt(fan_in)
    weight = gen.uniform(-bound, bound, size=(fan_out, fan_in))
    bias = gen.uniform(-bound, bound, size=(fan_out,))
    return weight, bias


class RandomReLUFeatures(Features):
    """relu(obs @ W + b) with fixed per-agent W (B, D, F), b (B, F) on raw observations."""

    per_agent = True

    def __init__(self, weight: np.ndarray, bias: np.ndarray, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self._set(weight, bias)

    @classmethod
    def init(cls, gens: list[np.random.Generator], obs_dim: int, dim: int = 32,
             device: str | torch.device = "cpu") -> "RandomReLUFeatures":
        """Draw each agent's layer from its generator like torch's default Linear init.
        The weights are stored in float32 (as torch would hold them)."""
        ws, bs = [], []
        for g in gens:
            w, b = torch_linear_init(g, obs_dim, dim)
            ws.append(w.T)
            bs.append(b)
        return cls(np.stack(ws), np.stack(bs), device)

    def _set(self, weight, bias) -> None:
        # float32 values (as torch holds them) in float64, C-contiguous (a fixed summation order)
        self.weight = np.ascontiguousarray(np.asarray(weight, np.float32), np.float64)  # (B,D,F)
        self.bias = np.ascontiguousarray(np.asarray(bias, np.float32), np.float64)      # (B, F)
        self.obs_dim, self.dim = self.weight.shape[1:]
        self._t_weight = torch.as_tensor(self.weight, device=self.device)
        self._t_bias = torch.as_tensor(self.bias, device=self.device)

    def np(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        B = obs.shape[0]
        flat = obs.reshape(B, -1, self.obs_dim)                   # (B, N, D)
        h = np.matmul(flat, self.weight) + self.bias[:, None, :]
        return np.maximum(h, 0.0).reshape(obs.shape[:-1] + (self.dim,))

    def torch(self, obs: torch.Tensor) -> torch.Tensor:
        obs = obs.to(device=self.device, dtype=torch.float64)
        B = obs.shape[0]
        flat = obs.reshape(B, -1, self.obs_dim)
        h = torch.baddbmm(self._t_bias[:, None, :], flat, self._t_weight)
        return torch.relu(h).reshape(obs.shape[:-1] + (self.dim,)).to(torch.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"weight": self.weight.copy(), "bias": self.bias.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._set(state["weight"], state["bias"])


__all__ = ["Features", "FourierBasis", "TileCoding", "RandomReLUFeatures", "TILE_MODES",
           "torch_linear_init"]
