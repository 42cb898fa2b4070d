"""Hyperparameter selection: per env x aux x method, the best configuration by the published
rule, chosen on tuning seeds and reported on separate evaluation seeds.

Published rule (the paper's hyperparameter selection): a configuration's score is the mean
over the last 200 episodes of its seed-mean primary_return curve; the configuration with the
highest score is kept.

Rules:
  split  (default): score on the tuning seeds, report the chosen configuration on the disjoint
                    evaluation seeds (an unbiased estimate of the selected method's performance);
  single (published): one seed set for both (the same seeds pick and report, which is
                    optimistically biased by the maximum over configurations).

Diverged runs: a configuration with a diverged tuning run has no published score (its curve is
NaN after the divergence) and is not eligible while any configuration without divergence exists.
If every configuration diverged somewhere, the one with the fewest diverged tuning runs is kept,
ties broken by the score over the non-diverged episodes; `selected_with_divergence` flags it.
Evaluation numbers use the evaluation runs that did not diverge; their count and the number of
diverged ones are recorded next to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from barfi.analysis.io import (STATUS_CODES, AnalysisError, atomic_output, check_writable_dir,
                               parse_seed_set)
from barfi.config import seed_ranges

RULES = ("split", "single")
DEFAULT_LAST = 200


def open_aggregate(path: Path | str):
    """Open an aggregated dataset lazily (arrays are read on indexing), checking its kind."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"aggregated dataset {str(path)!r} does not exist")
    try:
        ds = xr.open_dataset(path, engine="h5netcdf")
    except Exception as exc:  # noqa: BLE001 - any failure to open is bad input
        raise AnalysisError(f"aggregated dataset {str(path)!r} cannot be read (corrupt or "
                            f"truncated?): {str(exc).splitlines()[0] if str(exc) else exc}"
                            ) from None
    missing = [v for v in ("primary_return", "status", "n_episodes") if v not in ds]
    if missing or "env" not in ds.attrs:
        ds.close()
        raise AnalysisError(f"{str(path)!r} is not an aggregated dataset (no "
                            f"{', '.join(missing) or 'env attribute'}); make it with "
                            "`python -m barfi.analysis aggregate`")
    return ds


def seed_sets(available: list[int], rule: str, tuning: str | None,
              evaluation: str | None) -> tuple[list[int], list[int]]:
    """Resolve the tuning and evaluation seed sets against the seeds present."""
    if rule not in RULES:
        raise AnalysisError(f"unknown rule {rule!r}; valid: {', '.join(RULES)}")
    t = parse_seed_set(tuning, "--tuning-seeds") if tuning else None
    e = parse_seed_set(evaluation, "--eval-seeds") if evaluation else None
    for name, given in (("--tuning-seeds", t), ("--eval-seeds", e)):
        absent = sorted(set(given or ()) - set(available))
        if absent:
            raise AnalysisError(f"{name}: seeds {seed_ranges(absent)} have no runs in the "
                                f"aggregate (seeds present: {seed_ranges(available)})")
    if rule == "single":
        if t and e and t != e:
            raise AnalysisError("--rule single uses one seed set: give --tuning-seeds (or "
                                "--eval-seeds) only, or use --rule split")
        seeds = t or e or list(available)
        return seeds, seeds
    if t is None and e is None:
        if len(available) < 2:
            raise AnalysisError(f"--rule split needs at least 2 seeds, the aggregate has "
                                f"{len(available)}; use --rule single")
        half = len(available) // 2
        t, e = list(available[:half]), list(available[half:])
    elif t is None:
        t = [s for s in available if s not in e]
    elif e is None:
        e = [s for s in available if s not in t]
    overlap = sorted(set(t) & set(e))
    if overlap:
        raise AnalysisError(f"--rule split needs disjoint seed sets; both contain "
                            f"{seed_ranges(overlap)} (or use --rule single)")
    if not t or not e:
        raise AnalysisError("--rule split needs non-empty tuning and evaluation seed sets")
    return sorted(t), sorted(e)


def last_window(n_episodes: int, last: int) -> slice:
    """The last `last` episodes of a run of n_episodes (all of them if fewer)."""
    return slice(max(0, int(n_episodes) - int(last)), int(n_episodes))


