"""Figures drawn with seaborn from long-form pandas tables: sensitivity to a hyperparameter,
aux return and episode length over training, and the cross-env overview (IQM intervals, and
probability-of-improvement matrices). Colours, line styles and labels of the methods are
those of `figures` (Okabe-Ito); files are saved by `figures.save` (PNG + PDF, atomically).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FixedLocator, MaxNLocator

from barfi.analysis.figures import (AUX_STYLE_CYCLE, OKABE_ITO, map_panel, map_symbol,
                                    method_style, plt, save, wrap)

PRETTY = {"lambda_gamma": r"$\lambda_\gamma$", "gamma_lr": r"learning rate of $\gamma_\phi$"}
_DASHES = {"-": "", "--": (4, 2), ":": (1, 1.5), "-.": (4, 1.5, 1, 1.5)}


def _dashes(method: str):
    ls = method_style(method)["ls"]
    return _DASHES.get(ls, ls[1] if isinstance(ls, tuple) else "")


def _style():
    return sns.axes_style("whitegrid", {"axes.spines.top": False, "axes.spines.right": False})


def _log_positions(values: np.ndarray) -> tuple[dict[float, float], list[float]]:
    """x position of each value on a log2 axis, with 0 one step left of the smallest positive
    value; returns (value -> position, sorted distinct values)."""
    distinct = sorted({float(v) for v in values if np.isfinite(v)})
    pos = [v for v in distinct if v > 0]
    zero = np.log2(min(pos)) - 1 if pos else 0.0
    return {v: (np.log2(v) if v > 0 else zero) for v in distinct}, distinct


def sensitivity(data: pd.DataFrame, keys: Sequence[str], title: str, ylabel: str,
                out_dir: Path, stem: str) -> list[str]:
    """One panel per key: a dot per configuration (mean +- 1 s.e. over its tuning runs), one
    colour per aux reward, dodged; a line through the best configuration at each value. Ticks
    at the values themselves (log2 spacing)."""
    auxes = list(dict.fromkeys(data.aux))
    palette = {a: AUX_STYLE_CYCLE[i % len(AUX_STYLE_CYCLE)] for i, a in enumerate(auxes)}
    with _style():
        fig, axes = plt.subplots(1, len(keys), figsize=(3.8 * len(keys) + 1.8, 3.4),
                                 layout="constrained", squeeze=False, sharey=True)
        for ax, key in zip(axes[0], keys):
            where, distinct = _log_positions(data[key].to_numpy())
            d = data.assign(x=[where[v] + 0.12 * (auxes.index(a) - (len(auxes) - 1) / 2)
                               for v, a in zip(data[key], data.aux)])
            ax.errorbar(d.x, d.score, yerr=d.se, fmt="none", ecolor="0.6", lw=0.8, capsize=2)
            sns.scatterplot(data=d, x="x", y="score", hue="aux", palette=palette, s=28,
                            ax=ax, legend=ax is axes[0][0], zorder=3)
            best = d.loc[d.groupby(["aux", key]).score.idxmax()].sort_values("x")
            sns.lineplot(data=best, x="x", y="score", hue="aux", palette=palette, ax=ax,
                         legend=False, lw=1.2)
            ax.xaxis.set_major_locator(FixedLocator([where[v] for v in distinct]))
            ax.set_xticklabels([f"{v:g}" for v in distinct])
            ax.set_xlabel(f"{PRETTY.get(key, key)} (log scale)")
            ax.set_ylabel(ylabel)
        if axes[0][0].get_legend():
            sns.move_legend(axes[0][0], "upper left", bbox_to_anchor=(1.0, 1.0),
                            title="aux reward", frameon=False)
            if len(keys) > 1:
                handles, labels = axes[0][0].get_legend_handles_labels()
                axes[0][0].get_legend().remove()
                fig.legend(handles, labels, title="aux reward", loc="outside right center",
                           frameon=False)
        fig.suptitle(wrap(title, fig), fontsize=9)
        return save(fig, out_dir, stem)


def episode_records(data: pd.DataFrame, variables: Mapping[str, str], title: str,
                    out_dir: Path, stem: str) -> list[str]:
    """Rows: aux rewards; columns: variables; lines: methods (mean +- 1 s.e. over runs)."""
    auxes = list(dict.fromkeys(data.aux))
    methods = list(dict.fromkeys(data.method))
    palette = {m: method_style(m)["color"] for m in methods}
    dashes = {m: _dashes(m) for m in methods}
    with _style():
        fig, axes = plt.subplots(len(auxes), len(variables),
                                 figsize=(4.2 * len(variables) + 2.2, 2.5 * len(auxes) + 0.8),
                                 layout="constrained", squeeze=False, sharex=True)
        for r, aux in enumerate(auxes):
            for c, (var, label) in enumerate(variables.items()):
                ax = axes[r][c]
                d = data[(data.aux == aux) & (data.variable == var)]
                if var == "aux_return" and np.nanmax(np.abs(d.value.to_numpy()), initial=0) == 0:
                    ax.text(0.5, 0.5, "$r_{aux} = 0$", ha="center", va="center",
                            transform=ax.transAxes, color="0.4")
                    ax.set_yticks([])
                else:
                    sns.lineplot(data=d, x="episode", y="value", hue="method", style="method",
                                 palette=palette, dashes=dashes, errorbar=("se", 1), ax=ax,
                                 legend=(r == 0 and c == len(variables) - 1), lw=1.3)
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.set_ylabel(label if r == 0 or c > 0 else label, fontsize=8)
                ax.set_xlabel("Episode" if r == len(auxes) - 1 else "")
                ax.set_title(f"aux reward: {aux}", fontsize=9)
        leg = axes[0][-1].get_legend()
        if leg:
            handles, labels = axes[0][-1].get_legend_handles_labels()
            leg.remove()
            fig.legend(handles, [method_style(m)["label"] for m in labels],
                       loc="outside right center", frameon=False)
        fig.suptitle(wrap(title, fig), fontsize=9)
        return save(fig, out_dir, stem)


def stuck_seeds(data: pd.DataFrame, variables: Mapping[str, str],
                maps: Mapping[str, Mapping[str, np.ndarray]], gx, gy, title: str,
                out_dir: Path, stem: str, landmarks=None, wrap_cols: int = 4) -> list[str]:
    """Per BARFI method, panels in reading order (`wrap_cols` a row): the variables over
    training (lines: the solved and the stuck group, mean +- 1 s.e. over runs), then the
    learned change of phi3 per group (`maps`: method -> group -> map, one colour scale per
    method)."""
    methods = list(dict.fromkeys(data.method))
    shown = [v for v in variables if v in set(data.variable) and
             np.isfinite(data.value[data.variable == v].to_numpy(dtype=float)).any()]
    groups = sorted({g for m in methods for g in maps.get(m, {})})
    rows_per = -(-(len(shown) + len(groups)) // wrap_cols)
    with _style():
        fig, axes = plt.subplots(rows_per * len(methods), wrap_cols,
                                 figsize=(3.4 * wrap_cols + 0.6, 2.8 * rows_per * len(methods)
                                          + 0.9), layout="constrained", squeeze=False)
        for i, method in enumerate(methods):
            panels = [axes[i * rows_per + k // wrap_cols][k % wrap_cols]
                      for k in range(rows_per * wrap_cols)]
            name = method_style(method)["label"]
            d = data[data.method == method]
            palette = {g: OKABE_ITO["green"] if g.startswith("solved") else
                       OKABE_ITO["vermillion"] for g in set(d.group)}
            for k, var in enumerate(shown):
                ax = panels[k]
                sns.lineplot(data=d[d.variable == var], x="episode", y="value", hue="group",
                             palette=palette, errorbar=("se", 1), ax=ax, lw=1.3,
                             legend=k == 0)
                ax.set_ylabel(variables[var], fontsize=8)
                ax.set_xlabel("Episode")
                ax.set_title(name, fontsize=9)
                if k == 0 and ax.get_legend():
                    ax.get_legend().set_title("")
            per = maps.get(method, {})
            lim = max((float(np.nanmax(np.abs(z))) for z in per.values()
                       if np.isfinite(z).any()), default=1.0)
            for k, group in enumerate(groups, start=len(shown)):
                if group in per and gx is not None:
                    map_panel(fig, panels[k], per[group], gx, gy, map_symbol("phi3_map"),
                              landmarks, lim)
                    panels[k].set_title(f"{name}: {group} seeds", fontsize=9)
            for ax in panels[len(shown) + len(groups):] + [
                    panels[k] for k, g in enumerate(groups, start=len(shown))
                    if g not in per or gx is None]:
                ax.axis("off")
        fig.suptitle(wrap(title, fig), fontsize=9)
        return save(fig, out_dir, stem)


def _panel_grid(cells: list[tuple[str, str]], width: float, height: float,
                wrap_cols: int | None = None):
    """One row per env, one column per aux reward of the env (unused axes hidden); with
    `wrap_cols`, the cells in reading order, that many per row."""
    envs = list(dict.fromkeys(e for e, _ in cells))
    if wrap_cols:
        slots = {c: divmod(i, wrap_cols) for i, c in enumerate(cells)}
    else:
        slots = {c: (envs.index(c[0]), [d for d in cells if d[0] == c[0]].index(c))
                 for c in cells}
    nrow = max(r for r, _ in slots.values()) + 1
    ncol = max(c for _, c in slots.values()) + 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(width * ncol + 1.0, height * nrow),
                             layout="constrained", squeeze=False)
    where = {cell: axes[r][c] for cell, (r, c) in slots.items()}
    for ax in axes.ravel():
        if ax not in where.values():
            ax.axis("off")
    return fig, where


def interval_estimates(data: pd.DataFrame, title: str, out_dir: Path, stem: str,
                       min_runs: int = 5) -> list[str]:
    """Per env x aux panel: a row per method, IQM (dot) and its CI (bar)."""
    cells = list(dict.fromkeys(zip(data.env, data.aux)))
    with _style():
        fig, where = _panel_grid(cells, 3.3, 0.32 * data.method.nunique() + 1.1)
        for (env, aux), ax in where.items():
            d = data[(data.env == env) & (data.aux == aux)].reset_index(drop=True)
            for i, r in d.iterrows():
                st = method_style(r.method)
                ax.plot([r.iqm_low, r.iqm_high], [i, i], color=st["color"], lw=2.2,
                        solid_capstyle="butt")
                ax.plot(r.iqm, i, "o", ms=5, color=st["color"],
                        mfc=st["color"] if r.runs >= min_runs else "white")
            ax.set_yticks(range(len(d)))
            ax.set_yticklabels([method_style(m)["label"] for m in d.method], fontsize=7)
            ax.set_ylim(len(d) - 0.5, -0.5)
            ax.set_title(f"{env} / {aux}", fontsize=9)
            ax.set_xlabel("final primary return (IQM)", fontsize=8)
        fig.suptitle(wrap(title, fig), fontsize=9)
        return save(fig, out_dir, stem)


def poi_matrices(data: pd.DataFrame, title: str, out_dir: Path, stem: str) -> list[str]:
    """Per env x aux panel: heatmap of P(row > column), annotated with the CI."""
    cells = list(dict.fromkeys(zip(data.env, data.aux)))
    rows = list(dict.fromkeys(data.method))
    cols = list(dict.fromkeys(data.baseline))
    with _style():
        fig, where = _panel_grid(cells, 0.95 * len(cols) + 1.4, 0.55 * len(rows) + 1.3,
                                 wrap_cols=2)
        for (env, aux), ax in where.items():
            d = data[(data.env == env) & (data.aux == aux)]
            p = d.pivot(index="method", columns="baseline", values="p").reindex(
                index=[r for r in rows if r in set(d.method)],
                columns=[c for c in cols if c in set(d.baseline)])
            text = d.assign(t=[f"{r.p:.2f}\n[{r.low:.2f}, {r.high:.2f}]" for r in d.itertuples()]
                            ).pivot(index="method", columns="baseline", values="t"
                                    ).reindex(index=p.index, columns=p.columns)
            sns.heatmap(p, vmin=0, vmax=1, center=0.5, cmap="vlag", annot=text, fmt="",
                        annot_kws={"fontsize": 6.5}, cbar=False, ax=ax, linewidths=0.5)
            ax.set_yticklabels([method_style(m)["label"] for m in p.index], rotation=0,
                               fontsize=7)
            ax.set_xticklabels([method_style(m)["label"] for m in p.columns], rotation=35,
                               ha="right", fontsize=7)
            ax.set_xlabel("")
            ax.set_ylabel("")
            ax.set_title(f"{env} / {aux}", fontsize=9)
        fig.suptitle(wrap(title, fig), fontsize=9)
        return save(fig, out_dir, stem)
