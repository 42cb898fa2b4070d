"""Scaling of one training process with the number of agents it trains in lockstep.

For each (env, aux, method) case and each block size B, one `barfi train` process trains B
agents (seeds 1..B, the published configuration) for a few episodes, on one torch thread, as a
workflow job does. Reported per block:

- agent-steps/s: environment steps of all agents over the process's wall time, and its ratio
  to B = 1 of the same case measured in the same run (the speed-up of lockstep);
- peak memory (max RSS of the process) and memory per agent: the slope of peak memory between
  the smallest and each larger block, i.e. what one more agent costs.

BARFI's trajectory buffer is allocated for the run's whole budget (`min(buffer_size,
episodes)` episodes x (horizon + 1) steps), so a short run allocates less than a full one; the
table gives the measured per-agent memory of the short run with its buffer's share removed
("excl. buffer"): the figure the workflow's packer adds to the buffer of a grid point's own
budget (`barfi.study.packs`). BARFI methods run with `first_mul=0` so that outer steps (the
hypergradient) fall inside the short run.

Usage: python benchmarks/bench_scaling.py [--blocks 1,10,100,1000] [--episodes 6]
           [--cases gridworld/none/reinforce,...] [--device cpu|cuda] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import xarray as xr

from barfi.config import resolve_config
from barfi.envs import ENVS
from barfi.learners import METHODS
from barfi.learners.buffer import EpisodeBuffer

CASES = ("gridworld/none/reinforce", "gridworld/none/barfi", "cartpole/pd-agree/reinforce",
         "cartpole/pd-agree/barfi", "mountaincar/bang-bang/barfi")


def buffer_mb(env: str, aux: str, method: str, overrides: dict) -> float:
    """MB of one agent's BARFI trajectory buffer at these overrides (0 without one)."""
    return EpisodeBuffer.mb_per_agent(resolve_config(env, aux, method, overrides).hp, ENVS[env])


def run_block(env: str, aux: str, method: str, block: int, episodes: int, device: str
              ) -> dict[str, float]:
    """Train seeds 1..block in one process; wall s, agent-steps/s and peak RSS (MB)."""
    extra = {"episodes": episodes}
    if METHODS[method].family == "barfi":
        extra["first_mul"] = 0
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "barfi", "train", "--env", env, "--aux", aux,
               "--method", method, "--seeds", f"1-{block}", "--out-dir", out, "--quiet",
               "--device", device, *[a for k, v in extra.items() for a in ("--set", f"{k}={v}")]]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-500:]}")
        with xr.open_dataset(os.path.join(out, "seed-1.nc")) as ds:
            steps, train_s = int(ds.attrs["env_steps"]), float(ds["wall_time"].values[-1])
    return {"block": block, "wall_s": wall, "train_s": train_s, "env_steps": steps,
            "agent_steps_per_s": steps / train_s, "peak_mb": usage.ru_maxrss / 1024,
            "buffer_mb": buffer_mb(env, aux, method, extra)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--blocks", default="1,10,100,1000")
    p.add_argument("--episodes", type=int, default=6)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args()
    blocks = [int(b) for b in args.blocks.split(",")]
    rows = []
    print(f"{args.episodes} episodes per run, device {args.device}, one torch thread; "
          "agent-steps/s over the training loop's wall time")
    print("| case | B | agent-steps/s | x B=1 | peak MB | MB per agent | excl. buffer |")
    print("|---|---|---|---|---|---|---|")
    for case in args.cases.split(","):
        env, aux, method = case.split("/")
        base = None
        for block in blocks:
            row = {"case": case, **run_block(env, aux, method, block, args.episodes, args.device)}
            base = base or row
            if block > base["block"]:
                row["mb_per_agent"] = (row["peak_mb"] - base["peak_mb"]) / (block - base["block"])
                row["mb_per_agent_excl_buffer"] = row["mb_per_agent"] - row["buffer_mb"]
            rows.append(row)
            per = (f"{row['mb_per_agent']:.2f} | {row['mb_per_agent_excl_buffer']:.2f}"
                   if "mb_per_agent" in row else "- | -")
            print(f"| {case} | {block} | {row['agent_steps_per_s']:,.0f} | "
                  f"{row['agent_steps_per_s'] / base['agent_steps_per_s']:.1f} | "
                  f"{row['peak_mb']:.0f} | {per} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
