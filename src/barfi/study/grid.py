"""`Study`: the expanded grid of a workflow config, and what the workflow's rules ask of it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Mapping

from barfi.study.expand import expand, validate_schema
from barfi.config import seed_ranges
from barfi.study.naming import parse_run_path, run_path
from barfi.study.packs import Pack
from barfi.study.points import Cell, GridPoint

# The workflow's schema in a checkout (an editable install); the workflow passes its own path.
SCHEMA_FILE = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


@dataclass(frozen=True)
class Study:
    """Every env x aux reward of a config with its grid points, and the selection rule."""

    cells: tuple[Cell, ...]
    split: bool
    """selection rule split: choose on the tuning seeds, report on the evaluation seeds"""
    last: int
    """episodes of the selection window (the last `last` of every run)"""

    @classmethod
    def from_config(cls, config: dict, schema: Path | str | dict = SCHEMA_FILE) -> "Study":
        """Validate `config` (filling the schema's defaults into it, as Snakemake's `validate`
        does) and expand its grid; raise StudyError naming the first bad key."""
        validate_schema(config, schema)
        return cls(tuple(expand(config)), config["selection"]["rule"] == "split",
                   config["selection"]["last"])

    # --- lookups
    @property
    def envs(self) -> list[str]:
        return list(dict.fromkeys(c.env for c in self.cells))

    def cell(self, env: str, aux: str) -> Cell:
        for c in self.cells:
            if (c.env, c.aux) == (env, aux):
                return c
        raise KeyError(f"{env}/{aux} is not an env x aux reward of this config")

    def point(self, env: str, aux: str, method: str, config_id: str) -> GridPoint:
        try:
            return self.cell(env, aux).points[method][config_id]
        except KeyError:
            raise KeyError(f"{env}/{aux}/{method}/{config_id} is not a grid point of this config "
                           "(see data/configs.tsv)") from None

    def points(self, env: str | None = None) -> list[GridPoint]:
        """Every grid point (of one env)."""
        return [p for c in self.cells if env in (None, c.env) for p in c.all_points()]

    # --- seeds and run files
    def seeds(self, env: str, which: str) -> str:
        """The env's `tuning` or `evaluation` seeds (the union over its aux rewards), as
        ranges."""
        return seed_ranges({s for c in self.cells if c.env == env for s in getattr(c, which)})

    def tuning_runs(self, env: str) -> list[str]:
        """Run files of every grid point of the env on its tuning seeds."""
        return [run_path(p.env, p.aux, p.method, p.config_id, s)
                for c in self.cells if c.env == env for p in c.all_points() for s in c.tuning]

    def evaluation_runs(self, env: str, chosen: Mapping[tuple[str, str], str]) -> list[str]:
        """Run files of the chosen config id of each (aux, method) on the evaluation seeds."""
        return [run_path(env, aux, method, cid, s)
                for (aux, method), cid in sorted(chosen.items())
                for s in self.cell(env, aux).evaluation]

    @cached_property
    def _packs(self) -> dict[tuple[str, str], Pack]:
        return {(pk.env, pk.pack_id): pk for c in self.cells for pk in c.tuning_packs()}

    def tuning_packs(self, env: str | None = None) -> list[Pack]:
        """The training jobs of the tuning seeds (of one env): packs of agents."""
        return [pk for (e, _), pk in self._packs.items() if env in (None, e)]

    def pack(self, env: str, pack_id: str) -> Pack:
        try:
            return self._packs[env, pack_id]
        except KeyError:
            raise KeyError(f"{env}/{pack_id} is not a pack of this config") from None

    def evaluation_rule_groups(self) -> dict[tuple[str, tuple[int, ...]], list[str]]:
        """(env, block) -> aux rewards whose evaluation seeds contain that block: one training
        rule each (a wildcard rule: the configuration is chosen by the selection). Within an
        env x aux the blocks partition the evaluation seeds, and tuning runs are made by the
        packs' rules, so no two rules make one file."""
        groups: dict[tuple[str, tuple[int, ...]], list[str]] = {}
        for c in self.cells:
            for block in c.evaluation_blocks():
                groups.setdefault((c.env, block), []).append(c.aux)
        return groups

    def pending_evaluation_blocks(self, envs) -> list[tuple[GridPoint, int]]:
        """(a grid point, seeds) of each evaluation job that the selection on the tuning seeds
        of `envs` will add (which configuration it chooses is not known yet: the first)."""
        return [(next(iter(configs.values())), len(block))
                for c in self.cells if c.env in envs for configs in c.points.values()
                for block in c.evaluation_blocks()]

    def runs_of(self, paths) -> list[GridPoint]:
        """The grid point of each run file path (`run_path`'s layout)."""
        return [self.point(*parse_run_path(path)[:4]) for path in paths]

    # --- tables
    def config_table_rows(self, env: str | None = None) -> list[list[str]]:
        """data/configs.tsv (every env) or data/configs/{env}.tsv: one row per config id, one
        column per hyperparameter it overrides (empty = the published default). An id hashes
        its overrides only, so it means the same overrides in every env, aux and method;
        published defaults that depend on the aux reward count as overrides, so an id also means
        the same hyperparameters for every aux reward (`aggregate --config-table` checks the runs
        against it)."""
        table = {p.config_id: p.overrides for p in self.points(env)}
        keys = sorted({k for overrides in table.values() for k in overrides})
        rows = [["config_id", *keys]]
        for cid in sorted(table):
            rows.append([cid, *[str(table[cid][k]) if k in table[cid] else "" for k in keys]])
        return rows

    def grid_table_rows(self) -> list[list[str]]:
        """data/grid.tsv: every grid point with its seeds and its overrides."""
        rows = [["env", "aux", "method", "config_id", "tuning_seeds", "evaluation_seeds",
                 "overrides"]]
        for c in self.cells:
            for p in c.all_points():
                overrides = " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                                     for k, v in sorted(p.overrides.items()))
                rows.append([c.env, c.aux, p.method, p.config_id, seed_ranges(c.tuning),
                             seed_ranges(c.evaluation), overrides])
        return rows
