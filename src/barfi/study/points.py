"""The typed grid: what one training job may use, one grid point, one env x aux reward."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from barfi.study.packs import Pack

from barfi.config import ConfigError, RunConfig, resolve_config
from barfi.study.naming import config_id

POINT_KEYS = ("env", "aux", "method", "config_id", "overrides")


@dataclass(frozen=True)
class Resources:
    """What one training job (a block of seeds) may use."""

    runtime: int
    """wall-clock limit in minutes"""
    mem_mb: int
    """memory in MB"""
    gpu: int
    """GPUs (> 0 also trains with --device cuda)"""
    gpu_model: str
    """GPU model asked of SLURM, empty for any"""


@dataclass(frozen=True)
class GridPoint:
    """One configuration of one method in one env x aux reward."""

    env: str
    aux: str
    method: str
    config_id: str
    """8 hex digits naming `run.overrides` (`barfi.study.config_id`)"""
    run: RunConfig
    """the resolved run configuration"""

    @property
    def overrides(self) -> dict[str, Any]:
        """The resolved overrides of the published defaults (what the config id names)."""
        return dict(self.run.overrides)

    def to_json(self) -> str:
        """The training job's configuration file (read back by `read_grid_point`)."""
        return json.dumps({"env": self.env, "aux": self.aux, "method": self.method,
                           "config_id": self.config_id, "overrides": self.overrides},
                          indent=1, sort_keys=True) + "\n"


def read_grid_point(path: Path | str) -> tuple[RunConfig, str]:
    """The run configuration and config id of a grid point file (`GridPoint.to_json`)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--config {str(path)!r} is not a readable JSON file ({exc})") from None
    if (not isinstance(data, dict) or set(data) != set(POINT_KEYS)
            or not isinstance(data["overrides"], dict)):
        raise ConfigError(f"--config {str(path)!r} is not a grid point file; valid: a JSON object "
                          f"with the keys {', '.join(POINT_KEYS)} (overrides a mapping)")
    run = resolve_config(data["env"], data["aux"], data["method"], data["overrides"])
    if config_id(run.overrides) != data["config_id"]:
        raise ConfigError(f"--config {str(path)!r}: config_id {data['config_id']!r} does not name "
                          f"its overrides (they hash to {config_id(run.overrides)!r})")
    return run, data["config_id"]


@dataclass(frozen=True)
class Cell:
    """One env x aux reward: its seeds, its job resources and its grid points by method."""

    env: str
    aux: str
    tuning: tuple[int, ...]
    """tuning seeds: every configuration runs on them"""
    evaluation: tuple[int, ...]
    """evaluation seeds: the chosen configurations run on them (empty with selection single)"""
    block_size: int
    """agents (grid point x seed) per training job, at most"""
    resources: Resources
    points: dict[str, dict[str, GridPoint]]
    """method -> config id -> grid point"""

    def tuning_packs(self) -> list["Pack"]:
        """The training jobs of the tuning seeds: every grid point on every tuning seed,
        packed (`barfi.study.packs`)."""
        from barfi.study.packs import pack_points

        return pack_points(self.all_points(), self.tuning, self.block_size,
                           self.resources.mem_mb)

    def evaluation_blocks(self) -> list[tuple[int, ...]]:
        """The evaluation seeds in blocks, one job each for the configuration chosen (not known
        before the selection: the block fits the memory of every grid point of the cell)."""
        from barfi.study.packs import agent_cap

        n = min([agent_cap(p.run, self.block_size, self.resources.mem_mb)
                 for p in self.all_points()] or [self.block_size])
        seeds = self.evaluation
        return [tuple(seeds[i:i + n]) for i in range(0, len(seeds), n)]

    def all_points(self) -> list[GridPoint]:
        return [p for configs in self.points.values() for p in configs.values()]
