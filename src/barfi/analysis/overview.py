"""Figures that read across methods and envs:

- `episode_records`: per env, the return under r_aux and the episode length over training of
  every method's selected config (bonus farming shows as a high aux return with a long
  episode and a low primary return);
- `build`: the cross-env summary: final-performance IQM with 95% CIs of every env x aux x
  method, and the probability of improvement as a BARFI-method x baseline matrix per env x aux.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from barfi.analysis.inputs import EnvInputs
from barfi.analysis.results import MIN_RUNS, Results

RECORDS = {"aux_return": "Return under $r_{aux}$ per episode",
           "episode_length": "Episode length (steps)"}
MAX_POINTS = 100   # episodes are averaged in bins so that a curve has at most this many points


def binned(values: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(runs, episodes) -> (bin centres as whole episodes, (runs, bins) bin means)."""
    n = values.shape[1]
    width = max(1, int(np.ceil(n / max_points)))
    edges = np.arange(0, n, width)
    means = np.stack([np.nanmean(values[:, e:e + width], axis=1) for e in edges], axis=1)
    centres = np.array([e + (min(e + width, n) - 1 - e) // 2 for e in edges])
    return centres, means


def binned_frame(values: np.ndarray, **labels) -> pd.DataFrame:
    """Long form of (runs, episodes) `values` averaged in bins: the `labels` columns, then run,
    episode (bin centre) and value."""
    x, means = binned(values)
    runs, eps = np.meshgrid(np.arange(means.shape[0]), x, indexing="ij")
    return pd.DataFrame({**labels, "run": runs.ravel(), "episode": eps.ravel(),
                         "value": means.ravel()})


def records_frame(inp: EnvInputs, ema_weight: float = 0.0) -> pd.DataFrame:
    """Long form: aux, method, run, episode (bin centre), variable, value (each run's curve
    EMA-smoothed with `ema_weight`, then averaged in bins)."""
    from barfi.analysis.stats import ema

    parts = []
    for aux in inp.auxes:
        for method in inp.methods:
            for var in RECORDS:
                values, _, _ = inp.runs(aux, method, var)
                if not values.shape[0]:
                    continue
                parts.append(binned_frame(ema(values, ema_weight), aux=aux, method=method,
                                          variable=var))
    cols = ["aux", "method", "run", "episode", "variable", "value"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def episode_records(builder, inp: EnvInputs) -> None:
    from barfi.analysis import figures_sns

    data = records_frame(inp, builder.ema_weight)
    if data.empty:
        builder.index.skip(f"aux return and episode length ({inp.env})",
                           "no completed evaluation runs with these records")
        return
    files = figures_sns.episode_records(
        data, RECORDS, f"{inp.label}: return under the aux reward (left) and episode length "
                       "(right) of every method's selected config; mean +- 1 s.e. over "
                       f"seeds of EMA-smoothed ({builder.ema_weight:g}) runs; "
                       f"{builder.rule_text(inp)}",
        builder.out, f"aux-return_{inp.env}")
    builder.index.add("aux-return", files, env=inp.env)


def build(builder, res: Results) -> None:
    from barfi.analysis import figures_sns

    data = res.labelled(res.summary_frame())
    data = data[data.aux != "(all)"]
    if data.empty:
        builder.index.skip("overview figures", "no completed evaluation runs")
        return
    files = figures_sns.interval_estimates(
        data, f"Final performance of every env x aux x method: IQM (dot) with 95% stratified-"
              f"bootstrap CI (bar) over evaluation runs; hollow: fewer than {MIN_RUNS} runs",
        builder.out, "overview_all_iqm")
    builder.index.add("overview_all_iqm", files)
    poi = res.labelled(res.poi_frame())
    poi = poi[poi.aux != "(all)"]
    if poi.empty:
        builder.index.skip("probability-of-improvement matrix",
                           "needs a BARFI method and a baseline with evaluation runs")
        return
    files = figures_sns.poi_matrices(
        poi, "Probability that a run of the BARFI method (row) ends better than a run of the "
             "baseline (column): P(row > column) [95% CI]; 0.5 = no difference",
        builder.out, "overview_all_poi")
    builder.index.add("overview_all_poi", files)
