"""Cells of the comparison and how one reference sweep entry becomes a barfi configuration.

A *cell* is (env, aux, method): it names a sweep JSON of the reference repository (which folder
holds the aux reward's sweeps, which file the method's) and the same triple in barfi. A
*configuration index* counts the grid points of that sweep with the seeds folded out: the keys
are sorted by name (as the reference does before expanding a sweep), the keys whose value is a
list are crossed in that order with the last one varying fastest, and `seed` is left out.
Configuration 0 is therefore the first value of every listed key.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# (env, aux) -> (the reference's folder for the env, its sweep folder for the aux reward).
AUX_FOLDERS: dict[tuple[str, str], tuple[str, str]] = {
    ("gridworld", "none"): ("barfi-gw", "experiments/PaperPlots/no"),
    ("gridworld", "distance-as-published"): ("barfi-gw", "experiments/PaperPlots/good"),
    ("gridworld", "center-bonus"): ("barfi-gw", "experiments/PaperPlots/bad"),
    ("mountaincar", "bang-bang"): ("barfi-mc", "experiments/PaperPlots"),
    ("mountaincar", "velocity"): ("barfi-mc", "experiments/PaperPlotsVel"),
    ("cartpole", "pd-agree"): ("barfi-cp", "experiments/PaperPlots/best2"),
    ("cartpole", "pd-disagree"): ("barfi-cp", "experiments/PaperPlots/bad"),
    ("cartpole", "pd-disagree-noisy"): ("barfi-cp", "experiments/PaperPlots/later/bad_noise"),
    ("halfcheetah", "ctrl"): ("barfi-mujoco", "experiments/PaperPlots/good"),
    ("halfcheetah", "ctrl-x4"): ("barfi-mujoco", "experiments/PaperPlots/bad"),
}

# barfi method -> the reference's sweep file of that method.
METHOD_FILES: dict[str, str] = {
    "reinforce": "reinforce.json",
    "reinforce-pbrs": "reinforcepotential.json",
    "actor-critic": "actorcritic.json",
    "actor-critic-pbrs": "actorcriticpotential.json",
    "barfi": "barfineumann.json",
    "barfi-first-order": "barfi.json",
}
PAPER_METHODS = ("reinforce", "reinforce-pbrs", "actor-critic", "actor-critic-pbrs", "barfi")

# Options of barfi that make it behave like the reference's software where the two differ on
# purpose (applied before the user's --set, which can undo them).
LIKE_WITH_LIKE: dict[str, dict[str, str]] = {
    "mountaincar": {"tile_coding": "published"},
    "halfcheetah": {"env_version": "v4"},
}

# Sweep key -> barfi hyperparameter of the same meaning.
RENAMED = {
    "max_episodes": "episodes", "optim": "optimizer", "gamma_L2": "lambda_gamma",
    "reward_L2": "lambda_r", "Neumann_loops": "neumann_terms", "Neumann_alpha": "neumann_alpha",
}
SAME_NAME = ("gamma", "actor_lr", "actor_reg", "critic_lr", "batch_size", "buffer_size", "delta",
             "reward_lr", "gamma_lr", "inner_mul", "first_mul")
# Sweep keys with no barfi hyperparameter: they select things barfi fixes by (env, aux, method)
# or configure parts barfi does not have. They are listed in every table, never silently lost.
NOT_MAPPED = {
    "agent": "the method (the sweep file)",
    "env_name": "the env and aux (the sweep folder)",
    "seed": "given by --seeds",
    "approx": "the method (barfi or barfi-first-order)",
    "env_param": "the aux reward's scale, fixed by the aux name",
    "aux_weight": "the aux reward's scale, fixed by the aux name",
    "raw_basis": "features are fixed per env in barfi",
    "basis": "features are fixed per env in barfi",
    "tiles": "features are fixed per env in barfi",
    "tilings": "features are fixed per env in barfi",
    "NN_basis_dim": "features are fixed per env in barfi",
    "state_lr": "no learned state features in barfi",
    "gauss_std": "the Gaussian policy's spread is fixed in barfi",
}


class CellError(ValueError):
    """Bad input naming a cell, a configuration or a reference checkout (one line)."""


@dataclass(frozen=True)
class Cell:
    env: str
    aux: str
    method: str

    @property
    def name(self) -> str:
        return f"{self.env}/{self.aux}/{self.method}"

    def stem(self, config: int) -> str:
        return f"{self.env}__{self.aux}__{self.method}__c{config}"

    def sweep_path(self, ref_root: Path) -> Path:
        folder, sweeps = AUX_FOLDERS[(self.env, self.aux)]
        return ref_root / folder / sweeps / METHOD_FILES[self.method]

    def ref_folder(self, ref_root: Path) -> Path:
        return ref_root / AUX_FOLDERS[(self.env, self.aux)][0]


def parse_cell(text: str) -> Cell:
    parts = text.split("/")
    if len(parts) != 3:
        raise CellError(f"cell {text!r} is not env/aux/method")
    env, aux, method = parts
    if (env, aux) not in AUX_FOLDERS:
        raise CellError(f"cell {text!r}: no reference sweep for env/aux {env}/{aux}; valid: "
                        + ", ".join(f"{e}/{a}" for e, a in AUX_FOLDERS))
    if method not in METHOD_FILES:
        raise CellError(f"cell {text!r}: unknown method {method!r}; valid: "
                        + ", ".join(METHOD_FILES))
    return Cell(env, aux, method)


def paper_cells(ref_root: Path, env: str | None = None) -> list[Cell]:
    """Every env x aux x method of the paper whose sweep file exists in the checkout. Where an
    aux reward has no BARFI (Neumann) sweep but a first-order one (CartPole's noisy PD reward:
    its folder holds only barfi.json), the first-order cell stands for the paper's BARFI."""
    cells = []
    for e, a in AUX_FOLDERS:
        if env not in (None, e):
            continue
        for m in PAPER_METHODS:
            cell = Cell(e, a, m)
            if m == "barfi" and not cell.sweep_path(ref_root).is_file():
                cell = Cell(e, a, "barfi-first-order")
            cells.append(cell)
    return [c for c in cells if c.sweep_path(ref_root).is_file()]


