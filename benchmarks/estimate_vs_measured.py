"""How good was `barfi estimate`? Compare its prediction for a sweep with what the sweep then
cost, from the `benchmark:` files Snakemake wrote for every training job.

    barfi estimate --configfile config/reproduce.yaml --json est.json     # before the sweep
    snakemake ... --configfile config/reproduce.yaml                      # the sweep
    python -m benchmarks.estimate_vs_measured --estimate est.json --workdir . [--env gridworld]

Per env, and per env and method (`barfi estimate` writes CPU-hours per method): training jobs
found against those estimated, and the estimated CPU-hours against two measurements that
bracket the true CPU time. Snakemake's `cpu_time` column samples the job's processes every 30 s
from its 30th second, so it misses up to 30 s of every job: a lower bound, and a loose one for
a sweep of one-minute jobs. The summed wall time (`s`) is an upper bound for single-threaded
jobs, tight where jobs ran one per idle core. The estimate is within its 25% target where the
true CPU-hours, somewhere in that bracket, are within 0.75-1.25 of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd


def benchmark_rows(workdir: Path, env: str) -> pd.DataFrame:
    """One row per training job under logs/train/<env>/: its method (from the path), wall and
    CPU seconds."""
    files = sorted((workdir / "logs" / "train" / env).rglob("*.benchmark.tsv"))
    rows = []
    for f in files:
        last = pd.read_csv(f, sep="\t").iloc[-1]      # a rerun job appends a row
        method = f.relative_to(workdir / "logs" / "train" / env).parts[1]
        rows.append({"method": method, "s": float(last.s), "cpu_time": float(last.cpu_time)})
    return pd.DataFrame(rows, columns=["method", "s", "cpu_time"])


def compare(estimate: dict, workdir: Path, envs: list[str] | None) -> list[dict]:
    """Per env, then per env and method: jobs, CPU-hours measured (sampled, a lower bound) and
    the jobs' summed wall time (an upper bound on the CPU time of single-threaded jobs) against
    the estimated CPU-hours."""
    rows = []
    for env, est in estimate["envs"].items():
        if envs and env not in envs:
            continue
        jobs = benchmark_rows(workdir, env)
        per_method = estimate.get("methods", {}).get(env, {})
        groups = [("all", jobs, est["cpu_hours"], est["jobs"])]
        groups += [(m, jobs[jobs.method == m], h, None) for m, h in sorted(per_method.items())]
        for method, got, hours, jobs_estimated in groups:
            cpu, wall = got.cpu_time.sum() / 3600, got.s.sum() / 3600
            rows.append({"env": env, "method": method, "jobs": len(got),
                         "jobs_estimated": jobs_estimated, "cpu_hours_estimated": hours,
                         "cpu_hours_sampled": cpu, "job_wall_hours": wall,
                         "sampled_over_estimated": cpu / hours if hours else None,
                         "wall_over_estimated": wall / hours if hours else None})
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
