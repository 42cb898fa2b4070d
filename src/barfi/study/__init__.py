"""The study: a workflow config (`config/*.yaml`) validated and expanded into typed grid points.

`Study.from_config(config)` checks the config against the workflow's JSON schema (filling its
defaults), then expands every env x aux reward x method grid into `GridPoint`s, each resolved
with `barfi.config.resolve_config`. A bad config raises `StudyError`: one line naming the config
key and what is valid. The workflow (workflow/rules/common.smk) loads a `Study` and asks it for
paths, seeds, tables and resources; a training job reads its `GridPoint` from a JSON file.

    expand.py   schema validation and grid expansion (where every config error is raised)
    points.py   the typed grid: Resources, GridPoint (and its JSON file), Cell
    packs.py    the training jobs: configurations x seeds packed into blocks of agents
    grid.py     Study: the cells, and what the rules ask of them
    naming.py   config ids, seed ranges, rule and file names, source hashes, atomic tables
"""

from barfi.study.expand import StudyError
from barfi.study.grid import Study
from barfi.config import seed_ranges
from barfi.dataset import source_hash
from barfi.study.naming import (alternation, block_label, config_id, digest, pack_rule_name,
                                parse_run_path, point_path, run_path, train_rule_name,
                                write_text, write_tsv)
from barfi.study.packs import Pack, agent_cap, agent_memory_mb
from barfi.study.points import Cell, GridPoint, Resources, read_grid_point

__all__ = ["alternation", "Cell", "GridPoint", "Pack", "Resources", "Study", "StudyError",
           "agent_cap", "agent_memory_mb", "block_label", "config_id", "digest",
           "pack_rule_name", "parse_run_path", "point_path", "read_grid_point", "run_path",
           "seed_ranges", "source_hash", "train_rule_name", "write_text", "write_tsv"]
