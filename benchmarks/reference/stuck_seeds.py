"""What the stuck seeds of one configuration do (docs/fidelity.md, "What the stuck seeds do"):
the report's stuck-seeds comparison (`barfi.analysis.stuck`) for any configuration on any
seeds of a study, by default configuration 0 (the published defaults, the configuration the
differential harness compares) on the tuning seeds, where the report itself shows only the
selected configuration on the evaluation seeds.

    python -m benchmarks.reference.stuck_seeds \\
        --aggregated studies/reproduce/data/aggregated/gridworld.nc \\
        --selection studies/reproduce/data/selection/gridworld.nc \\
        --aux center-bonus --method barfi --out-dir /tmp/stuck

writes stuck_seeds.csv (per group: runs, the stuck seeds, means over the last 200 episodes)
and the figure stuck-seeds_<env>_<aux>_<config>.png/.pdf.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from benchmarks.reference.compare import overrides_from_text


def published_config(inp, aux: str, method: str) -> str:
    """The id of the grid point that resolves to the published defaults (configuration 0)."""
    from barfi.config import resolve_config

    def resolved(overrides: dict) -> tuple:
        config = resolve_config(inp.env, aux, method, overrides)
        return config.hp, config.env_options

    published, m = resolved({}), inp.method_i[method]
    ids = [c for c, i in inp.config_i.items() if inp.n_episodes[m, i] > 0 and
           resolved(overrides_from_text(str(inp.agg.overrides.values[m, i]))) == published]
    if len(ids) != 1:
        raise SystemExit(f"stuck_seeds: {method} has {len(ids)} configurations at the published "
                         "defaults in this study; give --config")
    return ids[0]


def main(argv: list[str] | None = None) -> int:
    from barfi.analysis import stuck
    from barfi.analysis.inputs import load_inputs

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aggregated", required=True, type=Path)
    ap.add_argument("--selection", required=True, type=Path)
    ap.add_argument("--aux", required=True)
    ap.add_argument("--method", default="barfi")
    ap.add_argument("--config", help="config id (default: the published defaults)")
    ap.add_argument("--seeds", choices=("tuning", "evaluation"), default="tuning")
    ap.add_argument("--last", type=int, default=200)
    ap.add_argument("--out-dir", required=True, type=Path)
    args = ap.parse_args(argv)

    inp = load_inputs([args.aggregated], [args.selection])[0]
    config = args.config or published_config(inp, args.aux, args.method)
    seeds = inp.tuning_seeds if args.seeds == "tuning" else inp.eval_seeds
    got = stuck.split(inp, args.aux, args.method, args.last, config, seeds)
    if got is None:
        raise SystemExit(f"stuck_seeds: no completed runs of {config} or no solve level")
    done, is_stuck = got
    frame, rows = stuck.group_rows(inp, args.aux, args.method, args.last, is_stuck, done,
                                   config)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows, columns=stuck.TABLE_COLS)
    table.to_csv(args.out_dir / "stuck_seeds.csv", index=False, float_format="%.6g")
    print(table.drop(columns=["env", "aux"]).to_string(index=False))
    maps = {args.method: stuck.phi3_change(inp, args.aux, args.method, is_stuck, done, config)}
    files = stuck.draw(
        inp, frame, maps,
        f"{inp.label}, aux reward: {args.aux}: {args.method} configuration {config} on the "
        f"{args.seeds} seeds, runs that solve the task (final performance >= "
        f"{stuck.SOLVE_LEVELS[inp.env]:g}) against those that do not; mean +- 1 s.e.",
        args.out_dir, f"stuck-seeds_{inp.env}_{args.aux}_{config}")
    print("wrote", ", ".join(str(args.out_dir / f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