def config_score(curves: np.ndarray, status: np.ndarray) -> dict[str, Any]:
    """Published score of one configuration from its (seed, window) primary returns and the
    seeds' status codes: mean over the window of the seed-mean curve."""
    present = status != STATUS_CODES["missing"]
    diverged = status == STATUS_CODES["diverged"]
    n, n_div = int(present.sum()), int(diverged.sum())
    if n == 0:
        return dict(n=0, n_div=0, score=np.nan, score_ok_runs=np.nan)
    c = curves[present]
    score = float(c.mean(axis=0).mean()) if n_div == 0 else np.nan
    ok = curves[present & ~diverged]
    with np.errstate(all="ignore"):
        if ok.size:
            fallback = float(ok.mean(axis=0).mean())
        else:   # every run diverged: the episodes before divergence
            fallback = float(np.nanmean(c)) if np.isfinite(c).any() else -np.inf
    return dict(n=n, n_div=n_div, score=score, score_ok_runs=fallback)


def pick(scores: list[dict[str, Any]]) -> tuple[int, bool]:
    """Index of the best configuration and whether it was picked despite divergence
    (-1 if no configuration has runs)."""
    eligible = [i for i, s in enumerate(scores) if s["n"] > 0 and s["n_div"] == 0
                and np.isfinite(s["score"])]
    if eligible:
        return max(eligible, key=lambda i: (scores[i]["score"], -i)), False
    with_runs = [i for i, s in enumerate(scores) if s["n"] > 0]
    if not with_runs:
        return -1, False
    best = min(with_runs, key=lambda i: (scores[i]["n_div"] / scores[i]["n"],
                                         -scores[i]["score_ok_runs"], i))
    return best, True


def select(aggregated: Path | str, out: Path | str, rule: str = "split",
           tuning_seeds: str | None = None, eval_seeds: str | None = None,
           last: int = DEFAULT_LAST) -> dict[str, Any]:
    """Select the best configuration per aux x method; write the selection dataset to `out`."""
    if int(last) < 1:
        raise AnalysisError(f"--last {last} is not a positive number of episodes")
    ds = open_aggregate(aggregated)
    try:
        out = Path(out)
        check_writable_dir(out.parent)
        available = [int(s) for s in ds.seed.values]
        tuning, evaluation = seed_sets(available, rule, tuning_seeds, eval_seeds)
        arrays = score_configs(ds, [available.index(s) for s in tuning],
                               [available.index(s) for s in evaluation], last)
        sel = selection_dataset(ds, arrays, rule, last, tuning, evaluation, str(aggregated))
    finally:
        ds.close()
    try:
        with atomic_output(out) as tmp:
            sel.to_netcdf(tmp, engine="h5netcdf")
    except OSError as exc:
        raise AnalysisError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    best = arrays["best_config"]
    chosen = {f"{a}/{m}": best[i, j] for i, a in enumerate(sel.aux.values.astype(str))
              for j, m in enumerate(sel.method.values.astype(str)) if best[i, j]}
    return {"env": str(sel.attrs["env"]), "rule": rule, "tuning_seeds": seed_ranges(tuning),
            "eval_seeds": seed_ranges(evaluation), "selected": chosen, "out": str(out)}


def score_configs(ds, t_idx: list[int], e_idx: list[int], last: int) -> dict[str, np.ndarray]:
    """Per aux x method: every configuration's tuning score, the pick, and the picked one's
    numbers on the evaluation seeds (`t_idx`, `e_idx`: positions on the seed axis)."""
    status = ds.status.values                      # small: aux x method x config x seed
    n_episodes = ds.n_episodes.values              # method x config
    pr = ds.primary_return
    configs = [str(c) for c in ds.config.values]
    A, M, C = status.shape[:3]
    r = {"score": np.full((A, M, C), np.nan), "score_ok_runs": np.full((A, M, C), np.nan),
         "n_tuning_runs": np.zeros((A, M, C), np.int64),
         "n_tuning_diverged": np.zeros((A, M, C), np.int64),
         "best_config": np.full((A, M), "", dtype=object), "best_score": np.full((A, M), np.nan),
         "eval_score": np.full((A, M), np.nan), "n_eval_runs": np.zeros((A, M), np.int64),
         "n_eval_diverged": np.zeros((A, M), np.int64),
         "selected_with_divergence": np.zeros((A, M), bool),
         "final_performance": np.full((A, M, len(e_idx)), np.nan)}
    for a in range(A):
        for m in range(M):
            with_runs = np.flatnonzero((status[a, m] != 0).any(axis=-1))
            results = []
            for c in with_runs:
                st = status[a, m, c, t_idx]
                if (st != 0).any():
                    curves = pr.isel(aux=a, method=m, config=int(c), seed=t_idx,
                                     episode=last_window(n_episodes[m, c], last)).values
                else:
                    curves = np.empty((len(t_idx), 0))
                results.append(config_score(curves, st))
                for key, field_ in (("score", "score"), ("score_ok_runs", "score_ok_runs"),
                                    ("n_tuning_runs", "n"), ("n_tuning_diverged", "n_div")):
                    r[key][a, m, c] = results[-1][field_]
            i, fb = pick(results)
            if i < 0:
                continue
            c = int(with_runs[i])
            r["best_config"][a, m], r["selected_with_divergence"][a, m] = configs[c], fb
            r["best_score"][a, m] = results[i]["score_ok_runs" if fb else "score"]
            st = status[a, m, c, e_idx]
            curves = pr.isel(aux=a, method=m, config=c, seed=e_idx,
                             episode=last_window(n_episodes[m, c], last)).values \
                if (st != 0).any() else None
            _evaluate(r, a, m, st, curves)
    return r


