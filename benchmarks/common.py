"""Shared by the benchmark scripts: time a whole `barfi train` process, as the authors' timings
in ../shared/anchors.md are whole-process seconds."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time


def time_train_process(env: str, aux: str, method: str, block: int, episodes: int,
                       extra: tuple[str, ...] = ()) -> float:
    """Wall seconds of one `barfi train` process running seeds 1..block in lockstep."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "barfi.cli", "train", "--env", env, "--aux", aux,
               "--method", method, "--seeds", f"1-{block}", "--out-dir", out,
               "--set", f"episodes={episodes}", "--quiet", *extra]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t0


def per_seed_table(env: str, aux: str, method: str, episodes: int, blocks: tuple[int, ...],
                   authors_s: float) -> None:
    """Print per-seed wall time for each block size against the authors' per-seed time."""
    print(f"\n{env} {method} (aux {aux}), {episodes} episodes, published config, whole "
          "`barfi train` process, 1 torch thread")
    print(f"| seeds in the process | wall s | per-seed s | speed-up vs authors' {authors_s:g} s |")
    print("|---|---|---|---|")
    for block in blocks:
        wall = time_train_process(env, aux, method, block, episodes)
        per_seed = wall / block
        print(f"| {block} | {wall:.1f} | {per_seed:.2f} | {authors_s / per_seed:.1f}x |")
