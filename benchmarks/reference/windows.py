"""Both sides' mean return over chosen episode windows, per cell, with the difference's 95%
bootstrap CI: the final-window table says where the runs end, this says where they part on the
way (a transient that both sides leave by the end).

    python -m benchmarks.reference.windows results/fidelity --window 100-500 --window 500-1000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks.reference.compare import SIDES, ci_excludes_0, diff_ci, read_curves


def window(text: str) -> tuple[int, int]:
    """'100-500' -> (100, 500): episodes 100 to 499, counted from 0."""
    lo, sep, hi = text.partition("-")
    if not sep or not lo.isdigit() or not hi.isdigit() or int(lo) >= int(hi):
        raise argparse.ArgumentTypeError(f"window {text!r} is not FIRST-END with FIRST < END")
    return int(lo), int(hi)


def window_rows(folder: Path, windows: list[tuple[int, int]]) -> list[str]:
    rows = []
    for path in sorted(folder.glob("*.returns.nc")):
        curves = read_curves(path)
        per_side = {side: curves["primary_return"].sel(side=side).values for side in SIDES}
        cell = f"{curves.attrs['env']}/{curves.attrs['aux']}/{curves.attrs['method']}"
        for lo, hi in windows:
            if hi > curves.sizes["episode"]:
                continue
            ref, ours = (np.nanmean(per_side[s][:, lo:hi], axis=1) for s in ("reference", "barfi"))
            ref, ours = ref[np.isfinite(ref)], ours[np.isfinite(ours)]
            ci_lo, ci_hi = diff_ci(ours, ref)
            mark = " **≠0**" if ci_excludes_0(ci_lo, ci_hi) else ""
            rows.append(f"| {cell} | {lo}-{hi} | {len(ref)} / {len(ours)} | {ref.mean():.2f} | "
                        f"{ours.mean():.2f} | {ours.mean() - ref.mean():.2f} "
                        f"[{ci_lo:.2f}, {ci_hi:.2f}]{mark} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="output folder of benchmarks.reference.run")
    parser.add_argument("--window", type=window, action="append", required=True,
                        help="episodes FIRST-END (repeatable), e.g. 100-500")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    rows = window_rows(args.folder, args.window)
    if not rows:
        parser.error(f"no *.returns.nc in {args.folder} long enough for the windows")
    print("| cell | episodes | seeds (ref / barfi) | reference | barfi | barfi − reference [95% CI] |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