def _evaluate(r: dict[str, np.ndarray], a: int, m: int, st: np.ndarray,
              values: np.ndarray | None) -> None:
    """The selected configuration's numbers on the evaluation seeds: their status `st` and
    their windows of primary return (None if none ran)."""
    r["n_eval_runs"][a, m] = int((st != 0).sum())
    r["n_eval_diverged"][a, m] = int((st == STATUS_CODES["diverged"]).sum())
    if values is not None:
        ok = st == STATUS_CODES["completed"]
        r["final_performance"][a, m, ok] = values[ok].mean(axis=1)
        if ok.any():
            r["eval_score"][a, m] = float(values[ok].mean(axis=0).mean())


def selection_dataset(ds, r: dict[str, np.ndarray], rule: str, last: int, tuning: list[int],
                      evaluation: list[int], aggregated: str):
    """The selection dataset: the arrays of `score_configs`, described, with the rule and
    both seed sets."""
    import xarray as xr

    rule_text = (f"best config = highest mean of the last {last} episodes of the seed-mean "
                 "primary_return curve over the tuning seeds; "
                 + ("reported on the disjoint evaluation seeds" if rule == "split"
                    else "reported on the same seeds (published single-set selection)"))
    amc, am = ("aux", "method", "config"), ("aux", "method")
    return xr.Dataset(
        {
            "score": (amc, r["score"],
                      {"description": f"tuning score: mean of the last {last} episodes of the "
                                      "seed-mean primary return (NaN: no tuning run, or a "
                                      "tuning run diverged)"}),
            "score_ok_runs": (amc, r["score_ok_runs"],
                              {"description": "the same over the non-diverged tuning runs "
                                              "(used only when every config diverged)"}),
            "n_tuning_runs": (amc, r["n_tuning_runs"]),
            "n_tuning_diverged": (amc, r["n_tuning_diverged"]),
            "best_config": (am, r["best_config"].astype(str),
                            {"description": "selected configuration id ('' = no runs)"}),
            "best_score": (am, r["best_score"],
                           {"description": "tuning score of the selected configuration"}),
            "eval_score": (am, r["eval_score"],
                           {"description": f"mean of the last {last} episodes of the seed-mean "
                                           "primary return of the selected configuration over "
                                           "the non-diverged evaluation runs"}),
            "n_eval_runs": (am, r["n_eval_runs"]),
            "n_eval_diverged": (am, r["n_eval_diverged"]),
            "selected_with_divergence": (am, r["selected_with_divergence"].astype(np.int8),
                                         {"description": "1 if every configuration had a "
                                                         "diverged tuning run"}),
            "final_performance": (("aux", "method", "eval_seed"), r["final_performance"],
                                  {"description": f"per evaluation seed: mean primary return "
                                                  f"over the last {last} episodes of the "
                                                  "selected configuration (NaN: missing or "
                                                  "diverged run)"}),
        },
        coords={"aux": [str(a) for a in ds.aux.values],
                "method": [str(m) for m in ds.method.values],
                "config": [str(c) for c in ds.config.values],
                "tuning_seed": np.asarray(tuning, np.int64),
                "eval_seed": np.asarray(evaluation, np.int64)},
        attrs={"env": str(ds.attrs["env"]), "rule": rule, "rule_description": rule_text,
               "last_k": int(last), "tuning_seeds": seed_ranges(tuning),
               "eval_seeds": seed_ranges(evaluation), "aggregated": aggregated,
               "created_by": "python -m barfi.analysis select"},
    )


def open_selection(path: Path | str):
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"selection dataset {str(path)!r} does not exist")
    try:
        ds = xr.open_dataset(path, engine="h5netcdf").load()
    except Exception as exc:  # noqa: BLE001
        raise AnalysisError(f"selection dataset {str(path)!r} cannot be read (corrupt or "
                            f"truncated?): {str(exc).splitlines()[0] if str(exc) else exc}"
                            ) from None
    if "best_config" not in ds or "rule" not in ds.attrs:
        raise AnalysisError(f"{str(path)!r} is not a selection dataset; make it with "
                            "`python -m barfi.analysis select`")
    return ds
