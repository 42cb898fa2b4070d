"""One cell's comparison: final performance per side, the difference with a bootstrap CI, the
fraction of seeds that solve the task, and the files that hold them.

Final performance of a seed is its mean primary return over the last `FINAL_EPISODES` episodes
(all of them when the budget is shorter). A seed whose final performance is not finite (a barfi
run stopped by the NaN guard) counts as not solving the task and is left out of the means.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from barfi.analysis.stats import final_performance, mean_se
from barfi.dataset import atomic_path

FINAL_EPISODES = 200
BOOTSTRAP_REPS = 10_000
SIDES = ("reference", "barfi")


def overrides_text(overrides: dict) -> str:
    """barfi's overrides as a cell's files record them: 'k=v;k=v', keys sorted."""
    return ";".join(f"{k}={v}" for k, v in sorted(overrides.items()))


def overrides_from_text(text: str) -> dict[str, str]:
    """The inverse of `overrides_text` (values stay strings, as `--set` gives them)."""
    return dict(kv.split("=", 1) for kv in text.split(";") if kv)


def curves_matrix(runs: dict[int, np.ndarray]) -> np.ndarray:
    """(seeds, episodes) in seed order; shorter runs are padded with NaN."""
    n = max(len(r) for r in runs.values())
    out = np.full((len(runs), n), np.nan)
    for i, seed in enumerate(sorted(runs)):
        out[i, :len(runs[seed])] = runs[seed]
    return out


def diff_ci(barfi: np.ndarray, reference: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap CI of mean(barfi) - mean(reference), resampling each side's
    seeds independently (scipy.stats.bootstrap)."""
    from scipy.stats import bootstrap

    if len(barfi) < 2 or len(reference) < 2:
        return float("nan"), float("nan")
    if np.ptp(barfi) == 0 and np.ptp(reference) == 0:   # every resample gives the same number
        d = float(barfi[0] - reference[0])
        return d, d
    res = bootstrap((barfi, reference), lambda b, r, axis: b.mean(axis) - r.mean(axis),
                    vectorized=True, paired=False, n_resamples=BOOTSTRAP_REPS,
                    confidence_level=0.95, method="percentile", random_state=seed)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass(frozen=True)
class SideSummary:
    n: int
    n_nonfinite: int
    mean: float
    se: float
    solved: float
    finite_finals: np.ndarray


def ci_excludes_0(low: float, high: float) -> bool:
    return bool(low > 0 or high < 0)


def summarise(curves: np.ndarray, threshold: float | None) -> SideSummary:
    finals = final_performance(curves, FINAL_EPISODES)
    finite = finals[np.isfinite(finals)]
    mean, se = mean_se(finite) if len(finite) else (np.nan, np.nan)
    solved = float(np.mean(np.where(np.isfinite(finals), finals, -np.inf) >= threshold)) \
        if threshold is not None else float("nan")
    return SideSummary(len(finals), len(finals) - len(finite), float(mean), float(se), solved,
                       finite)


def cell_row(meta: dict, curves: dict[str, np.ndarray], threshold: float | None) -> dict:
    """The cell's one-row table: meta columns, then per side n, mean, s.e., fraction solved,
    then barfi - reference with its CI and a Fisher exact test of the solved counts."""
    from scipy.stats import fisher_exact

    s = {side: summarise(curves[side], threshold) for side in SIDES}
    row = dict(meta)
    row["final_episodes"] = min(FINAL_EPISODES, curves["reference"].shape[1])
    row["solve_threshold"] = threshold
    for side in SIDES:
        row.update({f"{side}_n": s[side].n, f"{side}_nonfinite": s[side].n_nonfinite,
                    f"{side}_mean": s[side].mean, f"{side}_se": s[side].se,
                    f"{side}_solved": s[side].solved})
    row["diff_mean"] = s["barfi"].mean - s["reference"].mean
    row["diff_ci_low"], row["diff_ci_high"] = diff_ci(s["barfi"].finite_finals,
                                                      s["reference"].finite_finals)
    row["diff_ci_excludes_0"] = ci_excludes_0(row["diff_ci_low"], row["diff_ci_high"])
    if threshold is not None:
        table = [[round(s[side].solved * s[side].n), s[side].n - round(s[side].solved * s[side].n)]
                 for side in SIDES]
        row["solved_fisher_p"] = float(fisher_exact(table)[1])
    else:
        row["solved_fisher_p"] = float("nan")
    return row


def write_table(rows: list[dict], path: Path) -> Path:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.6g")
    return path


def write_curves(runs: dict[str, dict[int, np.ndarray]], attrs: dict, path: Path) -> Path:
    """Both sides' per-episode primary returns, dims (side, seed, episode), compressed NetCDF
    (float32: the returns need no more digits); a side without some seed holds NaN there."""
    seeds = sorted(set().union(*(r.keys() for r in runs.values())))
    n = max(len(c) for r in runs.values() for c in r.values())
    data = np.full((len(SIDES), len(seeds), n), np.nan, dtype=np.float32)
    for i, side in enumerate(SIDES):
        for j, seed in enumerate(seeds):
            if seed in runs[side]:
                data[i, j, :len(runs[side][seed])] = runs[side][seed]
    ds = xr.Dataset(
        {"primary_return": (("side", "seed", "episode"), data,
                            {"description": "undiscounted sum of the primary reward per episode"})},
        coords={"side": list(SIDES), "seed": seeds, "episode": np.arange(n)}, attrs=attrs)
    encoding = {"primary_return": {"zlib": True, "complevel": 9, "shuffle": True}}
    with atomic_path(path, keep_suffix=False) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
    return path


def read_curves(path: Path) -> xr.Dataset:
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
