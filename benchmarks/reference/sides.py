"""Running one cell on each side: the reference (one process per seed, each in its own scratch
copy of the reference's env folder) and barfi (one `barfi train --seeds` block).

The reference is never imported: it runs under its own interpreter (`--ref-python`), writes its
pickle into the scratch copy, and a one-line script run by that same interpreter turns the
pickle's per-episode primary returns into a .npy file that this side reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from barfi.dataset import atomic_path

from benchmarks.reference.cells import Cell, single_run_sweep

# Text edits that let the reference's CartPole environments run on gym 0.26 (its env classes
# were written for the gym < 0.26 API): seeding moves into reset(seed=...), reset() returns
# (observation, info) and step() returns terminated and truncated separately (a time-limit
# truncation ended the episode in the old API, so the two are or-ed back into one flag).
GYM_026_EDITS: dict[str, list[tuple[str, str]]] = {
    "barfi-cp": [
        (r"self\.env\.seed\((\w+)\)", r"self.env.reset(seed=\1)"),
        (r"(\w+) = self\.env\.reset\(\)", r"\1, _ = self.env.reset()"),
        (r"(\w+), (\w+), (\w+), (\w+) = self\.env\.step\((\w+)\)",
         r"\1, \2, \3, _truncated, \4 = self.env.step(\5); \3 = \3 or _truncated"),
    ],
}
EDITED_FILES = "src/environments/CartPole*.py"
SCRATCH_IGNORE = shutil.ignore_patterns("results", "Experiments_2", "wandb", "__pycache__")
RETURNS_SCRIPT = ("import pickle, sys, numpy; d = pickle.load(open(sys.argv[1], 'rb')); "
                  "numpy.save(sys.argv[2], numpy.asarray(d['returns'], dtype=float))")


class SideError(RuntimeError):
    """A run of either side failed; the message names the run and ends with its log's tail."""


def apply_gym_edits(folder: Path, ref_folder_name: str) -> int:
    """Apply the gym-0.26 edits of `ref_folder_name` to the scratch copy `folder` in place;
    returns how many lines changed. Each edit must match somewhere, so that a reference
    checkout of another shape fails loudly instead of running unedited."""
    edits = GYM_026_EDITS.get(ref_folder_name, [])
    files = sorted(folder.glob(EDITED_FILES)) if edits else []
    texts = {f: f.read_text() for f in files}
    changed = 0
    for pattern, replacement in edits:
        hits = 0
        for f in files:
            texts[f], n = re.subn(pattern, replacement, texts[f])
            hits += n
        if hits == 0:
            raise SideError(f"gym-0.26 edit {pattern!r} matched nothing in "
                            f"{folder / EDITED_FILES}; is this the reference checkout?")
        changed += hits
    for f, text in texts.items():
        f.write_text(text)
    return changed


@dataclass(frozen=True)
class ReferenceJob:
    cell: Cell
    ref_root: Path
    ref_python: str
    sweep: dict
    point: dict
    episodes: int | None
    timeout_s: float = 6 * 3600
    cache_root: Path | None = None
    """where finished seeds are kept until the cell's table is written (None: not kept)"""

    def cache_dir(self) -> Path | None:
        """This job's folder of finished seeds: keyed by the cell, the reference's sweep (its
        fixed values included), the point and the budget, so a seed is reused only by a run of
        exactly the same job."""
        if self.cache_root is None:
            return None
        key = hashlib.sha256(json.dumps([self.cell.name, self.sweep, self.point, self.episodes],
                                        sort_keys=True, default=str).encode()).hexdigest()
        return self.cache_root / f"{self.cell.name.replace('/', '__')}-{key[:12]}"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_reference_seed(job: ReferenceJob, seed: int) -> np.ndarray:
    """One reference run of `seed`; returns its per-episode primary returns."""
    folder = job.cell.ref_folder(job.ref_root)
    with tempfile.TemporaryDirectory(prefix="barfi-ref-") as tmp:
        scratch = Path(tmp) / folder.name
        shutil.copytree(folder, scratch, ignore=SCRATCH_IGNORE)
        apply_gym_edits(scratch, folder.name)
        sweep_file = scratch / "harness_sweep.json"
        sweep_file.write_text(json.dumps(single_run_sweep(job.sweep, job.point, seed,
                                                          job.episodes)))
        log = scratch / "harness.log"
        env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONHASHSEED": "0"}
        env.pop("PYTHONPATH", None)
        with open(log, "wb") as fh:
            proc = subprocess.run([job.ref_python, "src/main.py", sweep_file.name, "0"],
                                  cwd=scratch, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                  timeout=job.timeout_s)
        pickles = sorted((scratch / "results").rglob("*.dw"))
        if proc.returncode != 0 or len(pickles) != 1:
            raise SideError(f"reference {job.cell.name} seed {seed} failed (exit "
                            f"{proc.returncode}, {len(pickles)} result files):\n{_tail(log)}")
        out = scratch / "returns.npy"
        subprocess.run([job.ref_python, "-c", RETURNS_SCRIPT, str(pickles[0]), str(out)],
                       check=True, env=env, capture_output=True)
        return np.load(out)


def run_reference(job: ReferenceJob, seeds: list[int], jobs: int,
                  report: Callable[[str, int, np.ndarray, float], None]) -> dict[int, np.ndarray]:
    """All seeds, `jobs` processes at a time; `report(side, seed, returns, seconds)` is called
    as each seed finishes. A reference seed can take an hour: each finished one is kept in
    `job.cache_dir()`, so a run killed midway resumes with the seeds it had finished."""
    cache = job.cache_dir()

    def one(seed: int):
        t0 = time.monotonic()
        kept = cache / f"reference-seed-{seed}.npy" if cache else None
        if kept is not None and kept.exists():
            return seed, np.load(kept), 0.0
        returns = run_reference_seed(job, seed)
        if kept is not None:
            cache.mkdir(parents=True, exist_ok=True)
            with atomic_path(kept) as partial:   # a kill never leaves a half-written seed
                np.save(partial, returns)
        return seed, returns, time.monotonic() - t0

    results: dict[int, np.ndarray] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, s) for s in seeds]
        try:
            for fut in as_completed(futures):
                seed, returns, seconds = fut.result()
                results[seed] = returns
                report("reference", seed, returns, seconds)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return {s: results[s] for s in seeds}


def run_barfi(cell: Cell, overrides: dict, seeds: list[int],
              report: Callable[[str, int, np.ndarray, float], None]) -> dict[int, np.ndarray]:
    """One `barfi train --seeds` block in a temporary directory; per-seed primary returns."""
    from barfi.dataset import read_dataset

    sets = [arg for k, v in overrides.items() for arg in ("--set", f"{k}={v}")]
    with tempfile.TemporaryDirectory(prefix="barfi-side-") as tmp:
        cmd = [sys.executable, "-m", "barfi.cli", "train", "--env", cell.env, "--aux", cell.aux,
               "--method", cell.method, "--seeds", ",".join(map(str, seeds)),
               "--out-dir", tmp, "--quiet", *sets]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.monotonic() - t0
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.splitlines()[-15:])
            raise SideError(f"barfi {cell.name} failed (exit {proc.returncode}):\n{tail}")
        results = {}
        for seed in seeds:
            returns = read_dataset(Path(tmp) / f"seed-{seed}.nc")["primary_return"].values
            results[seed] = np.asarray(returns, dtype=float)
            report("barfi", seed, results[seed], seconds / len(seeds))
    return results
