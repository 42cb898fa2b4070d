"""Final-performance results of a report: per env x aux x method, the final performance of each
evaluation run of the selected configuration, its IQM and mean with stratified-bootstrap CIs
(rliable), the probability that each BARFI method improves on each baseline, the selection
and divergence tables; and the few headline numbers that go into summary.json.

This is the computing half of the report (as rliable keeps its metrics apart from its
plots): `collect` computes everything once into tidy rows (one dict per env x aux x method, or
per comparison), which the tables (`report_tables`), the claims and the overview figures share;
`headline` is the content of summary.json. Nothing here writes a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from barfi.analysis import stats
from barfi.analysis.inputs import EnvInputs, is_barfi, published_episodes
from barfi.analysis.io import STATUS_CODES

MIN_RUNS = 5    # statistics from fewer evaluation runs are flagged as unreliable
SUMMARY_COLS = ["env", "aux", "method", "config", "runs", "diverged_excluded", "iqm", "iqm_low",
                "iqm_high", "mean", "mean_low", "mean_high"]
POI_COLS = ["env", "aux", "method", "baseline", "runs_method", "runs_baseline", "p", "low",
            "high"]


@dataclass
class Results:
    scores: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    summary: list[dict] = field(default_factory=list)
    poi: list[dict] = field(default_factory=list)
    selection: list[dict] = field(default_factory=list)
    diverged: list[dict] = field(default_factory=list)
    diverged_runs: list[dict] = field(default_factory=list)
    lasts: list[int] = field(default_factory=list)
    # env -> its name in titles and tables (`EnvInputs.label`: the budget where it is short)
    labels: dict[str, str] = field(default_factory=dict)
    # env -> {"episodes": the runs' budget, "published": the paper's}
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.summary, columns=SUMMARY_COLS)

    def poi_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.poi, columns=POI_COLS)

    def labelled(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with its env column as the envs' labels (for display, not for keys)."""
        return frame.assign(env=frame.env.map(lambda e: self.labels.get(e, e)))


def collect(inputs: Sequence[EnvInputs], last: Callable[[EnvInputs], int], reps: int,
            seed: int) -> Results:
    res = Results(lasts=sorted({last(i) for i in inputs}))
    for inp in inputs:
        res.labels[inp.env] = inp.label
        res.budgets[inp.env] = {"episodes": inp.episodes,
                                "published": published_episodes(inp.env)}
        scores: dict[tuple[str, str], np.ndarray] = {}
        for aux in inp.auxes:
            for method in inp.methods:
                values, _, config = inp.runs(aux, method, "primary_return")
                if config:
                    res.selection.append(selection_row(inp, aux, method, config))
                if values.shape[0]:
                    scores[(aux, method)] = stats.final_performance(values, last(inp))
        res.scores.update({(inp.env, a, m): s for (a, m), s in scores.items()})
        _interval_rows(inp, scores, res, reps, seed)
        _poi_rows(inp, scores, res, reps, seed)
        for aux, per in diverged_counts(inp).items():
            for method, (d, n) in per.items():
                res.diverged.append(dict(
                    env=inp.env, aux=aux, method=method, runs=n, diverged=d,
                    diverged_pct=100.0 * d / n, selected_config=inp.best(aux, method),
                    diverged_in_selected_eval=inp.runs(aux, method, "primary_return")[1]))
        res.diverged_runs.extend(diverged_list(inp))
    return res


def _interval_rows(inp, scores, res: Results, reps: int, seed: int) -> None:
    est = stats.interval_estimates({f"{a}\x00{m}": s[:, None] for (a, m), s in scores.items()},
                                   reps=reps, seed=seed)
    for (aux, method), s in scores.items():
        _, n_div, config = inp.runs(aux, method, "primary_return")
        res.summary.append(dict(env=inp.env, aux=aux, method=method, config=config,
                                runs=int(s.size), diverged_excluded=n_div,
                                **est[f"{aux}\x00{method}"]))
    for method in inp.methods:       # pooled over the aux rewards of the env, as tasks
        per_aux = [scores[(a, method)] for a in inp.auxes if (a, method) in scores]
        if len(inp.auxes) > 1 and len(per_aux) == len(inp.auxes) and \
                len({p.size for p in per_aux}) == 1:
            e = stats.interval_estimates({"all": np.stack(per_aux, axis=1)}, reps=reps,
                                         seed=seed)["all"]
            n_div = sum(inp.runs(a, method, "primary_return")[1] for a in inp.auxes)
            res.summary.append(dict(env=inp.env, aux="(all)", method=method, config="",
                                    runs=int(sum(p.size for p in per_aux)),
                                    diverged_excluded=n_div, **e))


