"""Summarise GridWorld runs over seeds: final performance, time-outs and steps to the goal.

    python benchmarks/reference/gridworld_table.py LABEL=SOURCE [LABEL=SOURCE ...]

SOURCE is one of
- a text file of replay_gridworld.py output lines ("seed N final200 X timeouts Y steps Z ...");
- a directory of barfi run files (seed-<N>.nc, from `barfi train --seeds ... --out-dir`);
- a fidelity comparison file (*.returns.nc with primary_return (side, seed, episode)) followed
  by ':SIDE', e.g. gridworld__none__reinforce__c0.returns.nc:reference.
Per seed, over the last 200 episodes: final = mean primary return; time-outs = fraction of
episodes that did not reach the goal (return < 0: the goal pays +100, a step costs 0.1);
steps = mean length of the successful ones, recovered from the return as (100 - R) / 0.1;
and the mean return over episodes 100-499 (the transient, where actor-critic's runs part).
Prints, per source, the mean and standard error over seeds of each.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import xarray as xr

LAST = 200
LINE = re.compile(r"seed (\d+) final200 (\S+) timeouts (\S+) steps (\S+) per100 \[([^\]]*)\]")
EARLY = (100, 500)


def per_seed_from_returns(returns: np.ndarray) -> tuple[float, float, float, float]:
    """(final, time-out fraction, mean steps of successful episodes, mean return over the
    EARLY episodes) of one seed's returns."""
    full = np.asarray(returns, dtype=np.float64)
    r = full[-LAST:]
    ok = r > 0
    steps = float(np.round((100.0 - r[ok]) / 0.1).mean()) if ok.any() else float("nan")
    return float(r.mean()), float(1.0 - ok.mean()), steps, float(full[slice(*EARLY)].mean())


def per_seed_from_line(match: re.Match) -> tuple[float, float, float, float]:
    """The same from a replay output line (its per-100 means give the EARLY window)."""
    final, timeouts, steps = (float(x) for x in match.groups()[1:4])
    blocks = [float(x) for x in match.group(5).split(",")]
    early = float(np.mean(blocks[EARLY[0] // 100:EARLY[1] // 100]))
    return final, timeouts, steps, early


def load(source: str) -> np.ndarray:
    """(seeds, 4) array of per-seed (final, time-outs, steps, early return)."""
    path, _, side = source.partition(":")
    p = Path(path)
    if p.is_dir():
        rows = [per_seed_from_returns(xr.open_dataset(f).primary_return.values)
                for f in sorted(p.glob("seed-*.nc"))]
    elif side:
        data = xr.open_dataset(p).primary_return.sel(side=side)
        rows = [per_seed_from_returns(data.sel(seed=s).values) for s in data.seed.values]
    else:
        rows = [per_seed_from_line(m) for m in map(LINE.search, p.read_text().splitlines()) if m]
    if not rows:
        sys.exit(f"no runs found in {source!r}: expected replay output lines, a directory of "
                 "seed-<N>.nc files or a *.returns.nc:SIDE")
    return np.array(rows)


def main() -> None:
    if len(sys.argv) < 2 or any("=" not in a for a in sys.argv[1:]):
        sys.exit(__doc__.split("\n\n")[1])
    print("| run | seeds | final (mean +- s.e.) | time-outs | steps of successful episodes | "
          f"episodes {EARLY[0]}-{EARLY[1]} |")
    print("|---|---|---|---|---|---|")
    for arg in sys.argv[1:]:
        label, source = arg.split("=", 1)
        rows = load(source)
        mean = np.nanmean(rows, axis=0)
        se = np.nanstd(rows, axis=0, ddof=1) / np.sqrt(len(rows))
        print(f"| {label} | {len(rows)} | {mean[0]:.2f} +- {se[0]:.2f} | "
              f"{100 * mean[1]:.2f}% +- {100 * se[1]:.2f} | {mean[2]:.2f} +- {se[2]:.2f} | "
              f"{mean[3]:.2f} +- {se[3]:.2f} |")


if __name__ == "__main__":
    main()
