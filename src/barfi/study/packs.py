"""Packing the grid into training jobs: agents (grid point x seed) trained in lockstep by one
process.

A pack is one job of the workflow: agents of one env x aux reward x method whose configurations
agree in every structural key (`barfi.config.structural_key`: budgets, sizes, schedules,
switches; the per-agent values such as learning rates may differ), at most `cap` of them. The cap
is the config's `block_size`, lowered so that the job's memory fits its `mem_mb`
(`agent_memory_mb`). Every agent's numbers are those of its configuration run alone, so packing
changes speed, never results, and each agent still writes its own run file.

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
from pathlib import Path
from typing import Sequence

from barfi.config import ConfigError, RunConfig, resolve_config, structural_key
from barfi.envs import ENVS
from barfi.learners import METHODS
from barfi.learners.buffer import EpisodeBuffer
from barfi.study.naming import config_id, run_path
from barfi.study.points import GridPoint

PACK_KEYS = ("env", "aux", "method", "pack_id", "agents")
AGENT_KEYS = ("config_id", "overrides", "seed", "out")

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
    hp = run.hp
    if not hasattr(hp, "buffer_size"):
        return measured
    return measured + EpisodeBuffer.bytes_per_agent(min(hp.buffer_size, hp.episodes), spec) / 2**20


def agent_cap(run: RunConfig, block_size: int, mem_mb: int) -> int:
    """Agents per job: `block_size`, or fewer where their memory would exceed `mem_mb` (at
    least one: a job of one agent is what a grid point needs whatever its limit)."""
    fits = math.floor((mem_mb - PROCESS_MB) / agent_memory_mb(run))
    return max(1, min(block_size, fits))


@dataclass(frozen=True)
class Pack:
    """One training job: agents of one env x aux x method whose structural keys agree."""

    env: str
    aux: str
    method: str
    agents: tuple[tuple[GridPoint, int], ...]
    """(grid point, seed) of every agent, in the order of the block"""

    @property
    def pack_id(self) -> str:
        """10 hex digits naming the pack's agents (independent of the grid around it)."""
        text = json.dumps([self.env, self.aux, self.method,
                           sorted((p.config_id, s) for p, s in self.agents)])
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    @property
    def outputs(self) -> list[str]:
        """The run file of every agent."""
        return [run_path(self.env, self.aux, self.method, p.config_id, s) for p, s in self.agents]

    @property
    def config_ids(self) -> list[str]:
        return list(dict.fromkeys(p.config_id for p, _ in self.agents))

    def to_json(self) -> str:
        """The job's pack file (read back by `read_pack`)."""
        agents = [{"config_id": p.config_id, "overrides": p.overrides, "seed": s, "out": out}
                  for (p, s), out in zip(self.agents, self.outputs)]
        return json.dumps({"env": self.env, "aux": self.aux, "method": self.method,
                           "pack_id": self.pack_id, "agents": agents},
                          indent=1, sort_keys=True) + "\n"


@dataclass(frozen=True)
class PackedAgents:
    """What a pack file gives `barfi train`: one entry per agent."""

    configs: list[RunConfig]
    seeds: list[int]
    config_ids: list[str]
    outputs: list[Path]


def read_pack(path: Path | str) -> PackedAgents:
    """The agents of a pack file (`Pack.to_json`); ConfigError naming what is wrong."""
    where = f"--pack {str(path)!r}"
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where} is not a readable JSON file ({exc})") from None
    valid = (f"valid: a JSON object with the keys {', '.join(PACK_KEYS)}, agents a non-empty "
             f"list of objects with the keys {', '.join(AGENT_KEYS)}")
    if (not isinstance(data, dict) or set(data) != set(PACK_KEYS)
            or not isinstance(data["agents"], list) or not data["agents"]
            or not all(isinstance(a, dict) and set(a) == set(AGENT_KEYS)
                       and isinstance(a["overrides"], dict) and isinstance(a["seed"], int)
                       and a["seed"] >= 0 for a in data["agents"])):
        raise ConfigError(f"{where} is not a pack file; {valid}")
    agents = PackedAgents([], [], [], [])
    for i, agent in enumerate(data["agents"]):
        run = resolve_config(data["env"], data["aux"], data["method"], agent["overrides"])
        if config_id(run.overrides) != agent["config_id"]:
            raise ConfigError(f"{where}: agent {i}'s config_id {agent['config_id']!r} does not "
                              f"name its overrides (they hash to {config_id(run.overrides)!r})")
        agents.configs.append(run)
        agents.seeds.append(agent["seed"])
        agents.config_ids.append(agent["config_id"])
        agents.outputs.append(Path(agent["out"]))
    if len(set(agents.outputs)) != len(agents.outputs):
        raise ConfigError(f"{where}: two agents write the same run file; each agent needs its own")
    return agents


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
    packs = []
    for group in groups.values():
        first = group[0]
        cap = agent_cap(first.run, block_size, mem_mb)
        if len(seeds) >= cap:      # a configuration fills packs alone: blocks of its seeds
            packs += [Pack(p.env, p.aux, p.method, tuple((p, s) for s in seeds[i:i + cap]))
                      for p in sorted(group, key=lambda p: p.config_id)
                      for i in range(0, len(seeds), cap)]
            continue
        per_pack = cap // len(seeds)
        for bucket in _buckets(group, per_pack):
            for i in range(0, len(bucket), per_pack):
                packs.append(Pack(first.env, first.aux, first.method,
                                  tuple((p, s) for p in bucket[i:i + per_pack] for s in seeds)))
    return packs