def read_sweep(path: Path) -> dict[str, Any]:
    """The sweep JSON; the reference's files allow a comma before the closing brace."""
    import re

    text = path.read_text()
    try:
        return json.loads(re.sub(r",\s*}\s*$", "}", text.strip()))
    except json.JSONDecodeError as exc:
        raise CellError(f"sweep {path} is not valid JSON: {exc}") from None


def grid_points(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """The sweep's configurations in the reference's order, without the seed."""
    keys = sorted(k for k, v in sweep.items() if isinstance(v, list) and k != "seed")
    fixed = {k: v for k, v in sweep.items() if not isinstance(v, list)}
    return [{**fixed, **dict(zip(keys, values))}
            for values in itertools.product(*(sweep[k] for k in keys))]


def reference_index(sweep: dict[str, Any], config: int, seed: int) -> int | None:
    """The index the reference's own `main.py JSON IDX` takes for (config, seed), where the seed
    is in the sweep's list (None otherwise): the seed list is crossed in sorted-key order too."""
    seeds = sweep.get("seed")
    if not isinstance(seeds, list) or seed not in seeds:
        return None
    keys = sorted(k for k, v in sweep.items() if isinstance(v, list))
    sizes = [len(sweep[k]) for k in keys]
    digits, rest = [], config
    for k, size in reversed(list(zip(keys, sizes))):
        if k == "seed":
            digits.append(seeds.index(seed))
        else:
            digits.append(rest % size)
            rest //= size
    index = 0
    for digit, size in zip(reversed(digits), sizes):
        index = index * size + digit
    return index


def single_run_sweep(sweep: dict[str, Any], point: dict[str, Any], seed: int,
                     episodes: int | None) -> dict[str, Any]:
    """A sweep file with one configuration and one seed (index 0), for a scratch copy."""
    single = {k: ([point[k]] if isinstance(v, list) else v) for k, v in sweep.items()
              if k != "seed"}
    single["seed"] = [seed]
    if episodes is not None:
        single["max_episodes"] = episodes
    return single


@dataclass(frozen=True)
class Translation:
    """A grid point of the reference as barfi input, and what could not be carried over."""

    overrides: dict[str, Any]
    """barfi hyperparameters taken from the sweep (plus like-with-like options and --set)"""
    not_mapped: tuple[str, ...]
    """'key=value' of sweep keys barfi has no hyperparameter for"""
    not_read: tuple[str, ...]
    """'key=value' of sweep keys barfi has, but the method does not read"""


def translate(cell: Cell, point: dict[str, Any], episodes: int | None,
              extra: dict[str, str]) -> Translation:
    """The barfi overrides that reproduce `point` (one grid point of the cell's sweep). Keys the
    sweep does not mention keep barfi's published default for the env."""
    from barfi.config import valid_keys

    readable = set(valid_keys(cell.method, cell.env))
    first_order = point.get("approx") == "First-order"
    if first_order != (cell.method == "barfi-first-order") and "approx" in point:
        raise CellError(f"sweep of {cell.name} says approx={point['approx']!r}, which is not "
                        f"method {cell.method}")
    overrides: dict[str, Any] = dict(LIKE_WITH_LIKE.get(cell.env, {}))
    not_mapped, not_read = [], []
    for key in sorted(point):
        value = point[key]
        if key in NOT_MAPPED or (first_order and key.startswith("Neumann_")):
            not_mapped.append(f"{key}={value}")
            continue
        if key == "critic_lr_ratio":     # the critic's rate as a multiple of the actor's
            target, value = "critic_lr", float(value) * float(point["actor_lr"])
        elif key in RENAMED or key in SAME_NAME:
            target = RENAMED.get(key, key)
        else:
            raise CellError(f"sweep of {cell.name} has key {key!r} that the harness does not "
                            "know; add it to RENAMED, SAME_NAME or NOT_MAPPED in cells.py")
        if target in readable:
            overrides[target] = value
        else:
            not_read.append(f"{key}={value}")
    if episodes is not None:
        overrides["episodes"] = episodes
    overrides.update(extra)
    return Translation(overrides, tuple(not_mapped), tuple(not_read))
