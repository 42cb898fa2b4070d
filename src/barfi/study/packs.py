"""Packing the grid into training jobs: agents (grid point x seed) trained in lockstep by one
process.

A pack is one job of the workflow: configurations of one env x aux reward x method that agree
in every structural key (`barfi.config.structural_key`: budgets, sizes, schedules, switches; the
per-agent values such as learning rates may differ), each on the same seeds, at most `cap`
agents (configurations x seeds). The cap is the config's `block_size`, lowered so that the
job's memory fits its `mem_mb` (`agent_memory_mb`). The job runs `barfi train --config A.json
--config B.json ... --seeds S --runs-dir DIR`. Every agent's numbers are those of its
configuration run alone, so packing changes speed, never results, and each agent still writes
its own run file.

Packing is stable under grid changes, so that adding a value to a swept list reruns little: the
configurations of a group are spread over a power-of-two number of buckets by their config id
(a hash), and each bucket is chunked on its own. A new configuration changes only its own
bucket's packs, unless the group's bucket count doubles (it grows past a power of two).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Sequence

from barfi.config import RunConfig, structural_key
from barfi.envs import ENVS
from barfi.learners import METHODS
from barfi.learners.buffer import EpisodeBuffer
from barfi.study.naming import run_path
from barfi.study.points import GridPoint

PROCESS_MB = 450
"""Peak memory of a training process with one agent, plus headroom (measured 320-340 MB for
every env and method with benchmarks/bench_scaling.py: Python, torch, the env and the learner)"""


def agent_memory_mb(run: RunConfig) -> float:
    """Memory one more agent adds to a training job: the env's measured per-agent figure for
    the method (`EnvSpec.agent_mem_mb`, the slope of peak memory over block size, BARFI's
    trajectory buffer excluded) plus, for the BARFI family, the buffer of this run's budget
    (allocated in full when training starts)."""
    spec = ENVS[run.env]
    family = METHODS[run.method].family
    measured = spec.agent_mem_mb.get(run.method, spec.agent_mem_mb.get(family, 1.0))
    return measured + EpisodeBuffer.mb_per_agent(run.hp, spec)


def agent_cap(run: RunConfig, block_size: int, mem_mb: int) -> int:
    """Agents per job: `block_size`, or fewer where their memory would exceed `mem_mb` (at
    least one: a job of one agent is what a grid point needs whatever its limit)."""
    fits = math.floor((mem_mb - PROCESS_MB) / agent_memory_mb(run))
    return max(1, min(block_size, fits))


@dataclass(frozen=True)
class Pack:
    """One training job: configurations of one env x aux x method whose structural keys agree,
    each on the same seeds (agents = configurations x seeds, in that order)."""

    env: str
    aux: str
    method: str
    points: tuple[GridPoint, ...]
    seeds: tuple[int, ...]

    @property
    def pack_id(self) -> str:
        """10 hex digits naming the pack's agents (independent of the grid around it)."""
        text = json.dumps([self.env, self.aux, self.method,
                           sorted(p.config_id for p in self.points), list(self.seeds)])
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    @property
    def agents(self) -> list[tuple[GridPoint, int]]:
        """(grid point, seed) of every agent, in the order of the block."""
        return [(p, s) for p in self.points for s in self.seeds]

    @property
    def outputs(self) -> list[str]:
        """The run file of every agent."""
        return [run_path(self.env, self.aux, self.method, p.config_id, s) for p, s in self.agents]

    @property
    def config_ids(self) -> list[str]:
        return [p.config_id for p in self.points]


def _buckets(points: Sequence[GridPoint], per_pack: int) -> list[list[GridPoint]]:
    """The points spread over a power-of-two number of buckets by config id (stable: a point's
    bucket depends on its id and the bucket count only)."""
    count = 1 << max(0, math.ceil(math.log2(max(1.0, len(points) / per_pack))))
    buckets: list[list[GridPoint]] = [[] for _ in range(count)]
    for p in sorted(points, key=lambda p: p.config_id):
        buckets[(int(p.config_id, 16) * count) >> 32].append(p)
    return [b for b in buckets if b]


def pack_points(points: Sequence[GridPoint], seeds: Sequence[int], block_size: int,
                mem_mb: int) -> list[Pack]:
    """The packs of grid points of one env x aux reward (every point on every seed)."""
    groups: dict[tuple, list[GridPoint]] = {}
    for p in points:
        groups.setdefault(structural_key(p.run), []).append(p)
    seeds = tuple(seeds)
    packs = []
    for group in groups.values():
        first = group[0]
        cap = agent_cap(first.run, block_size, mem_mb)
        if len(seeds) >= cap:      # a configuration fills packs alone: blocks of its seeds
            packs += [Pack(p.env, p.aux, p.method, (p,), seeds[i:i + cap])
                      for p in sorted(group, key=lambda p: p.config_id)
                      for i in range(0, len(seeds), cap)]
            continue
        per_pack = cap // len(seeds)
        for bucket in _buckets(group, per_pack):
            for i in range(0, len(bucket), per_pack):
                packs.append(Pack(first.env, first.aux, first.method,
                                  tuple(bucket[i:i + per_pack]), seeds))
    return packs
