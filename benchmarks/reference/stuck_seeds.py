"""What the stuck seeds of one configuration do (docs/fidelity.md, "What the stuck seeds do"):
the report's stuck-seeds comparison (`barfi.analysis.stuck`) for any configuration on any
seeds of a study, by default configuration 0 (the published defaults, the configuration the
differential harness compares) on the tuning seeds, where the report itself shows only the
selected configuration on the evaluation seeds.

    python -m benchmarks.reference.stuck_seeds --aggregated studies/reproduce/data/aggregated/gridworld.nc \\
        --selection studies/reproduce/data/selection/gridworld.nc --aux center-bonus --method barfi \\
        --out-dir /tmp/stuck

writes stuck_seeds.csv (per group: runs, the stuck seeds, means over the last 200 episodes)
and the figure stuck-seeds_<env>_<aux>_<config>.png/.pdf.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def published_config(inp, aux: str, method: str) -> str:
    """The id of the grid point whose every override is the published value (configuration 0)."""
    from barfi.config import published_defaults

    published = published_defaults(inp.env, method, aux)
    m = inp.method_i[method]

    def same(key: str, text: str) -> bool:
        value = published.get(key)
        return float(value) == float(text) if _num(text) and value is not None \
            else str(value) == text

    def is_published(overrides: str) -> bool:
        return all(same(*kv.split("=", 1)) for kv in overrides.split(";") if kv)

    ids = [c for c, i in inp.config_i.items() if inp.n_episodes[m, i] > 0
           and is_published(str(inp.agg.overrides.values[m, i]))]
    if len(ids) != 1:
        raise SystemExit(f"stuck_seeds: {method} has {len(ids)} configurations at the published "
                         "defaults in this study; give --config")
    return ids[0]


def _num(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    from barfi.analysis import figures_sns, stuck
    from barfi.analysis.inputs import load_inputs
    from barfi.envs import ENVS

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
    spec = ENVS.get(inp.env)
    files = figures_sns.stuck_seeds(
        frame, stuck.VARIABLES, maps,
        inp.agg.grid_x.values if "grid_x" in inp.agg else None,
        inp.agg.grid_y.values if "grid_y" in inp.agg else None,
        f"{inp.label}, aux reward: {args.aux}: {args.method} configuration {config} on the "
        f"{args.seeds} seeds, runs that solve the task (final performance >= "
        f"{stuck.SOLVE_LEVELS[inp.env]:g}) against those that do not; mean +- 1 s.e.",
        args.out_dir, f"stuck-seeds_{inp.env}_{args.aux}_{config}",
        landmarks=spec.phi_map_landmarks if spec is not None else None)
    print("wrote", ", ".join(str(args.out_dir / f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
