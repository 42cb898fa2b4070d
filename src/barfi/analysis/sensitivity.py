"""Sensitivity of BARFI to lambda_gamma and the learning rate of gamma_phi, from the tuning
seeds of *every* configuration (every configuration runs on them, whatever the selection rule;
only the selected one has evaluation runs, so those cannot show sensitivity).

`frame` gives one row per aux reward x configuration: its hyperparameter values and the mean
and standard error over its completed tuning runs of their final performance; `build` draws
one figure per BARFI method (figures_sns.sensitivity).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from barfi.analysis import stats
from barfi.analysis.inputs import EnvInputs

KEYS = ("lambda_gamma", "gamma_lr")


def varied_keys(inp: EnvInputs, method: str, configs: list[str]) -> list[str]:
    """The keys of KEYS that take at least two values among `configs` of `method`."""
    m = inp.method_i[method]
    keys = []
    for key in KEYS:
        if f"hp_{key}" in inp.agg:
            hp = inp.agg[f"hp_{key}"].values[m]
            vals = {float(hp[inp.config_i[c]]) for c in configs}
            if len({v for v in vals if np.isfinite(v)}) >= 2:
                keys.append(key)
    return keys


def frame(inp: EnvInputs, method: str, last: int) -> pd.DataFrame:
    """One row per aux x configuration of `method` with tuning runs: aux, config, runs,
    diverged, score (mean final performance over the tuning runs), se, and one column per
    varied key of KEYS."""
    m = inp.method_i[method]
    t_idx = [inp.seed_i[s] for s in inp.tuning_seeds]
    rows = []
    for aux in inp.auxes:
        a = inp.aux_i[aux]
        for config in inp.agg.config.values.astype(str):
            if not (inp.status[a, m, inp.config_i[config], t_idx] != 0).any():
                continue
            values, n_div, _ = inp.runs(aux, method, "primary_return", config=config,
                                        seeds=inp.tuning_seeds)
            if not values.shape[0]:
                continue
            fp = stats.final_performance(values, last)
            mean, se = stats.mean_se(fp[:, None])
            rows.append(dict(aux=aux, config=config, runs=int(fp.size), diverged=n_div,
                             score=float(mean[0]), se=float(se[0])))
    data = pd.DataFrame(rows, columns=["aux", "config", "runs", "diverged", "score", "se"])
    for key in varied_keys(inp, method, sorted(set(data.config))):
        hp = inp.agg[f"hp_{key}"].values[m]
        data[key] = [float(hp[inp.config_i[c]]) for c in data.config]
    return data


def build(builder, inp: EnvInputs) -> None:
    from barfi.analysis import figures_sns

    barfi = builder.barfi_methods(inp)
    if not barfi:
        builder.index.skip(f"sensitivity ({inp.env})", "no BARFI runs")
        return
    last = builder.last(inp)
    for method in barfi:
        data = frame(inp, method, last)
        keys = [k for k in KEYS if k in data]
        if not keys:
            builder.index.skip(f"sensitivity of {method} ({inp.env})",
                               "the grid varies neither lambda_gamma nor gamma_lr")
            continue
        n = f"{len(inp.tuning_seeds)} tuning seeds ({inp.sel.attrs['tuning_seeds']})"
        files = figures_sns.sensitivity(
            data, keys, f"{inp.label}: sensitivity of {method}; every configuration (dot: mean "
                        f"+- 1 s.e. over the {n}); line: the best configuration at each value",
            f"Final primary return\n(mean of last {last} episodes)",
            builder.out, f"sensitivity_{inp.env}_{method}")
        builder.index.add("sensitivity", files, env=inp.env, method=method, seeds=n,
                          keys=" and ".join(keys))
