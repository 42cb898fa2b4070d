"""CartPole training-loop speed against Gymnasium's raw CartPole-v1, measured in the same run.

- raw: steps/s of one `gym.make("CartPole-v1")` (its default wrappers included), actions drawn
  beforehand, reset when an episode ends;
- loop: agent-steps/s of the `reinforce` training loop (`barfi.train.train`, aux pd-agree,
  1 torch thread) on a block of B seeds: the steps of all agents over the wall time;
- env alone: agent-steps/s of `CartPoleBatched.step` on its own (actions drawn beforehand,
  500-step episodes), to tell the environment's share of the loop from the rest's;
- ratio = loop / raw (and env alone / raw). Targets (issue 11): loop >= 0.5 at B = 1,
  >= 20 at B = 1000;
- components (B = 1): microseconds per step of each part of one step of the loop, each timed
  alone, against the raw step and a bare `cos(x @ P)` of the 256 Fourier features, the least
  numpy work a step's features can cost.

Usage: python benchmarks/bench_cartpole.py [--blocks 1,1000] [--episodes 200,5]
       [--raw-steps 50000] [--repeats 3] [--components]
"""

from __future__ import annotations

import argparse
import time
import timeit

import gymnasium as gym
import numpy as np
import torch

from barfi.aux_rewards import AUX_REWARDS
from barfi.config import resolve_config
from barfi.envs import ENVS
from barfi.envs.cartpole import CartPoleBatched
from barfi.learners import make_learner
from barfi.rng import BlockStreams
from barfi.train import train

TARGETS = {1: 0.5, 1000: 20.0}


def raw_steps_per_s(steps: int) -> float:
    """Gymnasium's single-env CartPole-v1 step rate."""
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, size=steps).tolist()
    t0 = time.perf_counter()
    for action in actions:
        _, _, term, trunc, _ = env.step(action)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def env_steps_per_s(block: int, episodes: int = 4) -> float:
    """Agent-steps/s of the native batched env alone, 500 steps per episode."""
    env = CartPoleBatched(block)
    actions = np.random.default_rng(0).integers(0, 2, size=(CartPoleBatched.HORIZON, block))
    elapsed = 0.0
    for episode in range(episodes):
        env.reset([np.random.default_rng([episode, i]) for i in range(block)])
        t0 = time.perf_counter()
        for row in actions:
            env.step(row)
        elapsed += time.perf_counter() - t0
    return episodes * CartPoleBatched.HORIZON * block / elapsed


def loop_steps_per_s(block: int, episodes: int) -> float:
    """Agent-steps/s of the reinforce training loop on seeds 0..block-1."""
    seeds = list(range(block))
    train(resolve_config("cartpole", "pd-agree", "reinforce", {"episodes": 1}), seeds,
          progress=False)                                     # imports, caches, allocations
    config = resolve_config("cartpole", "pd-agree", "reinforce", {"episodes": episodes})
    t0 = time.perf_counter()
    datasets = train(config, seeds, progress=False)
    wall = time.perf_counter() - t0
    return sum(float(ds.episode_length.sum()) for ds in datasets) / wall


def component_us(number: int = 20000, repeats: int = 3) -> dict[str, float]:
    """Microseconds per call, best of `repeats`, of each part of one B = 1 step of the
    reinforce loop on pd-agree, and of the raw Gymnasium step."""
    def us(fn) -> float:
        return min(timeit.repeat(fn, number=number, repeat=repeats)) / number * 1e6

    learner = make_learner(resolve_config("cartpole", "pd-agree", "reinforce", {}),
                           ENVS["cartpole"], BlockStreams([1]))
    learner.begin_episode()
    env = CartPoleBatched(1)
    obs = env.reset([np.random.default_rng(0)])
    action = np.zeros(1, np.int64)
    next_obs, _, terminated, _, info = env.step(action)
    aux = AUX_REWARDS["cartpole"]["pd-agree"]
    feats = learner.features.np(obs)

    def env_step():
        _, _, term, trunc, _ = env.step(action)
        if term[0] or trunc[0]:
            env.reset([np.random.default_rng(0)])

    raw_env = gym.make("CartPole-v1")
    raw_env.reset(seed=0)

    def raw_step():
        _, _, term, trunc, _ = raw_env.step(0)
        if term or trunc:
            raw_env.reset()

    proj = np.zeros((4, learner.features.dim))
    return {"Gymnasium CartPole-v1 step (raw)": us(raw_step),
            "CartPoleBatched.step": us(env_step),
            "features (Fourier, 256)": us(lambda: learner.features.np(obs)),
            "policy sample": us(lambda: learner.policy.act(feats, learner._noise[:, 0])),
            "aux reward (pd-agree)": us(lambda: aux(obs, action, next_obs, terminated, info,
                                                   np.zeros(1))),
            "bare cos(x @ P), 256 features": us(lambda: np.cos(obs @ proj))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", default="1,1000", help="block sizes B, comma-separated")
    parser.add_argument("--episodes", default="200,5",
                        help="episodes per block size, comma-separated (one per B)")
    parser.add_argument("--raw-steps", type=int, default=50000)
    parser.add_argument("--repeats", type=int, default=3,
                        help="each rate is the best of this many measurements (shared machine)")
    parser.add_argument("--components", action="store_true",
                        help="also time each part of one B = 1 step")
    args = parser.parse_args()
    blocks = [int(b) for b in args.blocks.split(",")]
    episodes = [int(e) for e in args.episodes.split(",")]
    if len(episodes) != len(blocks):
        parser.error(f"--episodes needs one value per block size ({len(blocks)}), "
                     f"got {len(episodes)}")
    torch.set_num_threads(1)

    raw = max(raw_steps_per_s(args.raw_steps) for _ in range(args.repeats))
    print(f"Gymnasium CartPole-v1, raw single env: {raw:,.0f} steps/s\n")
    print("| B | episodes | reinforce loop agent-steps/s | loop / raw | target | "
          "env alone agent-steps/s | env alone / raw |")
    print("|---|---|---|---|---|---|---|")
    for block, n_episodes in zip(blocks, episodes):
        loop = max(loop_steps_per_s(block, n_episodes) for _ in range(args.repeats))
        env = max(env_steps_per_s(block) for _ in range(args.repeats))
        target = f">= {TARGETS[block]:g}" if block in TARGETS else ""
        print(f"| {block} | {n_episodes} | {loop:,.0f} | {loop / raw:.2f} | {target} | "
              f"{env:,.0f} | {env / raw:.1f} |")
    if args.components:
        parts = component_us()
        print("\n| part of one B = 1 step | us per call |\n|---|---|")
        for name, value in parts.items():
            print(f"| {name} | {value:.2f} |")


if __name__ == "__main__":
    main()
