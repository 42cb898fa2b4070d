"""Learning curves of both sides, one panel per cell, in one figure.

    python -m benchmarks.reference.plot results/fidelity --out results/fidelity/curves

reads every <cell>.returns.nc written by `benchmarks.reference.run` in the folder (or only those
of --env) and draws, per cell, each side's mean primary return over seeds with a 95% percentile
bootstrap band over seeds. Rows are (env, aux), columns are methods. Each seed's curve is first
averaged over a trailing window of --smooth episodes (single episodes are nearly binary in
GridWorld and MountainCar); --smooth 1 draws the raw episodes. Writes <out>.png and <out>.pdf.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import numpy as np

from barfi.analysis.aggregate import aux_order, method_order
from barfi.analysis.figures import OKABE_ITO, RETURN_LABEL, plt, save
from barfi.analysis.stats import bootstrap_band
from benchmarks.reference.compare import SIDES, read_curves

SIDE_STYLE = {"reference": dict(color=OKABE_ITO["black"], ls="--", label="reference code"),
              "barfi": dict(color=OKABE_ITO["vermillion"], ls="-", label="barfi")}


def trailing_mean(curves: np.ndarray, window: int) -> np.ndarray:
    """Mean of each row over its last `window` episodes up to each episode (fewer at the start)."""
    if window <= 1:
        return curves
    csum = np.cumsum(np.insert(curves, 0, 0.0, axis=1), axis=1)
    idx = np.arange(1, curves.shape[1] + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[:, idx] - csum[:, lo]) / (idx - lo)


def _panel(ax, ds, smooth: int) -> None:
    for side in SIDES:
        values = ds["primary_return"].sel(side=side).values
        values = values[~np.isnan(values).all(axis=1)]
        if len(values) == 0:
            continue
        mean, lo, hi = bootstrap_band(trailing_mean(values, smooth))
        x = ds["episode"].values + 1
        st = SIDE_STYLE[side]
        ax.fill_between(x, lo, hi, color=st["color"], alpha=0.2, lw=0)
        ax.plot(x, mean, color=st["color"], ls=st["ls"], lw=1.4,
                label=f"{st['label']} (n={len(values)})")
    ax.set_title(textwrap.fill(f"{ds.attrs['env']} / {ds.attrs['aux']} / {ds.attrs['method']}, "
                               f"config {ds.attrs['config']}", 48), fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="best")


def panel_column(env: str, aux: str, method: str, present: set[tuple[str, str, str]]) -> str:
    """The column of a cell's panel: its method, except that a BARFI variant stands in the
    BARFI column of a row without BARFI itself (CartPole's noisy PD reward has only a
    first-order sweep in the reference); its panel title says which variant it is."""
    if method.startswith("barfi") and (env, aux, "barfi") not in present:
        return "barfi"
    return method


def plot(paths: list[Path], out: Path, smooth: int) -> list[str]:
    cells = [read_curves(p) for p in paths]
    rows = []
    for env in dict.fromkeys(ds.attrs["env"] for ds in cells):
        auxes = aux_order(env, {ds.attrs["aux"] for ds in cells if ds.attrs["env"] == env})
        rows += [(env, a) for a in auxes]
    present = {(ds.attrs["env"], ds.attrs["aux"], ds.attrs["method"]) for ds in cells}

    def column(ds) -> str:
        return panel_column(ds.attrs["env"], ds.attrs["aux"], ds.attrs["method"], present)

    cols = method_order({column(ds) for ds in cells})
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(3.2 * len(cols), 2.6 * len(rows)),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.set_visible(False)
    for ds in cells:
        ax = axes[rows.index((ds.attrs["env"], ds.attrs["aux"])), cols.index(column(ds))]
        ax.set_visible(True)
        _panel(ax, ds, smooth)
        ax.set_xlabel("Episode")
        ax.set_ylabel(RETURN_LABEL, fontsize=7)
    title = ("Reference code vs barfi: mean primary return over seeds, 95% bootstrap band"
             + (f" (trailing mean over {smooth} episodes)" if smooth > 1 else ""))
    fig.suptitle(textwrap.fill(title, max(30, int(fig.get_figwidth() * 14))), fontsize=9)
    return save(fig, out.parent, out.name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reference.plot",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="output folder of benchmarks.reference.run")
    p.add_argument("--out", type=Path, help="figure path without suffix (default FOLDER/curves)")
    p.add_argument("--env", help="only the cells of this env")
    p.add_argument("--smooth", type=int, default=20, help="trailing window in episodes (20)")
    args = p.parse_args(argv)
    pattern = f"{args.env}__*.returns.nc" if args.env else "*.returns.nc"
    paths = sorted(args.folder.glob(pattern))
    if not paths or args.smooth < 1:
        print(f"benchmarks.reference.plot: error: no {pattern} in {args.folder} or --smooth < 1",
              file=sys.stderr)
        return 2
    out = args.out or args.folder / (f"curves-{args.env}" if args.env else "curves")
    for name in plot(paths, out, args.smooth):
        print(out.parent / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
