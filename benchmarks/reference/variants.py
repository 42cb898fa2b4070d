"""Compare barfi runs of one cell under variants of a reference behaviour (e.g. the tile coder),
with the harness's statistics: final performance per variant, the fraction of seeds that solve
the task, and each variant's difference from the first with a 95% bootstrap CI.

    python -m benchmarks.reference.variants clip=/tmp/clip published=/tmp/published \\
        [--csv results/fidelity/variants_mountaincar_bang-bang_barfi.csv]

Each NAME=DIR is a directory of run files from `barfi train --seeds ... --out-dir DIR`, all of
one env; the same seeds in every directory make the comparison like for like. Prints a markdown
table; `--csv` also writes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from barfi.analysis.stuck import SOLVE_LEVELS
from benchmarks.reference.compare import (FINAL_EPISODES, curves_matrix, diff_ci, summarise,
                                          write_table)


def read_runs(directory: Path) -> tuple[str, dict[int, np.ndarray]]:
    """(env, {seed: per-episode primary returns}) of the run files in `directory`."""
    paths = sorted(directory.glob("seed-*.nc"))
    if not paths:
        raise SystemExit(f"error: {directory} holds no run file (seed-<N>.nc)")
    runs, envs = {}, set()
    for path in paths:
        with xr.open_dataset(path) as ds:
            envs.add(ds.attrs["env"])
            runs[int(ds.attrs["seed"])] = ds["primary_return"].values
    if len(envs) != 1:
        raise SystemExit(f"error: {directory} mixes envs {sorted(envs)}; give one env per table")
    return envs.pop(), runs


def variants_table(variants: dict[str, dict[int, np.ndarray]], env: str) -> pd.DataFrame:
    threshold = SOLVE_LEVELS.get(env)
    names = list(variants)
    s = {n: summarise(curves_matrix(variants[n]), threshold) for n in names}
    rows = []
    for n in names:      # the first variant is the baseline: its own difference is left empty
        low, high = (diff_ci(s[n].finite_finals, s[names[0]].finite_finals) if n != names[0]
                     else (np.nan, np.nan))
        rows.append({"variant": n, "seeds": f"{min(variants[n])}-{max(variants[n])}",
                     "n": s[n].n, "final_mean": s[n].mean, "final_se": s[n].se,
                     "solved": s[n].solved, f"diff_vs_{names[0]}": (s[n].mean - s[names[0]].mean
                                                if n != names[0] else np.nan),
                     "diff_ci_low": low, "diff_ci_high": high})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reference.variants",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("variants", nargs="+", metavar="NAME=DIR")
    p.add_argument("--csv", type=Path, help="also write the table here")
    args = p.parse_args(argv)
    dirs = {}
    for item in args.variants:
        name, sep, d = item.partition("=")
        if not sep or not name or not Path(d).is_dir():
            p.error(f"{item!r} is not NAME=DIR with an existing directory")
        dirs[name] = Path(d)
    read = {n: read_runs(d) for n, d in dirs.items()}
    envs = {env for env, _ in read.values()}
    if len(envs) != 1:
        p.error(f"the directories hold different envs {sorted(envs)}")
    table = variants_table({n: runs for n, (_, runs) in read.items()}, envs.pop())
    print(f"final performance: mean primary return of the last {FINAL_EPISODES} episodes")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    if args.csv:
        write_table(table.to_dict("records"), args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
