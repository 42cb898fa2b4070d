"""The report: every table and figure of the study, from aggregated and selection datasets,
into one directory with a README (what the study is, what its results mean, an index of every
file), summary.json (headline metrics) and claims.md (the config's claims, evaluated).

What is shown uses the *selected* configuration of each env x aux x method on its *evaluation*
seeds (see `selection.py`), except the sensitivity figures, which show every configuration on
the tuning seeds; runs that diverged are excluded from curves and statistics and counted next
to them, and listed in their own tables. Any figure whose inputs are absent (no BARFI runs, no
phi maps, a hyperparameter that the grid does not vary, a discount that is not learned) is
skipped and the index says why. Inputs are all checked before the first file is written;
every file is written atomically; files that an earlier report wrote and this one did not are
removed at the end (`MANIFEST.txt` lists what the report wrote).

Modules: `inputs` (datasets), `results` (statistics and tables), `claims`, `sensitivity`,
`phimaps`, `overview` (cross-env and aux-return figures), `readme`; figures are drawn by
`figures` (matplotlib) and `figures_sns` (seaborn).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from barfi.analysis.inputs import EnvInputs, Index, is_barfi, load_inputs
from barfi.analysis.io import AnalysisError, check_writable_dir, write_text


def report(aggregated: Sequence[Path | str], selections: Sequence[Path | str],
           out_dir: Path | str, final_episodes: int | None = None, reps: int = 2000,
           band_reps: int = 1000, ema_weight: float = 0.9, seed: int = 0,
           claims: Path | str | None = None, title: str | None = None) -> dict[str, Any]:
    """Write the report into `out_dir`; returns {'files': [...], 'skipped': [...]}."""
    from barfi.analysis.claims import load_claims

    if final_episodes is not None and int(final_episodes) < 1:
        raise AnalysisError(f"--final-episodes {final_episodes} is not a positive number")
    if int(reps) < 1 or int(band_reps) < 1:
        raise AnalysisError("--reps and --band-reps must be positive")
    if not 0.0 <= float(ema_weight) < 1.0:
        raise AnalysisError(f"--ema {ema_weight} is not in [0, 1)")
    claim_list = load_claims(claims) if claims is not None else []
    inputs = load_inputs(aggregated, selections)
    out_dir = check_writable_dir(out_dir)
    try:
        index = Index()
        builder = Builder(inputs, out_dir, index, final_episodes, int(reps), int(band_reps),
                          float(ema_weight), int(seed))
        builder.claims, builder.title = claim_list, title
        builder.run()
    finally:
        for inp in inputs:
            inp.agg.close()
    return {"files": index.files(), "skipped": index.skipped, "out_dir": str(out_dir)}


class Builder:
    """The report's state and settings; the figure builders of the other modules take it."""

    def __init__(self, inputs, out_dir, index, final_episodes, reps, band_reps, ema_weight,
                 seed):
        self.inputs, self.out, self.index = inputs, out_dir, index
        self.final_episodes, self.reps, self.band_reps = final_episodes, reps, band_reps
        self.ema_weight, self.seed = ema_weight, seed
        self.claims: list = []
        self.claim_rows: list[dict] = []
        self.title: str | None = None

    def last(self, inp: EnvInputs) -> int:
        return int(self.final_episodes or inp.sel.attrs.get("last_k", 200))

    # ------------------------------------------------------------------ driver
    def run(self) -> None:
        from barfi.analysis import figures, overview, phimaps, readme, results, sensitivity

        self.fig = figures
        for inp in self.inputs:
            self.curves(inp)
            overview.episode_records(self, inp)
            self.gamma_phi(inp)
            self.twin(inp)
            sensitivity.build(self, inp)
            phimaps.build(self, inp)
            self.diverged_figure(inp)
        res = results.collect(self.inputs, self.last, self.reps, self.seed)
        overview.build(self, res)
        results.write_tables(res, self.out, self.index)
        self.write_claims(res)
        self.write_summary(results.headline(res, self.reps, self.seed))
        readme.write(self, res)

    # ------------------------------------------------------------------ helpers
    def note(self, config: str, n: int, n_div: int) -> str:
        note = f"[{config}], n={n}"
        return note + (f", {n_div} diverged excl." if n_div else "")

    def mean_band(self, values: np.ndarray, band: str = "se"):
        """Per-run EMA-smoothed curves: their mean and a band (`se`: +- 1 standard error;
        `bootstrap`: 95% bootstrap CI of the mean)."""
        from barfi.analysis import stats

        x = np.arange(values.shape[1])
        smooth = stats.ema(values, self.ema_weight)
        if band == "se":
            mean, se = stats.mean_se(smooth)
            return x, mean, mean - se, mean + se
        mean, lo, hi = stats.bootstrap_band(smooth, reps=self.band_reps, seed=self.seed)
        return x, mean, lo, hi

    def rule_text(self, inp: EnvInputs) -> str:
        s = inp.sel.attrs
        if s["rule"] == "split":
            return f"config chosen on seeds {s['tuning_seeds']}, shown on seeds {s['eval_seeds']}"
        return f"config chosen and shown on seeds {s['eval_seeds']} (published single-set rule)"

    def barfi_methods(self, inp: EnvInputs) -> list[str]:
        return [m for m in inp.methods if is_barfi(m)]

    # ------------------------------------------------------------------ figures
    def curves(self, inp: EnvInputs) -> None:
        F = self.fig
        for aux in inp.auxes:
            data = {}
            for method in inp.methods:
                values, n_div, config = inp.runs(aux, method, "primary_return")
                if values.shape[0]:
                    data[method] = (values, n_div, config)
            if not data:
                self.index.skip(f"learning curves {inp.env}/{aux}",
                                "no completed evaluation runs of any method")
                continue
            for style, band in (("bootstrap", "shaded: 95% bootstrap CI of the mean"),
                                ("se-ema", "shaded: +- 1 s.e., as in the paper")):
                curves = [F.Curve(method, *self.mean_band(values, style.split("-")[0]),
                                  self.note(config, values.shape[0], n_div))
                          for method, (values, n_div, config) in data.items()]
                text = f"mean over seeds of EMA-smoothed ({self.ema_weight:g}) runs, {band}"
                files = F.learning_curves(curves, f"{inp.env}, aux reward: {aux}",
                                          f"{text}; {self.rule_text(inp)}", self.out,
                                          f"curves_{inp.env}_{aux}_{style}")
                self.index.add("Learning curves", files,
                               f"{inp.env} / {aux}: primary return per episode of every "
                               f"method's selected config; {text}")

    def gamma_phi(self, inp: EnvInputs) -> None:
        """gamma_phi per BARFI method; methods whose gamma_phi never moves (not learned: the
        unrolled ablation, or gamma_lr = 0 as in HalfCheetah) are left out and named."""
        F = self.fig
        what = f"gamma_phi over training ({inp.env})"
        panels, fixed = {}, {}
        for aux in inp.auxes:
            curves = []
            for method in self.barfi_methods(inp):
                values, _, _ = inp.runs(aux, method, "gamma_phi")
                if not (values.shape[0] and np.isfinite(values).any()):
                    continue
                if np.nanmax(values) - np.nanmin(values) < 1e-9:
                    fixed[method] = float(np.nanmax(values))
                    continue
                curves.append(F.Curve(method, *self.mean_band(values)))
            if curves:
                panels[aux] = curves
        not_learned = "; ".join(f"{m}: constant {v:.3f}" for m, v in fixed.items())
        if not panels:
            self.index.skip(what, f"gamma_phi is not learned ({not_learned})" if fixed
                            else "no BARFI runs with gamma_phi records")
            return
        extra = f"; not learned, not drawn: {not_learned}" if fixed else ""
        files = F.panels_over_training(panels, r"learned discount $\gamma_\phi$",
                                       f"{inp.env}: learned discount over training (selected "
                                       f"configs, mean +- 1 s.e., EMA {self.ema_weight:g})"
                                       f"{extra}", self.out, f"gamma-phi_{inp.env}")
        self.index.add("BARFI internals", files,
                       f"{inp.env}: learned discount gamma_phi over training, one panel per "
                       f"aux reward{extra}")

    def twin(self, inp: EnvInputs) -> None:
        F = self.fig
        for aux in inp.auxes:
            panels = {}
            for method in self.barfi_methods(inp):
                rphi, n_div, config = inp.runs(aux, method, "r_phi_return")
                prim, _, _ = inp.runs(aux, method, "primary_return")
                if rphi.shape[0] and np.isfinite(rphi).any():
                    note = self.note(config, rphi.shape[0], n_div)
                    panels[method] = (F.Curve(method, *self.mean_band(prim), note),
                                      F.Curve(method, *self.mean_band(rphi), note))
            if not panels:
                self.index.skip(f"primary vs r_phi return {inp.env}/{aux}",
                                "no BARFI runs with r_phi_return records")
                continue
            files = F.twin_axes(panels, f"{inp.env}, aux reward: {aux}: primary return (left) "
                                        r"and return under $r_\phi$ (right), mean +- 1 s.e., "
                                        f"EMA {self.ema_weight:g}",
                                self.out, f"rphi-vs-primary_{inp.env}_{aux}")
            self.index.add("BARFI internals", files,
                           f"{inp.env} / {aux}: primary return and return under the learned "
                           "reward r_phi on twin axes")

    def diverged_figure(self, inp: EnvInputs) -> None:
        from barfi.analysis.results import diverged_counts

        counts = diverged_counts(inp)
        if sum(d for per in counts.values() for d, _ in per.values()) == 0:
            self.index.skip(f"diverged runs ({inp.env}) figure", "no run diverged")
            return
        files = self.fig.diverged_bars(counts, f"{inp.env}: diverged runs per method (all "
                                               "configs and seeds; labels: diverged/runs)",
                                       self.out, f"diverged_{inp.env}")
        self.index.add("Diverged runs", files,
                       f"{inp.env}: number of diverged runs per method and aux reward")

    # ------------------------------------------------------------------ claims, summary
    def write_claims(self, res) -> None:
        import pandas as pd

        from barfi.analysis import claims as C
        from barfi.analysis.io import atomic_output

        if not self.claims:
            self.index.skip("claims", "no claims given (the config's `claims:` list is empty)")
            return
        self.claim_rows = C.evaluate(self.claims, res.scores, self.reps, self.seed)
        seeds = "; ".join(f"{i.env}: seeds {i.sel.attrs['eval_seeds']}" for i in self.inputs)
        write_text(self.out / "claims.md", C.markdown(self.claims, self.claim_rows, seeds))
        with atomic_output(self.out / "claims.csv") as tmp:
            pd.DataFrame(self.claim_rows).to_csv(tmp, index=False, float_format="%.10g")
        self.index.add("Tables", ["claims.md", "claims.csv"],
                       "the config's claims, evaluated per env x aux reward (statistic, 95% CI, "
                       "verdict)")

    def write_summary(self, summary: dict) -> None:
        def clean(x):
            if isinstance(x, dict):
                return {str(k): clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            if isinstance(x, (np.integer,)):
                return int(x)
            if isinstance(x, (float, np.floating)):
                return round(float(x), 4) if math.isfinite(float(x)) else None
            return x

        write_text(self.out / "summary.json",
                   json.dumps(clean(summary), indent=1, sort_keys=True) + "\n")
        self.index.add("Data", ["summary.json"],
                       "headline metrics for `dvc metrics`: final IQM with 95% CI bounds per "
                       "env x aux x method, run and divergence totals (the long tables are the "
                       "CSV files)")
