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
from barfi.config import seed_ranges
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
    s = {n: summarise(curves_matrix(runs), threshold) for n, runs in variants.items()}
    base_name, base = next(iter(s.items()))   # the first variant is the baseline
    rows = []
    for n, side in s.items():
        row = {"variant": n, "seeds": seed_ranges(variants[n]), "n": side.n,
               "final_mean": side.mean, "final_se": side.se, "solved": side.solved,
               f"diff_vs_{base_name}": np.nan, "diff_ci_low": np.nan, "diff_ci_high": np.nan}
        if n != base_name:                    # the baseline's own difference stays empty
            row[f"diff_vs_{base_name}"] = side.mean - base.mean
            row["diff_ci_low"], row["diff_ci_high"] = diff_ci(side.finite_finals,
                                                              base.finite_finals)
        rows.append(row)
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
