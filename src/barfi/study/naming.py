"""Names and hashes of the study: config ids, seed ranges, rule and file names, and the atomic
writing of the workflow's tables (with the package's atomic writer and source hash)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from barfi.dataset import atomic_path

RUN_DIR = "data/runs"
POINT_DIR = "data/configs"


def config_id(overrides: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """8 hex digits naming a set of resolved overrides (independent of their order)."""
    text = json.dumps(sorted(dict(overrides).items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def digest(*values: Any) -> str:
    """A short, key-order-free hash of table rows or config values: the param of a rule that
    writes them (a change of one value reruns the rule without printing the whole table)."""
    text = json.dumps(values, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _contiguous(block: Sequence[int]) -> bool:
    return list(block) == list(range(block[0], block[-1] + 1))


def block_label(block: Sequence[int]) -> str:
    """seeds-1-10 for a contiguous block, seeds-1_3_5 otherwise (log file names)."""
    if _contiguous(block):
        return f"seeds-{block[0]}-{block[-1]}"
    return "seeds-" + "_".join(str(s) for s in block)


def train_rule_name(env: str, block: Sequence[int]) -> str:
    """train_<env>_seeds_<first>_<last> (contiguous block) or train_<env>_seedlist_<s1>_<s2>..."""
    env = re.sub(r"\W", "_", env)
    if _contiguous(block):
        return f"train_{env}_seeds_{block[0]}_{block[-1]}"
    return f"train_{env}_seedlist_" + "_".join(str(s) for s in block)


def alternation(names: Iterable[str]) -> str:
    """A wildcard constraint matching exactly these names."""
    return "|".join(sorted(re.escape(n) for n in set(names)))


def run_path(env: str, aux: str, method: str, cid: str, seed: int) -> str:
    """A run file of the pipeline's layout."""
    return f"{RUN_DIR}/{env}/{aux}/{method}/{cid}/seed-{seed}.nc"


def parse_run_path(path: str) -> tuple[str, str, str, str, int]:
    """(env, aux, method, config id, seed) of a run file path (`run_path`)."""
    match = re.fullmatch(rf"{RUN_DIR}/([^/]+)/([^/]+)/([^/]+)/([0-9a-f]{{8}})/seed-(\d+)\.nc",
                         str(path))
    if match is None:
        raise ValueError(f"{path!r} is not a run file path ({RUN_DIR}/ENV/AUX/METHOD/ID/"
                         "seed-N.nc)")
    *names, seed = match.groups()
    return (*names, int(seed))


def point_path(env: str, aux: str, method: str, cid: str) -> str:
    """A grid point's configuration file (the input of its training jobs)."""
    return f"{POINT_DIR}/{env}/{aux}/{method}/{cid}.json"


def pack_rule_name(env: str, pack_id: str) -> str:
    """train_<env>_pack_<pack id>"""
    env = re.sub(r"\W", "_", env)
    return f"train_{env}_pack_{pack_id}"


def write_text(path: Path | str, text: str) -> None:
    """Write `text` atomically (readers see the old file or the new one), making the folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_tsv(path: Path | str, rows: Iterable[Sequence[str]]) -> None:
    """Write tab-separated rows atomically."""
    write_text(path, "".join("\t".join(row) + "\n" for row in rows))
