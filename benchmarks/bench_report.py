"""Benchmark: wall time and peak memory of aggregate + select + report as the number of run
files grows (synthetic GridWorld sweeps: 3 aux rewards x 5 methods x 10 seeds, configurations
added until the size is reached; BARFI runs carry their per-episode records and phi maps).

Each stage runs as its own process (`python -m barfi.analysis ...`), so its peak resident
memory is the process's own maximum RSS (from wait4), and its CPU time is user + system time.

    python benchmarks/bench_report.py                     # 100, 1,000 and 10,000 run files
    python benchmarks/bench_report.py --max-runs 1000     # stop at 1,000
    python benchmarks/bench_report.py --sizes 50,200 --episodes 200 --keep /tmp/bench

Writes the run files, the aggregated and selection datasets and the report under a
temporary directory (removed at the end unless --keep DIR is given).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_stage(args: list[str], log: Path) -> dict[str, float]:
    """Run `python -m barfi.analysis *args`; return wall s, CPU s and max RSS (MiB)."""
    t0 = time.perf_counter()
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "barfi.analysis", *args], stdout=fh,
                                stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"stage {args[0]} failed (exit {proc.returncode}); see {log}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": ru.ru_maxrss / 1024.0}


def dir_size(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100,1000,10000",
                   help="comma-separated numbers of run files (default 100,1000,10000)")
    p.add_argument("--max-runs", type=int, default=None,
                   help="skip sizes above this number of run files")
    p.add_argument("--episodes", type=int, default=2000,
                   help="episodes per run (default 2000, GridWorld's published budget)")
    p.add_argument("--jobs", type=int, default=1,
                   help="aggregate's --jobs (default 1: one process, so that max RSS is the "
                        "whole memory of the stage)")
    p.add_argument("--reps", type=int, default=2000, help="report's bootstrap resamples")
    p.add_argument("--keep", metavar="DIR", help="work here and keep the files")
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        p.error(f"--sizes {args.sizes!r} is not a comma-separated list of integers")
    if args.max_runs is not None:
        sizes = [n for n in sizes if n <= args.max_runs]
    if not sizes or min(sizes) < 1:
        p.error("no sizes to run")

    # The synthetic sweeps are a test fixture (tests/synthetic.py), not part of the package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from synthetic import make_sweep

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_report."))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "bench.log"
    rows = []
    try:
        for n in sizes:
            d = work / f"n{n}"
            shutil.rmtree(d, ignore_errors=True)
            t0 = time.perf_counter()
            make_sweep(d / "runs", n, episodes=args.episodes, diverged_every=97)
            gen = time.perf_counter() - t0
            agg, sel, rep = d / "agg.nc", d / "sel.nc", d / "report"
            a = run_stage(["aggregate", str(d / "runs"), "--out", str(agg), "--jobs",
                           str(args.jobs)], log)
            s = run_stage(["select", str(agg), "--out", str(sel)], log)
            r = run_stage(["report", "--aggregated", str(agg), "--selection", str(sel),
                           "--out-dir", str(rep), "--reps", str(args.reps)], log)
            rows.append(dict(n=n, input=dir_size(d / "runs"), agg_size=agg.stat().st_size / 2**20,
                             gen=gen, a=a, s=s, r=r,
                             files=len(list(rep.iterdir()))))
            print(f"n={n}: aggregate {a['wall']:.1f} s / {a['rss']:.0f} MiB, select "
                  f"{s['wall']:.1f} s / {s['rss']:.0f} MiB, report {r['wall']:.1f} s / "
                  f"{r['rss']:.0f} MiB", file=sys.stderr, flush=True)
            if not args.keep:
                shutil.rmtree(d / "runs", ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nSynthetic GridWorld sweeps, {args.episodes} episodes per run, aggregate --jobs "
          f"{args.jobs}, report --reps {args.reps}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the end.\n")
    head = ("| run files | input MiB | aggregated MiB | aggregate wall s (CPU s) | aggregate "
            "max RSS MiB | select wall s | select max RSS MiB | report wall s (CPU s) | report "
            "max RSS MiB | report files |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        print(f"| {r['n']:,} | {r['input']:.0f} | {r['agg_size']:.0f} | {r['a']['wall']:.1f} "
              f"({r['a']['cpu']:.1f}) | {r['a']['rss']:.0f} | {r['s']['wall']:.1f} | "
              f"{r['s']['rss']:.0f} | {r['r']['wall']:.1f} ({r['r']['cpu']:.1f}) | "
              f"{r['r']['rss']:.0f} | {r['files']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
