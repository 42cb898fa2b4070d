"""How good was `barfi estimate`? Compare its prediction for a sweep with what the sweep then
cost, from the `benchmark:` files Snakemake wrote for every training job.

    barfi estimate --configfile config/reproduce.yaml --json est.json     # before the sweep
    snakemake ... --configfile config/reproduce.yaml                      # the sweep
    python -m benchmarks.estimate_vs_measured --estimate est.json --workdir . [--env gridworld]

Per env: training jobs found against those estimated, CPU-hours measured (the `cpu_time`
column: user + system time of the job's processes, which is what the estimate predicts and
which other load on the machine barely changes) against the estimate, their ratio, and the
jobs' summed wall time. The estimate is within its target where 0.75 <= ratio <= 1.25.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd


def measured(workdir: Path, env: str) -> dict:
    """Sum of the training jobs' benchmark rows under logs/train/<env>/."""
    files = sorted((workdir / "logs" / "train" / env).rglob("*.benchmark.tsv"))
    if not files:
        return {"jobs": 0, "cpu_hours": 0.0, "wall_hours": 0.0}
    rows = pd.concat([pd.read_csv(f, sep="\t") for f in files], ignore_index=True)
    return {"jobs": len(files), "cpu_hours": float(rows.cpu_time.sum()) / 3600,
            "wall_hours": float(rows.s.sum()) / 3600,
            "mean_load_pct": float(rows.mean_load.mean())}


def compare(estimate: dict, workdir: Path, envs: list[str] | None) -> list[dict]:
    rows = []
    for env, est in estimate["envs"].items():
        if envs and env not in envs:
            continue
        got = measured(workdir, env)
        rows.append({"env": env, "jobs": got["jobs"], "jobs_estimated": est["jobs"],
                     "cpu_hours": got["cpu_hours"], "cpu_hours_estimated": est["cpu_hours"],
                     "ratio": got["cpu_hours"] / est["cpu_hours"] if est["cpu_hours"] else None,
                     "job_wall_hours": got["wall_hours"],
                     "mean_load_pct": got.get("mean_load_pct")})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--estimate", required=True, type=Path,
                    help="JSON written by `barfi estimate --json`")
    ap.add_argument("--workdir", type=Path, default=Path("."),
                    help="the sweep's Snakemake working directory (holds logs/train/)")
    ap.add_argument("--env", action="append", help="only this env (repeatable)")
    ap.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    try:
        estimate = json.loads(args.estimate.read_text())
        estimate["envs"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"estimate_vs_measured: --estimate {args.estimate}: not an estimate JSON of "
              f"`barfi estimate --json` ({exc})", file=sys.stderr)
        return 2
    rows = compare(estimate, args.workdir, args.env)
    if not rows:
        print(f"estimate_vs_measured: no env of the estimate matches --env {args.env}; valid: "
              f"{', '.join(estimate['envs'])}", file=sys.stderr)
        return 2
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.json:
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps({"estimate": str(args.estimate), "rows": rows}, indent=1)
                       + "\n")
        tmp.replace(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
