"""BARFI's cost, as ratios and scaling curves measured in the same run.

1. Time per outer step (implicit hypergradient) against the Neumann terms K, GridWorld, one
   block of agents, relative to K = 0.
2. Peak memory of one `barfi` and one `barfi-unrolled` update as the inner steps per update grow
   from 5 to 80 (implicit: the inner steps are not differentiated, so it should stay flat).
   Each point runs in a fresh subprocess; the figure is the growth of max RSS during the update.
3. Wall-time ratio of a full `barfi` run to a `reinforce` run on the same environment.
4. Per-seed wall time of `barfi` on GridWorld (2000 episodes, published config), one seed and a
   block of 40 seeds on one core, against the authors' 33 s per seed (../shared/anchors.md).

Usage: python benchmarks/bench_barfi.py [--block 40] [--episodes 2000] [--skip-block]
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
from barfi.learners import make_learner
from barfi.rng import BlockStreams
from barfi.train import train

from common import per_seed_table, time_train_process

AUTHORS_BARFI_GRIDWORLD_S = 33.0


def filled_learner(method: str, seeds, overrides=None):
    """A GridWorld learner past its warm-up, with a full buffer of real episodes."""
    config = resolve_config("gridworld", "center-bonus", method,
                            {"episodes": 60, "first_mul": 9, "inner_mul": 2, "buffer_size": 50,
                             **(overrides or {})})
    learner = make_learner(config, ENVS["gridworld"], BlockStreams(seeds))
    recorder = {}

    def capture(batch, index):
        recorder["learner"] = learner
        return real_end(batch, index)
    real_end = learner.end_episode
    learner.end_episode = capture
    import barfi.train as tm
    original = tm.make_learner
    tm.make_learner = lambda *a, **k: learner
    try:
        train(config, seeds)
    finally:
        tm.make_learner = original
    learner.end_episode = real_end
    return learner


def outer_step_times(block: int, repeats: int = 20) -> None:
    print(f"\nOuter step (implicit hypergradient) time vs Neumann terms K, GridWorld, "
          f"block of {block} agents")
    print("| K | ms per outer step | ratio to K=0 |")
    print("|---|---|---|")
    base = None
    for k in (0, 1, 5, 10, 20, 40):
        learner = filled_learner("barfi", list(range(block)), {"neumann_terms": k})
        learner._outer_implicit()  # warm up
        t0 = time.perf_counter()
        for _ in range(repeats):
            learner._outer_implicit()
        ms = (time.perf_counter() - t0) / repeats * 1e3
        base = base or ms
        print(f"| {k} | {ms:.2f} | {ms / base:.2f} |")


def _memory_point(method: str, steps: int) -> float:
    """Run in a child: MiB of max-RSS growth during one update with `steps` inner steps."""
    learner = filled_learner(method, [1])
    learner.hp = resolve_config("gridworld", "center-bonus", method,
                                {"episodes": 60, "inner_mul": steps, "delta": 1}).hp
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if method == "barfi-unrolled":
        learner._unrolled_update(steps)
    else:
        learner._outer_implicit()
        learner._inner_steps(steps)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (after - before) / 1024.0


def memory_table() -> None:
    print("\nPeak memory growth of one update (MiB of max RSS) vs inner steps, GridWorld, 1 seed")
    print("| inner steps | barfi (implicit) | barfi-unrolled |")
    print("|---|---|---|")
    for steps in (5, 10, 20, 40, 80):
        row = []
        for method in ("barfi", "barfi-unrolled"):
            out = subprocess.run([sys.executable, __file__, "--memory-point", method, str(steps)],
                                 check=True, capture_output=True, text=True).stdout
            row.append(json.loads(out.strip().splitlines()[-1]))
        print(f"| {steps} | {row[0]:.1f} | {row[1]:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--block", type=int, default=40)
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--skip-block", action="store_true")
    parser.add_argument("--memory-point", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.memory_point:
        print(json.dumps(_memory_point(args.memory_point[0], int(args.memory_point[1]))))
        return

    outer_step_times(args.block)
    memory_table()
    print("\nFull run wall time, barfi vs reinforce, 1 seed, whole process")
    print("| env | episodes | reinforce s | barfi s | ratio |")
    print("|---|---|---|---|---|")
    for env, aux, episodes in (("gridworld", "center-bonus", args.episodes),
                               ("cartpole", "pd-agree", 300), ("mountaincar", "bang-bang", 100)):
        r = time_train_process(env, aux, "reinforce", 1, episodes)
        b = time_train_process(env, aux, "barfi", 1, episodes)
        print(f"| {env} | {episodes} | {r:.1f} | {b:.1f} | {b / r:.2f} |")
    if not args.skip_block:
        per_seed_table("gridworld", "none", "barfi", args.episodes, (1, args.block),
                       AUTHORS_BARFI_GRIDWORLD_S)


if __name__ == "__main__":
    main()
