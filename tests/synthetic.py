"""Synthetic run files for tests and benchmarks, in exactly the format training writes (a test
fixture, not part of the package: tests import it as `synthetic`, benchmarks/bench_report.py
puts tests/ on sys.path).

The first run of each (env, aux, method, config) is built with the package's own
`barfi.dataset.build_dataset` and written with `write_dataset` (xarray/h5netcdf, attributes from
`barfi.config.resolve_config`); further seeds copy that file and overwrite the arrays and the
seed/status attributes in place with h5py, which is ~30x faster than writing each with xarray
and yields the same file layout. Curves are designed, not learned:

    primary_return[e] = level * (1 - exp(-e / tau)) + noise_sd * N(0, 1)

with `level` chosen per (aux, method, config, seed) by the caller, so that the best
configuration (and the difference between selection rules) is known in advance.
"""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from barfi.analysis.inputs import is_barfi

LevelFn = Callable[[str, str, str, int], float]


def default_level(aux: str, method: str, config_id: str, seed: int) -> float:
    return 50.0 + 10.0 * (is_barfi(method))


def run_path(root: Path | str, env: str, aux: str, method: str, config_id: str,
             seed: int) -> Path:
    """The pipeline's layout: {root}/{env}/{aux}/{method}/{config_id}/seed-{seed}.nc"""
    return Path(root) / env / aux / method / config_id / f"seed-{seed}.nc"