def _poi_rows(inp, scores, res: Results, reps: int, seed: int) -> None:
    barfi = [m for m in inp.methods if is_barfi(m)]
    base = [m for m in inp.methods if not is_barfi(m)]
    for b in barfi:
        for y in base:
            for aux in inp.auxes:
                if (aux, b) in scores and (aux, y) in scores:
                    r = stats.probability_of_improvement(scores[(aux, b)], scores[(aux, y)],
                                                         reps, seed)
                    res.poi.append(dict(env=inp.env, aux=aux, method=b, baseline=y,
                                        runs_method=scores[(aux, b)].size,
                                        runs_baseline=scores[(aux, y)].size, **r))
            xs = [scores.get((a, b)) for a in inp.auxes]
            ys = [scores.get((a, y)) for a in inp.auxes]
            if len(inp.auxes) > 1 and all(v is not None for v in xs + ys) and \
                    len({v.size for v in xs}) == 1 and len({v.size for v in ys}) == 1:
                r = stats.probability_of_improvement(np.stack(xs, 1), np.stack(ys, 1), reps,
                                                     seed)
                res.poi.append(dict(env=inp.env, aux="(all)", method=b, baseline=y,
                                    runs_method=xs[0].size * len(xs),
                                    runs_baseline=ys[0].size * len(ys), **r))


def selection_row(inp: EnvInputs, aux: str, method: str, config: str) -> dict:
    s = inp.sel
    pick = {"aux": aux, "method": method}     # a dict: `method` is also a sel() keyword
    pick_c = {**pick, "config": config}
    m, c = inp.method_i[method], inp.config_i[config]
    return dict(env=inp.env, aux=aux, method=method, config=config,
                overrides=str(inp.agg.overrides.values[m, c]) if "overrides" in inp.agg else "",
                tuning_score=float(s.best_score.sel(pick).item()),
                tuning_runs=int(s.n_tuning_runs.sel(pick_c).item()),
                tuning_diverged=int(s.n_tuning_diverged.sel(pick_c).item()),
                eval_score=float(s.eval_score.sel(pick).item()),
                eval_runs=int(s.n_eval_runs.sel(pick).item()),
                eval_diverged=int(s.n_eval_diverged.sel(pick).item()),
                selected_with_divergence=int(s.selected_with_divergence.sel(pick).item()),
                rule=s.attrs["rule"], tuning_seeds=s.attrs["tuning_seeds"],
                eval_seeds=s.attrs["eval_seeds"])


def diverged_counts(inp: EnvInputs) -> dict[str, dict[str, tuple[int, int]]]:
    """counts[aux][method] = (diverged runs, runs), over every configuration and seed."""
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for aux in inp.auxes:
        for method in inp.methods:
            st = inp.status[inp.aux_i[aux], inp.method_i[method]]
            n = int((st != 0).sum())
            if n:
                counts.setdefault(aux, {})[method] = (
                    int((st == STATUS_CODES["diverged"]).sum()), n)
    return counts


def diverged_list(inp: EnvInputs) -> list[dict]:
    agg = inp.agg
    if "run_status" not in agg:
        return []
    status = agg.run_status.values.astype(str)
    rows = []
    div_at = agg.diverged_at.values
    for i in np.flatnonzero(status == "diverged"):
        aux, method = str(agg.run_aux.values[i]), str(agg.run_method.values[i])
        config, seed = str(agg.run_config.values[i]), int(agg.run_seed.values[i])
        at = int(div_at[inp.aux_i[aux], inp.method_i[method], inp.config_i[config],
                        inp.seed_i[seed]])
        rows.append(dict(env=inp.env, aux=aux, method=method, config=config, seed=seed,
                         diverged_at_episode=at, file=str(agg.run_file.values[i])))
    return rows


def headline(res: Results, reps: int, seed: int) -> dict[str, Any]:
    """summary.json: per env x aux x method the final IQM with its CI bounds, and the run and
    divergence totals; every long table (run counts included) is a CSV next to it."""
    perf: dict[str, Any] = {}
    for r in res.summary:
        if r["aux"] != "(all)":
            perf.setdefault(r["env"], {}).setdefault(r["aux"], {})[r["method"]] = {
                "iqm": r["iqm"], "low": r["iqm_low"], "high": r["iqm_high"]}
    return {"final_iqm": perf,
            "episodes": res.budgets,
            "runs": sum(r["runs"] for r in res.diverged),
            "diverged_runs": sum(r["diverged"] for r in res.diverged),
            "statistics": {"bootstrap_reps": reps, "confidence": 0.95,
                           "final_episodes": max(res.lasts, default=0), "seed": seed}}
