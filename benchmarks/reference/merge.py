"""Merge harness outputs of the same cells run on disjoint seeds (e.g. seeds 1-10 in one run,
11-20 in a later one) into one folder: curves joined along `seed`, each cell's row recomputed
from the joined curves, the summary rewritten.

    python -m benchmarks.reference.merge --into results/fidelity /tmp/fidelity-seeds-11-20

The recomputed rows use the stored curves (float32), so means can differ from a single run's
table in the 6th significant digit. A cell only in a source folder is copied as it is; a cell
whose seeds overlap the destination's, or whose configuration or budget differs, is an error.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from barfi.analysis.stuck import SOLVE_LEVELS
from barfi.config import resolve_config, seed_ranges, valid_keys
from barfi.dataset import atomic_path
from benchmarks.reference.compare import (SIDES, cell_row, overrides_from_text, read_curves,
                                          write_table)
from benchmarks.reference.summary import write_summary

# Attributes that must agree for two runs to be one cell.
SAME = ("env", "aux", "method", "config", "episodes")


def effective_config(attrs) -> tuple:
    """The configuration barfi actually ran: the overrides a cell's file records, minus keys the
    method does not read (earlier harness versions passed those along; they change nothing),
    resolved against the published defaults."""
    env, aux, method = (str(attrs[k]) for k in ("env", "aux", "method"))
    keep = set(valid_keys(method, env))
    items = overrides_from_text(str(attrs.get("barfi_overrides", "")))
    config = resolve_config(env, aux, method, {k: v for k, v in items.items() if k in keep})
    return config.hp, config.env_options


def check_cell(dest: Path, source: Path) -> None:
    """Raise ValueError unless `source`'s run can join `dest`'s: the same cell, other seeds."""
    a, b = read_curves(dest), read_curves(source)
    if effective_config(a.attrs) != effective_config(b.attrs):
        raise ValueError(f"{source.name}: barfi's configuration differs "
                         f"({b.attrs.get('barfi_overrides')!r} in the source, "
                         f"{a.attrs.get('barfi_overrides')!r} in {dest})")
    for key in SAME:
        if str(a.attrs.get(key)) != str(b.attrs.get(key)):
            raise ValueError(f"{source.name}: {key} differs ({b.attrs.get(key)!r} in the source, "
                             f"{a.attrs.get(key)!r} in {dest})")
    overlap = sorted(set(a.seed.values.tolist()) & set(b.seed.values.tolist()))
    if overlap:
        raise ValueError(f"{source.name}: seeds {overlap} are already in {dest}")


def merge_cell(dest: Path, source: Path) -> Path:
    """Join `source`'s curves into `dest`'s (both `<stem>.returns.nc`); rewrite dest's table."""
    check_cell(dest, source)
    a, b = read_curves(dest), read_curves(source)
    joined = xr.concat([a, b], dim="seed").sortby("seed")
    seeds = [int(s) for s in joined.seed.values]
    joined.attrs["seeds"] = seed_ranges(seeds)
    encoding = {"primary_return": {"zlib": True, "complevel": 9, "shuffle": True}}
    with atomic_path(dest, keep_suffix=False) as tmp:
        joined.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
    # The row, recomputed from the joined curves: per side only its finite seeds' rows.
    table = dest.with_name(dest.name.replace(".returns.nc", ".csv"))
    meta_cols = pd.read_csv(table).iloc[0].to_dict()
    meta = {k: meta_cols[k] for k in ("env", "aux", "method", "config", "episodes",
                                      "reference_sweep", "reference_index_first_seed",
                                      "barfi_overrides", "not_mapped", "not_read_by_barfi")
            if k in meta_cols}
    meta["seeds"] = joined.attrs["seeds"]
    curves = {}
    for side in SIDES:
        arr = joined["primary_return"].sel(side=side).values.astype(np.float64)
        curves[side] = arr[~np.all(np.isnan(arr), axis=1)]
    write_table([cell_row(meta, curves, SOLVE_LEVELS[str(a.attrs["env"])])], table)
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reference.merge",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--into", type=Path, required=True, help="folder that receives the seeds")
    p.add_argument("sources", type=Path, nargs="+", help="harness output folders to merge in")
    args = p.parse_args(argv)
    for folder in (args.into, *args.sources):
        if not folder.is_dir():
            print(f"benchmarks.reference.merge: error: {folder} is not a folder", file=sys.stderr)
            return 2
    try:    # every cell checked before anything is written
        for source in args.sources:
            for curves in sorted(source.glob("*.returns.nc")):
                if (args.into / curves.name).exists():
                    check_cell(args.into / curves.name, curves)
    except ValueError as exc:
        print(f"benchmarks.reference.merge: error: {exc}", file=sys.stderr)
        return 2
    for source in args.sources:
        for curves in sorted(source.glob("*.returns.nc")):
            dest = args.into / curves.name
            if dest.exists():
                print(f"merged {curves.name} -> {merge_cell(dest, curves)}")
            else:
                for f in (curves, curves.with_name(curves.name.replace(".returns.nc", ".csv"))):
                    shutil.copy2(f, args.into / f.name)
                print(f"copied {curves.name}")
    write_summary(args.into)
    return 0


if __name__ == "__main__":
    sys.exit(main())
