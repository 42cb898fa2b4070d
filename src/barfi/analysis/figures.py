"""Figures of the report (headless: the Agg backend), one function per kind of figure.

Every function takes plain arrays (no datasets), draws one figure and saves it as PNG (200 dpi)
and PDF, atomically. Methods keep the same colour and line style in every figure: the Okabe-Ito
palette (safe for the common colour-vision deficiencies), with potential-shaping variants dashed
and BARFI variants drawn thicker, so that figures also read in greyscale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")   # headless; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from barfi.analysis.io import atomic_output  # noqa: E402

FIG_FORMATS = ("png", "pdf")
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00",
             "purple": "#CC79A7", "grey": "#7F7F7F"}
METHOD_STYLE = {
    "primary-only": dict(color=OKABE_ITO["black"], ls=":", label="REINFORCE ($r_p$ only)"),
    "reinforce": dict(color=OKABE_ITO["orange"], ls="-", label="REINFORCE ($r_p + r_{aux}$)"),
    "reinforce-pbrs": dict(color=OKABE_ITO["sky"], ls="--", label="REINFORCE + PBRS"),
    "actor-critic": dict(color=OKABE_ITO["green"], ls="-", label="Actor-critic ($r_p + r_{aux}$)"),
    "actor-critic-pbrs": dict(color=OKABE_ITO["purple"], ls="--", label="Actor-critic + PBRS"),
    "barfi": dict(color=OKABE_ITO["vermillion"], ls="-", lw=2.2, label="BARFI"),
    "barfi-first-order": dict(color=OKABE_ITO["blue"], ls="-.", lw=2.0,
                              label="BARFI (first order)"),
    "barfi-unrolled": dict(color=OKABE_ITO["grey"], ls=(0, (5, 1, 1, 1)), lw=2.0,
                           label="BARFI (unrolled)"),
}
AUX_STYLE_CYCLE = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple",
                                          "sky", "black")]
RETURN_LABEL = "Primary return per episode\n(undiscounted sum of $r_p$)"


def _setup() -> None:
    plt.rcParams.update({
        "figure.dpi": 100, "savefig.dpi": 200, "font.size": 9, "axes.titlesize": 10,
        "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
        "grid.alpha": 0.3, "lines.linewidth": 1.5, "pdf.fonttype": 3, "ps.fonttype": 3,
        "svg.hashsalt": "barfi",
    })


_setup()


def method_style(method: str) -> dict:
    """Colour, line style, width and legend label of a method (stable across figures)."""
    if method in METHOD_STYLE:
        st = dict(METHOD_STYLE[method])
    else:  # a method added later: a colour from the palette, chosen by name, dotted
        import zlib
        st = dict(color=AUX_STYLE_CYCLE[zlib.crc32(method.encode()) % len(AUX_STYLE_CYCLE)],
                  ls=":", label=method)
    st.setdefault("lw", 1.5)
    return st


def save(fig, out_dir: Path, stem: str) -> list[str]:
    """Save `fig` as stem.png and stem.pdf (atomically; no timestamps in the PDF, so reruns
    give identical files) and close it."""
    names = []
    for ext in FIG_FORMATS:
        meta = {"CreationDate": None, "ModDate": None} if ext == "pdf" else {"Software": None}
        with atomic_output(out_dir / f"{stem}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, metadata=meta)
        names.append(f"{stem}.{ext}")
    plt.close(fig)
    return names


def episode_axis(ax) -> None:
    """Label the x axis 'Episode' with whole-number ticks."""
    ax.set_xlabel("Episode")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def wrap(text: str, fig) -> str:
    """Wrap a title to the figure's width (about 12 characters per inch at 9-10 pt)."""
    import textwrap

    width = max(30, int(fig.get_figwidth() * 12))
    return "\n".join(textwrap.fill(part, width) for part in text.split("\n"))


@dataclass
class Curve:
    """One method's curve on one panel: centre line and band (same length as x)."""

    method: str
    x: np.ndarray
    y: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    note: str = ""          # appended to the legend label, e.g. "[c3], n=20"


