"""BARFI's cost, as ratios and scaling curves measured in the same run.

1. Time per outer step (implicit hypergradient) against the Neumann terms K, GridWorld, one
   block of agents, relative to K = 0.
2. Peak memory of one `barfi` and one `barfi-unrolled` update as the inner steps per update grow
   from 5 to 80 (implicit: the inner steps are not differentiated, so it should stay flat).
   Each point runs in a fresh subprocess; the figure is the growth of max RSS during the update.
3. Wall-time ratio of a full `barfi` run to a `reinforce` run on the same environment.
4. Per-seed wall time of `barfi` on GridWorld (2000 episodes, published config), one seed and a
   block of 40 seeds on one core, against the authors' 33 s per seed (../shared/anchors.md).

Usage: python benchmarks/bench_barfi.py [--blocks 1,40] [--episodes 2000] [--skip-block]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from barfi.config import resolve_config
from barfi.envs import ENVS
from barfi.learners import EpisodeBatch, make_learner
from barfi.rng import BlockStreams

from common import per_seed_table, time_train_process

AUTHORS_BARFI_GRIDWORLD_S = 33.0


def outer_step_times(block: int, repeats: int = 20) -> None:
    print(f"\nOuter step (implicit hypergradient) time vs Neumann terms K, GridWorld, "
          f"block of {block} agents")
    print("| K | ms per outer step | ratio to K=0 |")
    print("|---|---|---|")
    base = None
    for k in (0, 1, 5, 10, 20, 40):
        learner = synthetic_learner("barfi", block, {"neumann_terms": k})
        learner._outer_implicit()  # warm up
        t0 = time.perf_counter()
        for _ in range(repeats):
            learner._outer_implicit()
        ms = (time.perf_counter() - t0) / repeats * 1e3
        base = base or ms
        print(f"| {k} | {ms:.2f} | {ms / base:.2f} |")


def _memory_point(method: str, steps: int, block: int) -> dict[str, float]:
    """Run in a fresh child: the memory one update needs with `steps` inner steps. Two figures:
    the largest autograd graph alive during the update (bytes of tensors saved for backward: the
    outer step plus one inner step for barfi, the whole unrolled chain for barfi-unrolled), and
    the growth of the process's max RSS."""
    learner = synthetic_learner(method, block, {"inner_mul": steps, "delta": 1})
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if method == "barfi-unrolled":
            learner._unrolled_update(steps)  # one graph through every inner step
        else:
            learner._outer_implicit()
            learner._inner_steps(1)  # each inner step's graph is freed by its own backward
    if method != "barfi-unrolled":
        learner._inner_steps(steps - 1)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"saved_mib": saved[0] / 2**20, "rss_mib": (after - before) / 1024.0}


def synthetic_learner(method: str, block: int, overrides: dict):
    """A GridWorld learner whose buffer holds 50 random full-length episodes (no training run,
    so the child's max RSS before the update is only the set-up's)."""
    config = resolve_config("gridworld", "center-bonus", method,
                            {"episodes": 60, "buffer_size": 50, **overrides})
    learner = make_learner(config, ENVS["gridworld"], BlockStreams(list(range(block))))
    rng = np.random.default_rng(0)
    T = ENVS["gridworld"].horizon + 1
    for _ in range(50):
        learner.buffer.add(EpisodeBatch(
            obs=rng.random((block, T, 2)), actions=rng.integers(0, 4, (block, T)),
            r_p=rng.random((block, T)), r_aux=rng.random((block, T)),
            mask=np.ones((block, T)), terminated=np.zeros(block, bool),
            length=np.full(block, T - 1)))
    return learner


def memory_table(block: int) -> None:
    print(f"\nMemory of one update vs inner steps, GridWorld, block of {block} agents: MiB of the "
          "largest autograd graph (max-RSS growth in brackets)")
    print("| inner steps | barfi (implicit) | barfi-unrolled |")
    print("|---|---|---|")
    for steps in (5, 10, 20, 40, 80):
        row = []
        for method in ("barfi", "barfi-unrolled"):
            out = subprocess.run([sys.executable, __file__, "--memory-point", method, str(steps),
                                  str(block)], check=True, capture_output=True, text=True).stdout
            point = json.loads(out.strip().splitlines()[-1])
            row.append(f"{point['saved_mib']:.1f} ({point['rss_mib']:.0f})")
        print(f"| {steps} | {row[0]} | {row[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", default="1,40",
                        help="block sizes (agents per process) of the per-seed table")
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--skip-block", action="store_true")
    parser.add_argument("--memory-point", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    blocks = tuple(int(b) for b in args.blocks.split(","))
    torch.set_num_threads(1)
    if args.memory_point:
        method, steps, block = args.memory_point
        print(json.dumps(_memory_point(method, int(steps), int(block))))
        return

    outer_step_times(blocks[-1])
    memory_table(blocks[-1])
    print("\nFull run wall time, barfi vs reinforce, 1 seed, whole process")
    print("| env | episodes | reinforce s | barfi s | ratio |")
    print("|---|---|---|---|---|")
    for env, aux, episodes in (("gridworld", "center-bonus", args.episodes),
                               ("cartpole", "pd-agree", 300), ("mountaincar", "bang-bang", 100)):
        r = time_train_process(env, aux, "reinforce", 1, episodes)
        b = time_train_process(env, aux, "barfi", 1, episodes)
        print(f"| {env} | {episodes} | {r:.1f} | {b:.1f} | {b / r:.2f} |")
    if not args.skip_block:
        per_seed_table("gridworld", "none", "barfi", args.episodes, blocks,
                       AUTHORS_BARFI_GRIDWORLD_S)


if __name__ == "__main__":
    main()
