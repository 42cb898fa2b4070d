"""Figures over training, from the evaluation runs of each method's selected configuration:
learning curves (two band styles), the learned discount gamma_phi, the primary return against
the return under r_phi, and the diverged-run counts. Each builder takes the report's `Builder`
(settings, index) and one env's inputs, draws with `figures` and adds its files to the index.
"""

from __future__ import annotations

import numpy as np

from barfi.analysis import figures as F
from barfi.analysis import stats
from barfi.analysis.inputs import EnvInputs

BANDS = (("bootstrap", "shaded: 95% bootstrap CI of the mean"),
         ("se-ema", "shaded: +- 1 s.e., as in the paper"))


def legend_note(config: str, n: int, n_div: int) -> str:
    note = f"[{config}], n={n}"
    return note + (f", {n_div} diverged excl." if n_div else "")


def mean_band(builder, values: np.ndarray, band: str = "se"):
    """Per-run EMA-smoothed curves: x, their mean and a band (`se`: +- 1 standard error;
    `bootstrap`: 95% bootstrap CI of the mean)."""
    x = np.arange(values.shape[1])
    smooth = stats.ema(values, builder.ema_weight)
    if band == "se":
        mean, se = stats.mean_se(smooth)
        return x, mean, mean - se, mean + se
    mean, lo, hi = stats.bootstrap_band(smooth, reps=builder.band_reps, seed=builder.seed)
    return x, mean, lo, hi


def learning_curves(builder, inp: EnvInputs) -> None:
    for aux in inp.auxes:
        data = {}
        for method in inp.methods:
            values, n_div, config = inp.runs(aux, method, "primary_return")
            if values.shape[0]:
                data[method] = (values, n_div, config)
        if not data:
            builder.index.skip(f"learning curves {inp.env}/{aux}",
                               "no completed evaluation runs of any method")
            continue
        for style, band in BANDS:
            curves = [F.Curve(method, *mean_band(builder, values, style.split("-")[0]),
                              legend_note(config, values.shape[0], n_div))
                      for method, (values, n_div, config) in data.items()]
            text = f"mean over seeds of EMA-smoothed ({builder.ema_weight:g}) runs, {band}"
            files = F.learning_curves(curves, f"{inp.label}, aux reward: {aux}",
                                      f"{text}; {builder.rule_text(inp)}", builder.out,
                                      f"curves_{inp.env}_{aux}_{style}")
            builder.index.add(f"curves_{style}", files, env=inp.env, aux=aux, text=text)


def gamma_phi(builder, inp: EnvInputs) -> None:
    """gamma_phi per BARFI method; methods whose gamma_phi never moves (not learned: the
    unrolled ablation, or gamma_lr = 0 as in HalfCheetah) are left out and named."""
    what = f"gamma_phi over training ({inp.env})"
    panels, fixed = {}, {}
    for aux in inp.auxes:
        curves = []
        for method in builder.barfi_methods(inp):
            values, _, _ = inp.runs(aux, method, "gamma_phi")
            if not (values.shape[0] and np.isfinite(values).any()):
                continue
            if np.nanmax(values) - np.nanmin(values) < 1e-9:
                fixed[method] = float(np.nanmax(values))
                continue
            curves.append(F.Curve(method, *mean_band(builder, values)))
        if curves:
            panels[aux] = curves
    not_learned = "; ".join(f"{m}: constant {v:.3f}" for m, v in fixed.items())
    if not panels:
        builder.index.skip(what, f"gamma_phi is not learned ({not_learned})" if fixed
                           else "no BARFI runs with gamma_phi records")
        return
    extra = f"; not learned, not drawn: {not_learned}" if fixed else ""
    files = F.panels_over_training(panels, r"learned discount $\gamma_\phi$",
                                   f"{inp.label}: learned discount over training (selected "
                                   f"configs, mean +- 1 s.e., EMA {builder.ema_weight:g})"
                                   f"{extra}", builder.out, f"gamma-phi_{inp.env}")
    builder.index.add("gamma-phi", files, env=inp.env, extra=extra)


def rphi_vs_primary(builder, inp: EnvInputs) -> None:
    for aux in inp.auxes:
        panels = {}
        for method in builder.barfi_methods(inp):
            rphi, n_div, config = inp.runs(aux, method, "r_phi_return")
            prim, _, _ = inp.runs(aux, method, "primary_return")
            if rphi.shape[0] and np.isfinite(rphi).any():
                note = legend_note(config, rphi.shape[0], n_div)
                panels[method] = (F.Curve(method, *mean_band(builder, prim), note),
                                  F.Curve(method, *mean_band(builder, rphi), note))
        if not panels:
            builder.index.skip(f"primary vs r_phi return {inp.env}/{aux}",
                               "no BARFI runs with r_phi_return records")
            continue
        files = F.twin_axes(panels, f"{inp.label}, aux reward: {aux}: primary return (left) "
                                    r"and return under $r_\phi$ (right), mean +- 1 s.e., "
                                    f"EMA {builder.ema_weight:g}",
                            builder.out, f"rphi-vs-primary_{inp.env}_{aux}")
        builder.index.add("rphi-vs-primary", files, env=inp.env, aux=aux)


def diverged(builder, inp: EnvInputs) -> None:
    from barfi.analysis.results import diverged_counts

    counts = diverged_counts(inp)
    if sum(d for per in counts.values() for d, _ in per.values()) == 0:
        builder.index.skip(f"diverged runs ({inp.env}) figure", "no run diverged")
        return
    files = F.diverged_bars(counts, f"{inp.label}: diverged runs per method (all configs and "
                                    "seeds; labels: diverged/runs)",
                            builder.out, f"diverged_{inp.env}")
    builder.index.add("diverged", files, env=inp.env)