def learning_curves(curves: Sequence[Curve], title: str, band_text: str,
                    out_dir: Path, stem: str, ylabel: str = RETURN_LABEL) -> list[str]:
    fig, ax = plt.subplots(figsize=(6.4, 4.6), layout="constrained")
    for c in curves:
        st = method_style(c.method)
        # light bands: with many methods, overlapping bands would hide the lines
        ax.fill_between(c.x, c.lo, c.hi, color=st["color"], alpha=0.1 if len(curves) > 4
                        else 0.18, lw=0)
        ax.plot(c.x, c.y, color=st["color"], ls=st["ls"], lw=st["lw"],
                label=st["label"] + (f" {c.note}" if c.note else ""))
    episode_axis(ax)
    ax.set_ylabel(ylabel)
    ax.set_title(wrap(f"{title}\n{band_text}", fig), fontsize=9)
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    return save(fig, out_dir, stem)


def panels_over_training(panels: dict[str, Sequence[Curve]], ylabel: str, title: str,
                         out_dir: Path, stem: str, ylim: tuple | None = None) -> list[str]:
    """One panel per key (e.g. aux reward), methods as lines: gamma_phi over training."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 1.5, 3.0), layout="constrained",
                             squeeze=False, sharey=True)
    handles = {}
    for ax, (name, curves) in zip(axes[0], panels.items()):
        for c in curves:
            st = method_style(c.method)
            ax.fill_between(c.x, c.lo, c.hi, color=st["color"], alpha=0.18, lw=0)
            (h,) = ax.plot(c.x, c.y, color=st["color"], ls=st["ls"], lw=st["lw"],
                           label=st["label"])
            handles.setdefault(st["label"], h)
        ax.set_title(name)
        episode_axis(ax)
        if ylim:
            ax.set_ylim(*ylim)
    axes[0][0].set_ylabel(ylabel)
    fig.suptitle(wrap(title, fig), fontsize=10)
    fig.legend(handles.values(), handles.keys(), loc="outside right center", frameon=False)
    return save(fig, out_dir, stem)


def twin_axes(panels: dict[str, tuple[Curve, Curve]], title: str, out_dir: Path,
              stem: str) -> list[str]:
    """Per BARFI method: primary return (left axis) and return under r_phi (right axis)."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.3), layout="constrained", squeeze=False)
    for ax, (method, (primary, rphi)) in zip(axes[0], panels.items()):
        st = method_style(method)
        ax.fill_between(primary.x, primary.lo, primary.hi, color=OKABE_ITO["blue"], alpha=0.2,
                        lw=0)
        l1, = ax.plot(primary.x, primary.y, color=OKABE_ITO["blue"], label="primary return")
        episode_axis(ax)
        ax.set_ylabel("Primary return per episode", color=OKABE_ITO["blue"])
        ax.tick_params(axis="y", colors=OKABE_ITO["blue"])
        ax2 = ax.twinx()
        ax2.spines["right"].set_visible(True)
        ax2.grid(False)
        ax2.fill_between(rphi.x, rphi.lo, rphi.hi, color=OKABE_ITO["vermillion"], alpha=0.2,
                         lw=0)
        l2, = ax2.plot(rphi.x, rphi.y, color=OKABE_ITO["vermillion"], ls="--",
                       label=r"return under $r_\phi$")
        ax2.set_ylabel(r"Return under $r_\phi$ per episode", color=OKABE_ITO["vermillion"])
        ax2.tick_params(axis="y", colors=OKABE_ITO["vermillion"])
        ax.set_title(f"{st['label']} {primary.note}".strip())
        ax.legend([l1, l2], [l1.get_label(), l2.get_label()], loc="lower right", frameon=False)
    fig.suptitle(wrap(title, fig), fontsize=10)
    return save(fig, out_dir, stem)