def curves(env: str, method: str, seed: int, episodes: int, level: float, *, tau: float = 0.0,
           noise_sd: float = 1.0, diverge_at: int | None = None, grid: int = 33,
           key: str = "", aux: str = "") -> tuple[dict[str, np.ndarray], dict[str, tuple[tuple[str, ...], Any]]]:
    """Per-episode arrays (and GridWorld BARFI phi maps) of one synthetic run; the noise is
    seeded by (seed, key, episodes), so a run's arrays never depend on which others exist.
    As in training, the aux return of aux reward `none` is 0 and the unrolled ablation's
    gamma_phi is constant (not learned)."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{env}/{method}/{key}".encode()), episodes])
    e = np.arange(episodes, dtype=float)
    tau = tau or max(episodes / 10.0, 1.0)
    shape = 1.0 - np.exp(-e / tau)
    pe = {
        "primary_return": level * shape + noise_sd * rng.standard_normal(episodes),
        "aux_return": (aux != "none") * 5.0 * rng.standard_normal(episodes),
        "episode_length": np.round(50 - 30 * shape + rng.uniform(0, 3, episodes)),
        "wall_time": np.cumsum(rng.uniform(0.01, 0.02, episodes)),
    }
    final: dict[str, tuple[tuple[str, ...], Any]] = {}
    if is_barfi(method):
        pe["gamma_phi"] = 0.99 - 0.2 * shape + 0.001 * rng.standard_normal(episodes)
        if method == "barfi-unrolled":
            pe["gamma_phi"] = np.full(episodes, 0.99)
        for k in (1, 2, 3):
            pe[f"phi{k}_mean"] = 0.1 * k * shape + 0.01 * rng.standard_normal(episodes)
        pe["r_phi_return"] = 1.5 * pe["primary_return"] + 3 * rng.standard_normal(episodes)
        if env == "gridworld":
            y, x = np.meshgrid(np.linspace(0, 1, grid), np.linspace(0, 1, grid), indexing="ij")
            final["phi1_map"] = (("grid_y", "grid_x"), -((x - 0.87) ** 2 + (y - 0.87) ** 2)
                                 + 0.01 * rng.standard_normal((grid, grid)))
            final["phi3_map"] = (("grid_y", "grid_x"),
                                 np.where((abs(x - 0.5) < 0.1) & (abs(y - 0.5) < 0.1), -1.0, 0.2)
                                 + 0.01 * rng.standard_normal((grid, grid)))
    if diverge_at is not None:
        for v in pe.values():
            v[diverge_at:] = np.nan
    return pe, final


class SweepWriter:
    """Writes synthetic run files; reuses one xarray-written template per configuration."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self._templates: dict[tuple, Path] = {}

    def write(self, env: str, aux: str, method: str, config_id: str, seed: int, *,
              overrides: dict[str, Any] | None = None, episodes: int = 50, level: float = 50.0,
              diverge_at: int | None = None, noise_sd: float = 1.0) -> Path:
        import h5py

        overrides = dict(overrides or {})
        path = run_path(self.root, env, aux, method, config_id, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        status = "completed" if diverge_at is None else "diverged"
        pe, final = curves(env, method, seed, episodes, level, noise_sd=noise_sd,
                           diverge_at=diverge_at, key=f"{aux}/{config_id}", aux=aux)
        key = (env, aux, method, config_id, episodes, tuple(sorted(overrides.items())))
        template = self._templates.get(key)
        if template is None:
            self._write_xarray(path, env, aux, method, seed, overrides, episodes, pe, final,
                               status)
            self._templates[key] = path
            return path
        shutil.copyfile(template, path)
        with h5py.File(path, "r+") as f:
            for name, values in pe.items():
                f[name][...] = values
            for name, (_, values) in final.items():
                f[name][...] = values
            f.attrs["seed"] = np.int64(seed)
            f.attrs["status"] = status
        return path

    def _write_xarray(self, path, env, aux, method, seed, overrides, episodes, pe, final,
                      status) -> None:
        from barfi.config import resolve_config
        from barfi.dataset import build_dataset, write_dataset

        config = resolve_config(env, aux, method, {**overrides, "episodes": episodes})
        attrs = {"status": status, "synthetic": 1, "git_commit": "synthetic",
                 "start_time": "1970-01-01T00:00:00+00:00",
                 "end_time": "1970-01-01T00:00:00+00:00"}
        write_dataset(build_dataset(config, seed, pe, final, attrs), path)


def sweep_spec(n_runs: int, *, env: str = "gridworld",
               auxes: Sequence[str] = ("none", "distance", "center-bonus"),
               methods: Sequence[str] = ("reinforce", "reinforce-pbrs", "actor-critic",
                                         "actor-critic-pbrs", "barfi"),
               seeds: int = 10) -> Iterator[tuple[str, str, str, dict[str, Any], int]]:
    """`n_runs` (aux, method, config_id, overrides, seed) of a benchmark sweep: configurations
    are added (actor_lr varies; BARFI also lambda_gamma and gamma_lr) until n_runs is reached."""
    count = 0
    c = 0
    while True:
        for aux in auxes:
            for method in methods:
                overrides: dict[str, Any] = {"actor_lr": 1e-3 * (1 + c % 5)}
                if is_barfi(method):
                    overrides.update(lambda_gamma=0.0625 * 2 ** (c % 4),
                                     gamma_lr=1 / 64 * 2 ** ((c // 4) % 3))
                for seed in range(seeds):
                    if count == n_runs:
                        return
                    yield aux, method, f"c{c:03d}", overrides, seed
                    count += 1
        c += 1


def make_sweep(root: Path | str, n_runs: int, *, episodes: int = 200, env: str = "gridworld",
               diverged_every: int = 0, seeds: int = 10,
               level: LevelFn = default_level) -> list[Path]:
    """Write a synthetic sweep of `n_runs` run files under `root`; every `diverged_every`-th run
    (if > 0) diverges half-way. Returns the paths."""
    writer = SweepWriter(root)
    paths = []
    for i, (aux, method, cid, overrides, seed) in enumerate(
            sweep_spec(n_runs, env=env, seeds=seeds)):
        div = episodes // 2 if diverged_every and i % diverged_every == diverged_every - 1 \
            else None
        paths.append(writer.write(env, aux, method, cid, seed, overrides=overrides,
                                  episodes=episodes, level=level(aux, method, cid, seed),
                                  diverge_at=div))
    return paths
