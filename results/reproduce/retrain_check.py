"""Check committed run files against this checkout's code: retrain whole training jobs of a
study and compare every recorded variable with the study's files.

    python results/reproduce/retrain_check.py --study studies/reproduce \
        --cell gridworld/center-bonus/barfi
    python results/reproduce/retrain_check.py --study . --cell gridworld/none/reinforce --jobs 2

It works on any study's working directory (the reproduction's, `studies/reproduce`, or the
default study's, the repository root).

A job is what one Snakemake training job trained together: the run files of a cell that share
their start and end time and `block_seeds` (a pack of configurations x seeds, or a block of
evaluation seeds). It is retrained the same way (`barfi train --config ... --seeds ...`), because
a seed's floating-point numbers may depend on the other agents of its block (README,
"Determinism"). Every data variable must be equal except `wall_time`; the attributes that say
when and by which commit a file was made may differ (the study's commit is printed).

Exit status 0: every file equal; 1: some differ (one line each, naming the variables); 2: bad
input. Jobs are chosen at random with a fixed seed (`--pick`), so a rerun checks the same ones.
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def training_jobs(cell_dir: Path) -> list[list[Path]]:
    """The run files of a cell grouped by the job that trained them."""
    import xarray as xr

    jobs: dict[tuple, list[Path]] = defaultdict(list)
    for path in sorted(cell_dir.glob("*/seed-*.nc")):
        with xr.open_dataset(path) as ds:
            a = ds.attrs
            key = (a["start_time"], a["end_time"], a["block_seeds"], int(a["env_steps"]))
            jobs[key].append(path)
    return [jobs[k] for k in sorted(jobs)]


def differing_variables(study_file: Path, new_file: Path) -> list[str]:
    import xarray as xr

    with xr.open_dataset(study_file) as a, xr.open_dataset(new_file) as b:
        if a.attrs["block_seeds"] != b.attrs["block_seeds"]:
            return ["block_seeds (the job was not rebuilt as it ran)"]
        names = sorted((set(a.data_vars) | set(b.data_vars)) - {"wall_time"})
        return [v for v in names if v not in a or v not in b or not a[v].equals(b[v])]


def check_job(files: list[Path], configs_dir: Path) -> tuple[list[str], str]:
    """Retrain one job; returns (one line per differing file, a summary line)."""
    import xarray as xr

    configs = sorted({f.parent.name for f in files})
    seeds = sorted({int(f.stem.removeprefix("seed-")) for f in files})
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "barfi", "train",
               *[a for c in configs for a in ("--config", str(configs_dir / f"{c}.json"))],
               "--seeds", ",".join(map(str, seeds)), "--runs-dir", out, "--threads", "1",
               "--quiet"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            return [f"{files[0].parent.parent}: retraining failed: {tail}"], ""
        bad = []
        for f in files:
            diff = differing_variables(f, Path(out) / f.parent.name / f.name)
            if diff:
                bad.append(f"{f}: differs in {', '.join(diff)}")
        with xr.open_dataset(files[0]) as a:
            made = f"{a.attrs.get('git_commit', '?')[:7]} on {a.attrs['start_time'][:10]}"
    return bad, (f"{len(configs)} configuration(s) x {len(seeds)} seed(s), {len(files)} run files "
                 f"(trained by {made}): {'equal' if not bad else f'{len(bad)} differ'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", type=Path, required=True,
                        help="the study's working directory (with data/runs and data/configs)")
    parser.add_argument("--cell", required=True, help="env/aux/method, e.g. gridworld/none/barfi")
    parser.add_argument("--jobs", type=int, default=1, help="how many training jobs to retrain")
    parser.add_argument("--pick", type=int, default=0, help="seed of the random choice of jobs")
    args = parser.parse_args(argv)
    cell_dir = args.study / "data" / "runs" / args.cell
    configs_dir = args.study / "data" / "configs" / args.cell
    jobs = training_jobs(cell_dir) if cell_dir.is_dir() else []
    if args.jobs < 1:
        print(f"retrain_check: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    if not jobs:
        cells = sorted("/".join(p.parts[-3:]) for p in (args.study / "data" / "runs").glob("*/*/*")
                       if p.is_dir())
        print(f"retrain_check: no run files under {cell_dir}; cells of this study: "
              f"{', '.join(cells) or 'none (is --study the study working directory?)'}",
              file=sys.stderr)
        return 2
    random.Random(args.pick).shuffle(jobs)
    failed = False
    for files in jobs[:args.jobs]:
        bad, summary = check_job(files, configs_dir)
        for line in bad:
            print(line)
        if summary:
            print(f"{args.cell}: {summary}")
        failed = failed or bool(bad)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