def phi_maps(rows: dict[str, dict[str, np.ndarray]], gx: np.ndarray, gy: np.ndarray,
             title: str, out_dir: Path, stem: str, landmarks=None) -> list[str]:
    """Heatmaps of the change of phi maps from initialisation (rows: methods; columns: phi1,
    phi3), origin lower left, with the env's landmarks (`barfi.envs.MapLandmarks`: the goal and
    a bonus square outlined, the start marked; None: none); a symmetric colour scale, so that
    white is 'unchanged'."""
    names = sorted({k for r in rows.values() for k in r})
    nr, nc = len(rows), len(names)
    fig, axes = plt.subplots(nr, nc, figsize=(3.4 * nc, 3.0 * nr), layout="constrained",
                             squeeze=False)
    for r, (method, maps) in enumerate(rows.items()):
        for c, name in enumerate(names):
            ax = axes[r][c]
            if name not in maps:
                ax.axis("off")
                continue
            sym = map_symbol(name)
            map_panel(fig, ax, maps[name], gx, gy, sym, landmarks)
            ax.set_title(f"{method_style(method)['label']}: {sym}")
    handles, labels = next((a.get_legend_handles_labels() for a in axes.ravel()
                            if a.get_legend_handles_labels()[0]), ([], []))
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
    fig.suptitle(wrap(title, fig), fontsize=10)
    return save(fig, out_dir, stem)


def map_symbol(name: str) -> str:
    """'phi3_map' -> the change of phi3(s) as mathtext."""
    sym = name.replace("_map", "")
    return rf"$\Delta\{sym[:-1]}_{sym[-1]}(s)$" if sym[:-1] == "phi" else sym


def map_panel(fig, ax, z: np.ndarray, gx: np.ndarray, gy: np.ndarray, label: str,
              landmarks=None, lim: float | None = None) -> None:
    """One map on `ax`: origin lower left, a symmetric colour scale (white: 0, +-`lim`, by
    default the map's largest magnitude) with its colour bar, and the env's landmarks."""
    ax.grid(False)
    dx, dy = (gx[1] - gx[0]) / 2 if gx.size > 1 else 0.5, (gy[1] - gy[0]) / 2 if gy.size > 1 \
        else 0.5
    extent = (gx[0] - dx, gx[-1] + dx, gy[0] - dy, gy[-1] + dy)
    if lim is None:
        lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    im = ax.imshow(z, origin="lower", extent=extent, cmap="RdBu_r", vmin=-lim, vmax=lim or 1.0,
                   interpolation="nearest", aspect="equal")
    fig.colorbar(im, ax=ax, shrink=0.85).set_label(label)
    if landmarks is not None:
        _draw_landmarks(ax, landmarks)
    ax.set_xlabel("x position (normalised)")
    ax.set_ylabel("y position (normalised)")


def _draw_landmarks(ax, landmarks) -> None:
    """The goal (solid) and the bonus square (dashed) outlined, the start marked."""
    squares = [(landmarks.goal, "black", "-", "goal")]
    if landmarks.bonus is not None:
        squares.append((landmarks.bonus, OKABE_ITO["green"], "--", landmarks.bonus_label))
    for (lo, hi), colour, style, label in squares:
        ax.add_patch(Rectangle((lo, lo), hi - lo, hi - lo, fill=False, ec=colour, lw=1.6,
                               ls=style, label=label))
    ax.plot(*landmarks.start, marker="*", color="black", ms=8, ls="none", label="start")


def diverged_bars(counts: dict[str, dict[str, tuple[int, int]]], title: str, out_dir: Path,
                  stem: str) -> list[str]:
    """Bars of diverged runs per method (groups) and aux reward (bars); counts[aux][method] =
    (diverged, runs). Labels show 'diverged/runs'."""
    auxes = list(counts)
    methods = list(dict.fromkeys(m for a in auxes for m in counts[a]))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(methods) + 2), 3.2),
                           layout="constrained")
    width = 0.8 / max(1, len(auxes))
    for i, aux in enumerate(auxes):
        xs = np.arange(len(methods)) + (i - (len(auxes) - 1) / 2) * width
        vals = [counts[aux].get(m, (0, 0)) for m in methods]
        bars = ax.bar(xs, [d for d, _ in vals], width, color=AUX_STYLE_CYCLE[i % 7], label=aux)
        for b, (d, n) in zip(bars, vals):
            if n:
                ax.annotate(f"{d}/{n}", (b.get_x() + b.get_width() / 2, b.get_height()),
                            ha="center", va="bottom", fontsize=6)
    ax.set_xticks(np.arange(len(methods)))
    ax.set_xticklabels([method_style(m)["label"] for m in methods], rotation=25, ha="right")
    ax.set_ylabel("Diverged runs (count)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(wrap(title, fig), fontsize=10)
    ax.legend(title="aux reward", frameon=False, loc="best")
    return save(fig, out_dir, stem)
