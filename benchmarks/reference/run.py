"""Differential harness: run cells of the paper on the authors' reference code and on barfi with
the same hyperparameters, and write one table and one file of learning curves per cell.

    python -m benchmarks.reference.run --ref /path/to/gupta2023behavior \\
        --ref-python /path/to/refenv/bin/python --cell gridworld/none/reinforce \\
        --config 0 --seeds 1-20 --jobs 2 --out results/fidelity

Never part of CI: it needs a checkout of the reference repository, which barfi does not contain.
Per cell it writes <env>__<aux>__<method>__c<config>.csv (one row) and .returns.nc, and then
rebuilds summary.csv and summary.md from every cell table in --out. See docs/fidelity.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np

from barfi.analysis.stuck import SOLVE_LEVELS
from barfi.config import ConfigError, parse_seeds, parse_set_args, resolve_config
from benchmarks.reference.cells import (Cell, CellError, grid_points, paper_cells, parse_cell,
                                        read_sweep, reference_index, translate)
from benchmarks.reference.compare import (FINAL_EPISODES, cell_row, curves_matrix,
                                          overrides_text, write_curves, write_table)
from benchmarks.reference.sides import ReferenceJob, SideError, run_barfi, run_reference
from benchmarks.reference.summary import write_summary


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reference.run",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--ref", required=True, type=Path, help="checkout of the reference repository")
    p.add_argument("--ref-python", required=True, help="python of the reference's environment")
    p.add_argument("--cell", action="append", default=[], metavar="ENV/AUX/METHOD",
                   help="a cell to run (repeatable), e.g. gridworld/none/reinforce")
    p.add_argument("--paper-cells", nargs="?", const="all", metavar="ENV",
                   help="every env x aux x method of the paper (optionally of one env)")
    p.add_argument("--config", type=int, default=0, help="configuration index (default 0)")
    p.add_argument("--seeds", default="1-10", help="seeds, e.g. 1-20 or 1,3,5 (default 1-10)")
    p.add_argument("--episodes", type=int, help="shorter budget than the sweep's max_episodes")
    p.add_argument("--jobs", type=int, default=1, help="reference processes at once (default 1)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra barfi hyperparameter (repeatable), applied last")
    p.add_argument("--out", type=Path, default=Path("results/fidelity"), help="output folder")
    p.add_argument("--force", action="store_true", help="rerun cells whose table exists")
    return p


def _check_inputs(args) -> tuple[list[Cell], list[int], dict]:
    """Every check that can fail before compute: names, paths, seeds, budget, overrides."""
    if not (args.ref / "barfi-gw").is_dir():
        raise CellError(f"--ref {str(args.ref)!r} is not a checkout of the reference (no barfi-gw)")
    if not (os.path.isfile(args.ref_python) and os.access(args.ref_python, os.X_OK)):
        raise CellError(f"--ref-python {args.ref_python!r} is not an executable file")
    if args.jobs < 1 or args.config < 0 or (args.episodes is not None and args.episodes < 1):
        raise CellError("--jobs and --episodes must be >= 1 and --config >= 0")
    cells = [parse_cell(c) for c in args.cell]
    if args.paper_cells and args.paper_cells not in ("all", *SOLVE_LEVELS):
        raise CellError(f"--paper-cells {args.paper_cells!r} is not an env; valid: "
                        + ", ".join(SOLVE_LEVELS))
    if args.paper_cells:
        cells += paper_cells(args.ref, None if args.paper_cells == "all" else args.paper_cells)
    if not cells:
        raise CellError("no cell given; use --cell ENV/AUX/METHOD or --paper-cells [ENV]")
    extra = parse_set_args(args.overrides)
    for cell in cells:
        if not cell.sweep_path(args.ref).is_file():
            raise CellError(f"cell {cell.name}: no sweep file {cell.sweep_path(args.ref)}")
        _translation(cell, args, extra)        # fails on a bad configuration or override
    args.out.mkdir(parents=True, exist_ok=True)
    return cells, parse_seeds(args.seeds), extra


def _translation(cell: Cell, args, extra: dict):
    sweep = read_sweep(cell.sweep_path(args.ref))
    points = grid_points(sweep)
    if args.config >= len(points):
        raise CellError(f"--config {args.config} is out of range for {cell.name}; valid: "
                        f"0..{len(points) - 1}")
    point = points[args.config]
    t = translate(cell, point, args.episodes, extra)
    resolve_config(cell.env, cell.aux, cell.method, t.overrides)
    return sweep, point, t


def _reporter(cell: Cell, n_seeds: int):
    done = {"reference": 0, "barfi": 0}

    def report(side: str, seed: int, returns: np.ndarray, seconds: float) -> None:
        done[side] += 1
        final = float(np.mean(returns[-FINAL_EPISODES:]))
        print(f"[{side:9s}] {cell.name} seed {seed:3d}: final {final:9.3f}  "
              f"({seconds:6.1f} s)  [{done[side]}/{n_seeds}]", flush=True)
    return report


def run_cell(cell: Cell, seeds: list[int], args, extra: dict) -> Path:
    sweep, point, t = _translation(cell, args, extra)
    report = _reporter(cell, len(seeds))
    t0 = time.monotonic()
    barfi_runs = run_barfi(cell, t.overrides, seeds, report)
    job = ReferenceJob(cell, args.ref, args.ref_python, sweep, point, args.episodes,
                       cache_root=args.out / ".seeds")
    ref_runs = run_reference(job, seeds, args.jobs, report)
    overrides = overrides_text(t.overrides)
    meta = {"env": cell.env, "aux": cell.aux, "method": cell.method, "config": args.config,
            "episodes": curves_matrix(ref_runs).shape[1], "seeds": args.seeds,
            "reference_sweep": str(cell.sweep_path(args.ref).relative_to(args.ref)),
            "reference_index_first_seed": reference_index(sweep, args.config, seeds[0]),
            "barfi_overrides": overrides, "not_mapped": ";".join(t.not_mapped),
            "not_read_by_barfi": ";".join(t.not_read)}
    curves = {"reference": curves_matrix(ref_runs), "barfi": curves_matrix(barfi_runs)}
    row = cell_row(meta, curves, SOLVE_LEVELS[cell.env])
    stem = cell.stem(args.config)
    attrs = {k: ("" if v is None else v) for k, v in meta.items()}
    write_curves({"reference": ref_runs, "barfi": barfi_runs}, attrs,
                 args.out / f"{stem}.returns.nc")
    path = write_table([row], args.out / f"{stem}.csv")
    if job.cache_dir() is not None:
        shutil.rmtree(job.cache_dir(), ignore_errors=True)   # the table holds them now
    print(f"{cell.name} c{args.config}: reference {row['reference_mean']:.3f} +- "
          f"{row['reference_se']:.3f}, barfi {row['barfi_mean']:.3f} +- {row['barfi_se']:.3f}, "
          f"diff {row['diff_mean']:.3f} [{row['diff_ci_low']:.3f}, {row['diff_ci_high']:.3f}], "
          f"solved {row['reference_solved']:.2f} vs {row['barfi_solved']:.2f} "
          f"({time.monotonic() - t0:.0f} s) -> {path}", flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    # SIGTERM unwinds like an exception, so scratch copies and temporary outputs are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    args = _parser().parse_args(argv)
    try:
        cells, seeds, extra = _check_inputs(args)
    except (CellError, ConfigError) as exc:
        print(f"benchmarks.reference.run: error: {exc}", file=sys.stderr)
        return 2
    for cell in cells:
        table = args.out / f"{cell.stem(args.config)}.csv"
        if table.exists() and not args.force:
            print(f"{cell.name} c{args.config}: {table} exists; skipped (--force reruns it)")
            continue
        try:
            run_cell(cell, seeds, args, extra)
        except SideError as exc:
            print(f"benchmarks.reference.run: {exc}", file=sys.stderr)
            return 1
        write_summary(args.out)
    write_summary(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
