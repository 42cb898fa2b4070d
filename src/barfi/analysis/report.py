"""The report: every table and figure of paper-spec section 5, from aggregated and selection
datasets, into one directory with a README index and a summary.json of headline metrics.

What is shown uses the *selected* configuration of each env x aux x method on its *evaluation*
seeds (see `selection.py`); runs that diverged are excluded from curves and statistics and
counted next to them, and listed in their own tables. Any figure whose inputs are absent (no
BARFI runs, no phi maps, a hyperparameter that the grid does not vary) is skipped and the index
says why. Inputs are all checked before the first file is written; every file is written
atomically; files that an earlier report wrote and this one did not are removed at the end
(`MANIFEST.txt` lists what the report wrote).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from barfi.analysis.io import (STATUS_CODES, AnalysisError, check_writable_dir, write_text)
from barfi.analysis.selection import open_aggregate, open_selection

ENV_ORDER = ("gridworld", "mountaincar", "cartpole", "halfcheetah")
SENSITIVITY_KEYS = ("lambda_gamma", "gamma_lr")
MANIFEST = "MANIFEST.txt"


def _is_barfi(method: str) -> bool:
    from barfi.config import BARFI_METHODS

    return method in BARFI_METHODS or method.startswith("barfi")


@dataclass
class Index:
    """What the README lists: sections of (files, caption) and skipped items with reasons."""

    entries: dict[str, list[tuple[list[str], str]]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, section: str, files: list[str], caption: str) -> None:
        self.entries.setdefault(section, []).append((files, caption))

    def skip(self, what: str, reason: str) -> None:
        self.skipped.append((what, reason))

    def files(self) -> list[str]:
        return [f for items in self.entries.values() for files, _ in items for f in files]


@dataclass
class EnvInputs:
    env: str
    agg: Any                  # lazy xarray Dataset
    sel: Any                  # loaded xarray Dataset
    agg_path: Path
    sel_path: Path

    def __post_init__(self):
        self.aux_i = {str(a): i for i, a in enumerate(self.agg.aux.values)}
        self.method_i = {str(m): i for i, m in enumerate(self.agg.method.values)}
        self.config_i = {str(c): i for i, c in enumerate(self.agg.config.values)}
        self.seed_i = {int(s): i for i, s in enumerate(self.agg.seed.values)}
        self.status = self.agg.status.values
        self.n_episodes = self.agg.n_episodes.values
        self.auxes = [str(a) for a in self.sel.aux.values]
        self.methods = [str(m) for m in self.sel.method.values]
        self.eval_seeds = [int(s) for s in self.sel.eval_seed.values]
        self._cache: dict = {}

    def best(self, aux: str, method: str) -> str:
        return str(self.sel.best_config.sel({"aux": aux, "method": method}).item())

    def runs(self, aux: str, method: str, var: str, config: str | None = None,
             seeds: Sequence[int] | None = None) -> tuple[np.ndarray, int, str]:
        """Completed runs of `config` (default: the selected one) on `seeds` (default: the
        evaluation seeds): (values (runs, ...), number of diverged runs excluded, config)."""
        config = self.best(aux, method) if config is None else config
        seeds = self.eval_seeds if seeds is None else seeds
        key = (aux, method, var, config, tuple(seeds))
        if key in self._cache:
            return self._cache[key]
        a, m = self.aux_i[aux], self.method_i[method]
        if not config or var not in self.agg:
            result = (np.empty((0, 0)), 0, config)
        else:
            c = self.config_i[config]
            s_idx = [self.seed_i[s] for s in seeds]
            st = self.status[a, m, c, s_idx]
            ok = [i for i, code in zip(s_idx, st) if code == STATUS_CODES["completed"]]
            n_div = int((st == STATUS_CODES["diverged"]).sum())
            da = self.agg[var]
            if "episode" in da.dims:
                sub = da.isel(aux=a, method=m, config=c, seed=ok,
                              episode=slice(0, int(self.n_episodes[m, c]))).values
            else:
                sub = da.isel(aux=a, method=m, config=c, seed=ok).values
            sub = sub.reshape((len(ok),) + sub.shape[1:])
            result = (sub, n_div, config)
        self._cache[key] = result
        return result


def _order_envs(envs):
    return sorted(envs, key=lambda e: (ENV_ORDER.index(e) if e in ENV_ORDER else len(ENV_ORDER),
                                       e))


def load_inputs(aggregated: Sequence[Path | str], selections: Sequence[Path | str]
                ) -> list[EnvInputs]:
    """Open and cross-check the inputs: one aggregate and one selection per env, made from it."""
    if not aggregated:
        raise AnalysisError("no aggregated datasets given (--aggregated)")
    if not selections:
        raise AnalysisError("no selection datasets given (--selection)")
    aggs: dict[str, tuple[Any, Path]] = {}
    for p in aggregated:
        ds = open_aggregate(p)
        env = str(ds.attrs["env"])
        if env in aggs:
            raise AnalysisError(f"two aggregated datasets for env {env!r}: "
                                f"{str(aggs[env][1])!r} and {str(p)!r}")
        aggs[env] = (ds, Path(p))
    sels: dict[str, tuple[Any, Path]] = {}
    for p in selections:
        ds = open_selection(p)
        env = str(ds.attrs.get("env", ""))
        if env in sels:
            raise AnalysisError(f"two selection datasets for env {env!r}: "
                                f"{str(sels[env][1])!r} and {str(p)!r}")
        if env not in aggs:
            raise AnalysisError(f"selection {str(p)!r} is for env {env!r}, which has no "
                                "aggregated dataset among --aggregated")
        sels[env] = (ds, Path(p))
    for env, (_, p) in aggs.items():
        if env not in sels:
            raise AnalysisError(f"aggregated dataset {str(p)!r} (env {env!r}) has no selection "
                                "among --selection; run `python -m barfi.analysis select`")
    inputs = []
    for env in _order_envs(aggs):
        agg, ap = aggs[env]
        sel, sp = sels[env]
        for dim in ("aux", "method", "config"):
            extra = set(map(str, sel[dim].values)) - set(map(str, agg[dim].values))
            if extra:
                raise AnalysisError(f"selection {str(sp)!r} does not match aggregated dataset "
                                    f"{str(ap)!r}: {dim} {sorted(extra)} unknown (select again "
                                    "from this aggregate)")
        for dim in ("tuning_seed", "eval_seed"):
            extra = set(map(int, sel[dim].values)) - set(map(int, agg.seed.values))
            if extra:
                raise AnalysisError(f"selection {str(sp)!r} does not match aggregated dataset "
                                    f"{str(ap)!r}: {dim}s {sorted(extra)} have no runs")
        inputs.append(EnvInputs(env, agg, sel, ap, sp))
    return inputs


def report(aggregated: Sequence[Path | str], selections: Sequence[Path | str],
           out_dir: Path | str, final_episodes: int | None = None, reps: int = 2000,
           band_reps: int = 1000, ema_weight: float = 0.9, seed: int = 0) -> dict[str, Any]:
    """Write the report into `out_dir`; returns {'files': [...], 'skipped': [...]}."""
    if final_episodes is not None and int(final_episodes) < 1:
        raise AnalysisError(f"--final-episodes {final_episodes} is not a positive number")
    if int(reps) < 1 or int(band_reps) < 1:
        raise AnalysisError("--reps and --band-reps must be positive")
    if not 0.0 <= float(ema_weight) < 1.0:
        raise AnalysisError(f"--ema {ema_weight} is not in [0, 1)")
    inputs = load_inputs(aggregated, selections)
    out_dir = check_writable_dir(out_dir)
    try:
        index = Index()
        builder = _Builder(inputs, out_dir, index, final_episodes, int(reps), int(band_reps),
                           float(ema_weight), int(seed))
        builder.run()
    finally:
        for inp in inputs:
            inp.agg.close()
    return {"files": index.files(), "skipped": index.skipped, "out_dir": str(out_dir)}


class _Builder:
    def __init__(self, inputs, out_dir, index, final_episodes, reps, band_reps, ema_weight,
                 seed):
        self.inputs, self.out, self.index = inputs, out_dir, index
        self.final_episodes, self.reps, self.band_reps = final_episodes, reps, band_reps
        self.ema_weight, self.seed = ema_weight, seed
        self.summary: dict[str, Any] = {}

    def last(self, inp: EnvInputs) -> int:
        return int(self.final_episodes or inp.sel.attrs.get("last_k", 200))

    # ------------------------------------------------------------------ driver
    def run(self) -> None:
        from barfi.analysis import figures  # imports matplotlib (Agg)

        self.fig = figures
        for inp in self.inputs:
            self.curves(inp)
            self.gamma_phi(inp)
            self.twin(inp)
            self.sensitivity(inp)
            self.maps(inp)
            self.diverged_figure(inp)
        self.tables()
        self.write_summary()
        self.write_readme()

    # ------------------------------------------------------------------ helpers
    def _note(self, config: str, n: int, n_div: int) -> str:
        note = f"[{config}], n={n}"
        return note + (f", {n_div} diverged excl." if n_div else "")

    def _mean_band(self, values: np.ndarray, smooth: bool):
        from barfi.analysis import stats

        x = np.arange(values.shape[1])
        if smooth:
            mean, se = stats.mean_se(values)
            m, s = stats.ema(mean, self.ema_weight), stats.ema(se, self.ema_weight)
            return x, m, m - s, m + s
        mean, lo, hi = stats.bootstrap_band(values, reps=self.band_reps, seed=self.seed)
        return x, mean, lo, hi

    def _rule_text(self, inp: EnvInputs) -> str:
        s = inp.sel.attrs
        if s["rule"] == "split":
            return f"config chosen on seeds {s['tuning_seeds']}, shown on seeds {s['eval_seeds']}"
        return f"config chosen and shown on seeds {s['eval_seeds']} (published single-set rule)"

    # ------------------------------------------------------------------ figures
    def curves(self, inp: EnvInputs) -> None:
        F = self.fig
        for aux in inp.auxes:
            data = {}
            for method in inp.methods:
                values, n_div, config = inp.runs(aux, method, "primary_return")
                if values.shape[0]:
                    data[method] = (values, n_div, config)
            what = f"learning curves {inp.env}/{aux}"
            if not data:
                self.index.skip(what, "no completed evaluation runs of any method")
                continue
            for style, smooth, band in (
                    ("bootstrap", False, "mean over seeds, shaded: 95% bootstrap CI of the mean"),
                    ("se-ema", True, f"mean +- 1 s.e. over seeds, EMA-smoothed "
                                     f"({self.ema_weight:g}), as in the paper")):
                curves = []
                for method, (values, n_div, config) in data.items():
                    x, y, lo, hi = self._mean_band(values, smooth)
                    curves.append(F.Curve(method, x, y, lo, hi,
                                          self._note(config, values.shape[0], n_div)))
                stem = f"curves_{inp.env}_{aux}_{style}"
                files = F.learning_curves(curves, f"{inp.env}, aux reward: {aux}",
                                          f"{band}; {self._rule_text(inp)}", self.out, stem)
                self.index.add("Learning curves", files,
                               f"{inp.env} / {aux}: primary return per episode of every "
                               f"method's selected config; {band}")

    def _barfi_methods(self, inp: EnvInputs) -> list[str]:
        return [m for m in inp.methods if _is_barfi(m)]

    def gamma_phi(self, inp: EnvInputs) -> None:
        F = self.fig
        what = f"gamma_phi over training ({inp.env})"
        panels = {}
        for aux in inp.auxes:
            curves = []
            for method in self._barfi_methods(inp):
                values, _, _ = inp.runs(aux, method, "gamma_phi")
                if values.shape[0] and np.isfinite(values).any():
                    x, y, lo, hi = self._mean_band(values, smooth=True)
                    curves.append(F.Curve(method, x, y, lo, hi))
            if curves:
                panels[aux] = curves
        if not panels:
            self.index.skip(what, "no BARFI runs with gamma_phi records")
            return
        files = F.panels_over_training(panels, r"learned discount $\gamma_\phi$",
                                       f"{inp.env}: learned discount over training (selected "
                                       f"configs, mean +- 1 s.e., EMA {self.ema_weight:g})",
                                       self.out, f"gamma-phi_{inp.env}")
        self.index.add("BARFI internals", files,
                       f"{inp.env}: learned discount gamma_phi over training, one panel per "
                       "aux reward")

    def twin(self, inp: EnvInputs) -> None:
        F = self.fig
        for aux in inp.auxes:
            panels = {}
            for method in self._barfi_methods(inp):
                rphi, n_div, config = inp.runs(aux, method, "r_phi_return")
                prim, _, _ = inp.runs(aux, method, "primary_return")
                if rphi.shape[0] and np.isfinite(rphi).any():
                    note = self._note(config, rphi.shape[0], n_div)
                    p = F.Curve(method, *self._mean_band(prim, smooth=True), note)
                    r = F.Curve(method, *self._mean_band(rphi, smooth=True), note)
                    panels[method] = (p, r)
            what = f"primary vs r_phi return {inp.env}/{aux}"
            if not panels:
                self.index.skip(what, "no BARFI runs with r_phi_return records")
                continue
            files = F.twin_axes(panels, f"{inp.env}, aux reward: {aux}: primary return (left) "
                                        r"and return under $r_\phi$ (right), mean +- 1 s.e., "
                                        f"EMA {self.ema_weight:g}",
                                self.out, f"rphi-vs-primary_{inp.env}_{aux}")
            self.index.add("BARFI internals", files,
                           f"{inp.env} / {aux}: primary return and return under the learned "
                           "reward r_phi on twin axes")

    def sensitivity(self, inp: EnvInputs) -> None:
        F = self.fig
        last = self.last(inp)
        barfi = self._barfi_methods(inp)
        if not barfi:
            self.index.skip(f"sensitivity ({inp.env})", "no BARFI runs")
            return
        for method in barfi:
            m = inp.method_i[method]
            has_runs = (inp.status[:, m] != 0).any(axis=(0, 2))        # per config
            configs = [str(c) for c, ok in zip(inp.agg.config.values, has_runs) if ok]
            panels = {}
            for key in SENSITIVITY_KEYS:
                var = f"hp_{key}"
                if var not in inp.agg:
                    continue
                hp = inp.agg[var].values[m]
                vals = {c: float(hp[inp.config_i[c]]) for c in configs}
                distinct = sorted({v for v in vals.values() if np.isfinite(v)})
                if len(distinct) < 2:
                    continue
                lines = []
                for aux in inp.auxes:
                    xs, means, ses = [], [], []
                    for v in distinct:
                        best = self._best_with(inp, aux, method, [c for c in configs
                                                                  if vals[c] == v])
                        if best is None:
                            continue
                        runs, _, _ = inp.runs(aux, method, "primary_return", config=best)
                        if not runs.shape[0]:
                            continue
                        from barfi.analysis import stats
                        fp = stats.final_performance(runs, last)
                        mean, se = stats.mean_se(fp[:, None])
                        xs.append(v)
                        means.append(float(mean[0]))
                        ses.append(float(se[0]))
                    if xs:
                        lines.append(F.SensitivityLine(aux, np.array(xs), np.array(means),
                                                       np.array(ses)))
                if lines:
                    panels[key] = lines
            what = f"sensitivity of {method} ({inp.env})"
            if not panels:
                self.index.skip(what, "the grid varies neither lambda_gamma nor gamma_lr")
                continue
            files = F.sensitivity(
                panels, f"{inp.env}: sensitivity of {F.method_style(method)['label']} (for each "
                        f"value, the best config with it; {self._rule_text(inp)})",
                f"Final primary return\n(mean of last {last} episodes, +- 1 s.e.)",
                self.out, f"sensitivity_{inp.env}_{method}")
            self.index.add("Sensitivity", files,
                           f"{inp.env}: final performance of {method} against "
                           f"{' and '.join(panels)} (log2 axis), one line per aux reward")

    def _best_with(self, inp: EnvInputs, aux: str, method: str, configs: list[str]):
        """The configuration among `configs` with the best tuning score (None if unscored)."""
        best, best_key = None, None
        for c in configs:
            at = {"aux": aux, "method": method, "config": c}   # dict: `method` is a sel() kwarg
            s = float(inp.sel.score.sel(at).item())
            s_ok = float(inp.sel.score_ok_runs.sel(at).item())
            key = (1, s) if math.isfinite(s) else (0, s_ok) if math.isfinite(s_ok) else None
            if key is not None and (best_key is None or key > best_key):
                best, best_key = c, key
        return best

    def maps(self, inp: EnvInputs) -> None:
        F = self.fig
        map_vars = [v for v in ("phi1_map", "phi3_map") if v in inp.agg]
        if not map_vars:
            if inp.env == "gridworld":
                self.index.skip(f"phi maps ({inp.env})", "no BARFI runs with phi maps")
            return
        gx, gy = inp.agg.grid_x.values, inp.agg.grid_y.values
        for aux in inp.auxes:
            rows = {}
            for method in self._barfi_methods(inp):
                maps = {}
                for var in map_vars:
                    values, _, _ = inp.runs(aux, method, var)
                    if values.shape[0] and np.isfinite(values).any():
                        maps[var] = np.nanmean(values, axis=0)
                if maps:
                    rows[method] = maps
            what = f"phi maps {inp.env}/{aux}"
            if not rows:
                self.index.skip(what, "no BARFI runs with phi maps for this aux reward")
                continue
            files = F.phi_maps(rows, gx, gy,
                               f"{inp.env}, aux reward: {aux}: learned phi at the end of "
                               "training (mean over evaluation runs of the selected config)",
                               self.out, f"phi-maps_{inp.env}_{aux}")
            self.index.add("GridWorld phi maps", files,
                           f"{inp.env} / {aux}: phi1(s) and phi3(s) on the {len(gy)}x{len(gx)} "
                           "grid; goal (solid) and centre-bonus square (dashed) outlined")

    def _diverged_counts(self, inp: EnvInputs):
        counts: dict[str, dict[str, tuple[int, int]]] = {}
        for aux in inp.auxes:
            a = inp.aux_i[aux]
            for method in inp.methods:
                m = inp.method_i[method]
                st = inp.status[a, m]
                n = int((st != 0).sum())
                if n:
                    counts.setdefault(aux, {})[method] = (
                        int((st == STATUS_CODES["diverged"]).sum()), n)
        return counts

    def diverged_figure(self, inp: EnvInputs) -> None:
        counts = self._diverged_counts(inp)
        total = sum(d for per in counts.values() for d, _ in per.values())
        what = f"diverged runs ({inp.env})"
        if total == 0:
            self.index.skip(what + " figure", "no run diverged")
            return
        files = self.fig.diverged_bars(counts, f"{inp.env}: diverged runs per method (all "
                                               "configs and seeds; labels: diverged/runs)",
                                       self.out, f"diverged_{inp.env}")
        self.index.add("Diverged runs", files,
                       f"{inp.env}: number of diverged runs per method and aux reward")

    # ------------------------------------------------------------------ tables
    def tables(self) -> None:
        import pandas as pd

        from barfi.analysis import stats
        from barfi.analysis.tables import fmt_ci, fmt_num, write_table

        rows, poi_rows, sel_rows, div_rows, div_list = [], [], [], [], []
        perf: dict[str, Any] = {}
        poi_json: dict[str, Any] = {}
        for inp in self.inputs:
            last = self.last(inp)
            scores: dict[tuple[str, str], np.ndarray] = {}
            for aux in inp.auxes:
                for method in inp.methods:
                    values, n_div, config = inp.runs(aux, method, "primary_return")
                    if config:
                        sel_rows.append(self._selection_row(inp, aux, method, config))
                    if not values.shape[0]:
                        continue
                    scores[(aux, method)] = stats.final_performance(values, last)
            # Final performance per env x aux x method, and pooled over aux rewards.
            est = stats.interval_estimates({f"{a}\x00{m}": s[:, None]
                                            for (a, m), s in scores.items()},
                                           reps=self.reps, seed=self.seed)
            for (aux, method), s in scores.items():
                e = est[f"{aux}\x00{method}"]
                _, n_div, config = inp.runs(aux, method, "primary_return")
                rows.append(dict(env=inp.env, aux=aux, method=method, config=config,
                                 runs=int(s.size), diverged_excluded=n_div, **e))
                perf.setdefault(inp.env, {}).setdefault(aux, {})[method] = dict(
                    config=config, runs=int(s.size), diverged_excluded=n_div, **e)
            for method in inp.methods:
                per_aux = [scores[(a, method)] for a in inp.auxes if (a, method) in scores]
                if len(inp.auxes) > 1 and len(per_aux) == len(inp.auxes) and \
                        len({p.size for p in per_aux}) == 1:
                    e = stats.interval_estimates({"all": np.stack(per_aux, axis=1)},
                                                 reps=self.reps, seed=self.seed)["all"]
                    rows.append(dict(env=inp.env, aux="(all)", method=method, config="",
                                     runs=int(sum(p.size for p in per_aux)),
                                     diverged_excluded=sum(inp.runs(a, method,
                                                                    "primary_return")[1]
                                                           for a in inp.auxes), **e))
                    perf.setdefault(inp.env, {}).setdefault("(all)", {})[method] = e
            # Probability of improvement of each BARFI method over each baseline.
            barfi = [m for m in inp.methods if _is_barfi(m)]
            base = [m for m in inp.methods if not _is_barfi(m)]
            for b in barfi:
                for y in base:
                    for aux in inp.auxes:
                        if (aux, b) in scores and (aux, y) in scores:
                            r = stats.probability_of_improvement(
                                scores[(aux, b)], scores[(aux, y)], self.reps, self.seed)
                            poi_rows.append(dict(env=inp.env, aux=aux, method=b, baseline=y,
                                                 runs_method=scores[(aux, b)].size,
                                                 runs_baseline=scores[(aux, y)].size, **r))
                            poi_json.setdefault(inp.env, {}).setdefault(aux, {})[
                                f"{b}>{y}"] = r
                    xs = [scores.get((a, b)) for a in inp.auxes]
                    ys = [scores.get((a, y)) for a in inp.auxes]
                    if len(inp.auxes) > 1 and all(v is not None for v in xs + ys) and \
                            len({v.size for v in xs}) == 1 and len({v.size for v in ys}) == 1:
                        r = stats.probability_of_improvement(
                            np.stack(xs, 1), np.stack(ys, 1), self.reps, self.seed)
                        poi_rows.append(dict(env=inp.env, aux="(all)", method=b, baseline=y,
                                             runs_method=xs[0].size * len(xs),
                                             runs_baseline=ys[0].size * len(ys), **r))
                        poi_json.setdefault(inp.env, {}).setdefault("(all)", {})[
                            f"{b}>{y}"] = r
            # Diverged runs.
            counts = self._diverged_counts(inp)
            for aux, per in counts.items():
                for method, (d, n) in per.items():
                    config = inp.best(aux, method)
                    _, n_div_eval, _ = inp.runs(aux, method, "primary_return")
                    div_rows.append(dict(env=inp.env, aux=aux, method=method, runs=n,
                                         diverged=d, diverged_pct=100.0 * d / n,
                                         selected_config=config,
                                         diverged_in_selected_eval=n_div_eval))
            div_list.extend(self._diverged_list(inp))

        out = self.out
        cols = ["env", "aux", "method", "config", "runs", "diverged_excluded", "iqm", "iqm_low",
                "iqm_high", "mean", "mean_low", "mean_high"]
        data = pd.DataFrame(rows, columns=cols)
        disp = pd.DataFrame({
            "env": data.env, "aux": data.aux, "method": data.method, "config": data.config,
            "runs": data.runs, "diverged (excl.)": data.diverged_excluded,
            "IQM [95% CI]": [fmt_ci(r.iqm, r.iqm_low, r.iqm_high) for r in data.itertuples()],
            "mean [95% CI]": [fmt_ci(r.mean, r.mean_low, r.mean_high)
                              for r in data.itertuples()]})
        lasts = sorted({self.last(i) for i in self.inputs})
        last_txt = "/".join(map(str, lasts))
        files = write_table(out, "summary", data, disp,
                            f"Final performance (mean primary return over the last {last_txt} "
                            "episodes, or all of a shorter run, of each evaluation run of the "
                            "selected config): IQM and "
                            "mean with 95% stratified-bootstrap CIs (rliable); '(all)' pools the "
                            "aux rewards of an env as tasks")
        self.index.add("Tables", files, "final performance per env x aux x method: IQM and mean "
                                        "with 95% stratified-bootstrap CIs (rliable)")
        cols = ["env", "aux", "method", "baseline", "runs_method", "runs_baseline", "p", "low",
                "high"]
        data = pd.DataFrame(poi_rows, columns=cols)
        disp = pd.DataFrame({
            "env": data.env, "aux": data.aux, "method": data.method,
            "baseline": data.baseline,
            "P(method > baseline) [95% CI]": [fmt_ci(r.p, r.low, r.high)
                                              for r in data.itertuples()]})
        if data.empty:
            self.index.skip("probability of improvement table",
                            "needs a BARFI method and a baseline with evaluation runs")
        else:
            files = write_table(out, "probability_of_improvement", data, disp,
                                "Probability that a run of the BARFI method ends better than a "
                                "run of the baseline (final performance; 95% stratified "
                                "bootstrap CIs, rliable)")
            self.index.add("Tables", files, "probability of improvement of each BARFI method "
                                            "over each baseline (rliable), per env x aux")
        cols = ["env", "aux", "method", "config", "overrides", "tuning_score", "tuning_runs",
                "tuning_diverged", "eval_score", "eval_runs", "eval_diverged",
                "selected_with_divergence", "rule", "tuning_seeds", "eval_seeds"]
        data = pd.DataFrame(sel_rows, columns=cols)
        disp = data.drop(columns=["rule", "tuning_seeds", "eval_seeds"]).copy()
        disp["tuning_score"] = [fmt_num(v) for v in data.tuning_score]
        disp["eval_score"] = [fmt_num(v) for v in data.eval_score]
        files = write_table(out, "selected_configs", data, disp,
                            "Selected configuration per env x aux x method: tuning score (mean of "
                            "the last episodes of the seed-mean primary return on the tuning "
                            "seeds) and the same on the evaluation seeds")
        self.index.add("Tables", files, "the selected configuration of every env x aux x method, "
                                        "its overrides, tuning and evaluation scores and seeds")
        cols = ["env", "aux", "method", "runs", "diverged", "diverged_pct", "selected_config",
                "diverged_in_selected_eval"]
        data = pd.DataFrame(div_rows, columns=cols)
        disp = data.copy()
        disp["diverged_pct"] = [f"{v:.1f}%" for v in data.diverged_pct]
        files = write_table(out, "diverged_counts", data, disp,
                            "Diverged runs per env x aux x method (all configurations and "
                            "seeds), and among the evaluation runs of the selected config "
                            "(excluded from curves and statistics)")
        self.index.add("Tables", files, "diverged-run counts per method (all runs, and the "
                                        "selected config's evaluation runs)")
        from barfi.analysis.io import atomic_output
        cols = ["env", "aux", "method", "config", "seed", "diverged_at_episode", "file"]
        with atomic_output(out / "diverged_runs.csv") as tmp:
            pd.DataFrame(div_list, columns=cols).to_csv(tmp, index=False)
        self.index.add("Tables", ["diverged_runs.csv"],
                       f"every diverged run ({len(div_list)}): its labels, the first episode "
                       "with a non-finite return, and its run file")
        total = sum(r["runs"] for r in div_rows)
        n_div = sum(r["diverged"] for r in div_rows)
        per_method: dict[str, int] = {}
        for r in div_rows:
            per_method[r["method"]] = per_method.get(r["method"], 0) + r["diverged"]
        self.summary = {
            "runs": total, "diverged_runs": n_div, "diverged_per_method": per_method,
            "selection": {i.env: {k: i.sel.attrs[k] for k in ("rule", "last_k", "tuning_seeds",
                                                               "eval_seeds")}
                          for i in self.inputs},
            "final_performance": perf, "probability_of_improvement": poi_json,
            "statistics": {"bootstrap_reps": self.reps, "confidence": 0.95,
                           "final_episodes": lasts, "seed": self.seed},
        }

    def _selection_row(self, inp: EnvInputs, aux: str, method: str, config: str) -> dict:
        s = inp.sel
        pick = {"aux": aux, "method": method}     # a dict: `method` is also a sel() keyword
        pick_c = {**pick, "config": config}
        m, c = inp.method_i[method], inp.config_i[config]
        return dict(env=inp.env, aux=aux, method=method, config=config,
                    overrides=str(inp.agg.overrides.values[m, c]) if "overrides" in inp.agg
                    else "",
                    tuning_score=float(s.best_score.sel(pick).item()),
                    tuning_runs=int(s.n_tuning_runs.sel(pick_c).item()),
                    tuning_diverged=int(s.n_tuning_diverged.sel(pick_c).item()),
                    eval_score=float(s.eval_score.sel(pick).item()),
                    eval_runs=int(s.n_eval_runs.sel(pick).item()),
                    eval_diverged=int(s.n_eval_diverged.sel(pick).item()),
                    selected_with_divergence=int(s.selected_with_divergence.sel(pick).item()),
                    rule=s.attrs["rule"], tuning_seeds=s.attrs["tuning_seeds"],
                    eval_seeds=s.attrs["eval_seeds"])

    def _diverged_list(self, inp: EnvInputs) -> list[dict]:
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

    # ------------------------------------------------------------------ summary, README
    def write_summary(self) -> None:
        def clean(x):
            if isinstance(x, dict):
                return {str(k): clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            if isinstance(x, (np.integer,)):
                return int(x)
            if isinstance(x, (float, np.floating)):
                return float(x) if math.isfinite(float(x)) else None
            return x

        write_text(self.out / "summary.json",
                   json.dumps(clean(self.summary), indent=2, sort_keys=True) + "\n")
        self.index.add("Data", ["summary.json"],
                       "headline metrics (final-performance IQM/mean with CIs, probability of "
                       "improvement, diverged runs, selection rule) for `dvc metrics`")

    def write_readme(self) -> None:
        self.index.add("Data", [MANIFEST], "the files this report wrote (used to remove stale "
                                           "files on the next run)")
        self.index.add("Data", ["README.md"], "this index")
        lines = ["# BARFI report", "",
                 "Generated by `python -m barfi.analysis report` from:", ""]
        for inp in self.inputs:
            s = inp.sel.attrs
            lines.append(f"- **{inp.env}**: `{inp.agg_path}` ({int(inp.agg.attrs['n_runs'])} runs, "
                         f"{int(inp.agg.attrs['n_diverged'])} diverged), selection "
                         f"`{inp.sel_path}` (rule `{s['rule']}`, last {s['last_k']} episodes, "
                         f"tuning seeds {s['tuning_seeds']}, evaluation seeds {s['eval_seeds']})")
        lines += ["", "Curves and statistics use each method's selected configuration on the "
                  "evaluation seeds; diverged runs are excluded there and counted in the "
                  "legends and tables.", ""]
        for section, items in self.index.entries.items():
            lines += [f"## {section}", ""]
            for files, caption in items:
                links = " · ".join(f"[`{f}`]({f})" for f in files)
                lines.append(f"- {links}: {caption}")
            lines.append("")
        if self.index.skipped:
            lines += ["## Skipped", ""]
            for what, reason in self.index.skipped:
                lines.append(f"- {what}: skipped ({reason})")
            lines.append("")
        files = self.index.files()
        old = []
        manifest = self.out / MANIFEST
        if manifest.is_file():
            old = [ln.strip() for ln in manifest.read_text(encoding="utf-8").splitlines()]
        write_text(manifest, "\n".join(files) + "\n")
        write_text(self.out / "README.md", "\n".join(lines))
        for name in set(old) - set(files):
            # Only plain names in this directory that an earlier report wrote.
            if name and "/" not in name and "\\" not in name and not name.startswith("."):
                (self.out / name).unlink(missing_ok=True)
