"""Training-loop speed, as ratios against references measured in the same run.

1. Per environment: env steps/s of the `reinforce` training loop (one seed) against the raw
   environment's step rate (`gym.make`, random actions from the action space).
2. GridWorld `reinforce`, published config, 2000 episodes: per-seed wall time for one seed and
   for a block of 40 seeds in one process on one core, against the authors' 17 s per seed on
   these machines (../shared/anchors.md).

Usage: python benchmarks/bench_train.py [--envs gridworld,cartpole,...] [--blocks 1,40]
       [--episodes 2000] [--halfcheetah-episodes 5]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch

import barfi.envs  # noqa: F401  (registers barfi/... Gymnasium ids)
from barfi.config import resolve_config
from barfi.train import train

from common import per_seed_table

AUTHORS_REINFORCE_GRIDWORLD_S = 17.0  # ../shared/anchors.md, GridWorld, no aux, per seed
RAW_IDS = {"gridworld": "barfi/GridWorld-v0", "mountaincar": "barfi/MountainCar-v0",
           "cartpole": "CartPole-v1", "halfcheetah": "HalfCheetah-v5"}
AUX = {"gridworld": "none", "mountaincar": "bang-bang", "cartpole": "pd-agree",
       "halfcheetah": "ctrl"}


def raw_steps_per_s(gym_id: str, steps: int) -> float:
    env = gym.make(gym_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def loop_steps_per_s(env: str, episodes: int) -> float:
    config = resolve_config(env, AUX[env], "reinforce", {"episodes": episodes})
    train(resolve_config(env, AUX[env], "reinforce", {"episodes": 1}), [0])  # imports, caches
    t0 = time.perf_counter()
    (ds,) = train(config, [0], progress=False)
    return float(ds.episode_length.sum()) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", default="gridworld,mountaincar,cartpole,halfcheetah")
    parser.add_argument("--blocks", default="1,40",
                        help="block sizes (agents per process) of the per-seed table")
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--halfcheetah-episodes", type=int, default=5)
    parser.add_argument("--skip-block", action="store_true")
    args = parser.parse_args()
    blocks = tuple(int(b) for b in args.blocks.split(","))
    torch.set_num_threads(1)

    print("| env | raw gym.make steps/s | reinforce loop steps/s | ratio |")
    print("|---|---|---|---|")
    for env in args.envs.split(","):
        episodes = {"halfcheetah": args.halfcheetah_episodes, "mountaincar": 3,
                    "cartpole": 200, "gridworld": 500}[env]
        raw = raw_steps_per_s(RAW_IDS[env], 20000 if env != "halfcheetah" else 5000)
        loop = loop_steps_per_s(env, episodes)
        print(f"| {env} | {raw:,.0f} | {loop:,.0f} | {loop / raw:.2f} |")

    if args.skip_block:
        return
    per_seed_table("gridworld", "none", "reinforce", args.episodes, blocks,
                   AUTHORS_REINFORCE_GRIDWORLD_S)


if __name__ == "__main__":
    main()
