"""Reading run files and writing outputs safely.

Run files are read with h5py directly (a NetCDF4 file is an HDF5 file): opening a file with
xarray costs ~0.1 s, with h5py ~1 ms, and aggregation reads every file twice. What this module
knows about a run file is the contract of `docs/architecture.md` ("One run's dataset"): dim
`episode`, variables `primary_return`, `aux_return`, `episode_length`, `wall_time` (+ the
learner's), attributes `env`, `aux`, `method`, `seed`, `status`, `hp_<key>`.

Every output is written atomically (`atomic_output`): to a temporary file in the target's
directory, renamed onto the target only when complete, removed on failure.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from barfi.dataset import atomic_path

REQUIRED_ATTRS = ("env", "aux", "method", "seed", "status")
REQUIRED_VARS = ("primary_return", "aux_return", "episode_length", "wall_time")
STATUSES = ("completed", "diverged")
WANTED_ATTRS = frozenset(REQUIRED_ATTRS + ("config_id", "overrides"))
# Codes of the aggregated `status` variable.
STATUS_CODES = {"missing": 0, "completed": 1, "diverged": 2}
SEED_FILE = re.compile(r"^seed-(\d+)\.nc$")


class AnalysisError(Exception):
    """Bad input to the analysis. The message is one line naming the problem (and the file)."""


# One atomic writer for the whole package: run files and report files alike.
atomic_output = atomic_path


def write_text(path: Path | str, text: str) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def check_writable_dir(directory: Path | str, what: str = "output directory") -> Path:
    """Create `directory` if needed and check that files can be made there (before any work)."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe.") as fh:
            fh.write(b"x")
    except OSError as exc:
        raise AnalysisError(f"{what} {str(directory)!r} is not writable: "
                            f"{exc.strerror or exc}") from None
    return directory


def parse_seed_set(text: str, what: str) -> list[int]:
    """'1-20' / '1,3,5-7' -> sorted seeds (the syntax of `barfi train --seeds`)."""
    from barfi.config import ConfigError, parse_seeds

    try:
        return sorted(parse_seeds(text))
    except ConfigError as exc:
        raise AnalysisError(f"{what}: {exc}") from None


def expand_inputs(items: Iterable[str], files_from: Iterable[str] = ()) -> list[Path]:
    """Run files named on the command line, in list files (one path a line, '#' comments and
    blank lines ignored; relative paths are relative to the current directory) or found under
    directories (every *.nc below them). Sorted, duplicates removed."""
    paths: list[Path] = []
    items = list(items)
    for list_file in files_from:
        try:
            lines = Path(list_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise AnalysisError(f"cannot read file list {list_file!r}: "
                                f"{exc.strerror or exc}") from None
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                items.append(line)
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.nc") if not q.name.startswith("."))
            paths.extend(found)
        elif p.exists():
            paths.append(p)
        else:
            raise AnalysisError(f"run file {item!r} does not exist")
    unique = sorted(set(paths), key=lambda q: str(q))
    if not unique:
        raise AnalysisError("no run files given (pass files, directories or --files-from LIST)")
    return unique


def _attr_value(value: Any) -> Any:
    """HDF5 attribute -> plain Python scalar/str (NetCDF stores scalars as 1-element arrays)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.size == 1:
            return _attr_value(value.reshape(-1)[0])
        return [_attr_value(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class RunHeader:
    """What pass 1 of aggregation learns about one run file (no data arrays)."""

    path: Path
    env: str
    aux: str
    method: str
    seed: int
    status: str
    config_id: str
    n_episodes: int
    hp: dict[str, Any]
    overrides: str
    episode_vars: tuple[str, ...]
    map_vars: dict[str, tuple[int, int]] = field(default_factory=dict)


def _fail(path: Path, problem: str) -> AnalysisError:
    return AnalysisError(f"run file {str(path)!r}: {problem}")


def hp_config_id(hp: dict[str, Any]) -> str:
    """A short id for a hyperparameter configuration when the path gives none."""
    canon = json.dumps(sorted((k, repr(v)) for k, v in hp.items()))
    return "hp-" + hashlib.sha1(canon.encode()).hexdigest()[:8]


def _open(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise _fail(path, f"cannot be read (corrupt or truncated?): {exc}") from None


def read_header(path: Path) -> RunHeader:
    """Open one run file, check it against the run-file contract and return its header.
    Raises AnalysisError naming the file for anything unreadable or missing."""
    with _open(path) as f:
        try:
            a = f.attrs
            # Only the attributes the analysis uses (reading one costs ~0.1 ms).
            attrs = {k: _attr_value(a[k]) for k in a.keys()
                     if k in WANTED_ATTRS or k.startswith("hp_")}
            shapes = {}
            for k in f.keys():
                obj = f[k]
                if hasattr(obj, "shape"):   # a dataset, not a group
                    shapes[k] = obj.shape
            names = list(shapes)
        except (OSError, RuntimeError, KeyError, ValueError, AttributeError) as exc:
            raise _fail(path, f"cannot be read (corrupt or truncated?): {exc}") from None
    for key in REQUIRED_ATTRS:
        if key not in attrs:
            raise _fail(path, f"missing attribute {key!r} (not a BARFI run file?)")
    for key in ("env", "aux", "method", "status"):
        if not isinstance(attrs[key], str) or not attrs[key]:
            raise _fail(path, f"attribute {key}={attrs[key]!r} is not a non-empty string")
    if attrs["status"] not in STATUSES:
        raise _fail(path, f"attribute status={attrs['status']!r}; valid: {', '.join(STATUSES)}")
    seed = attrs["seed"]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise _fail(path, f"attribute seed={seed!r} is not a non-negative integer")
    for var in REQUIRED_VARS:
        if var not in shapes:
            raise _fail(path, f"missing variable {var!r}")
    if len(shapes["primary_return"]) != 1:
        raise _fail(path, f"variable 'primary_return' has shape {shapes['primary_return']}, "
                          "expected (episode,)")
    n = shapes["primary_return"][0]
    # Per-episode variables are the 1-D arrays of length n; maps the 2-D arrays (grid_y, grid_x)
    # (dimension coordinates such as `episode` and `grid_*` excluded). Shapes, not netCDF
    # dimension names, are checked: reading the names costs more than the rest of the header.
    episode_vars, map_vars = [], {}
    for name in names:
        if name == "episode" or name.startswith("grid_"):
            continue
        if len(shapes[name]) == 1 and shapes[name][0] == n:
            episode_vars.append(name)
        elif len(shapes[name]) == 2:
            map_vars[name] = tuple(shapes[name])
    for var in REQUIRED_VARS:
        if var not in episode_vars:
            raise _fail(path, f"variable {var!r} has shape {shapes[var]}, expected ({n},) like "
                              "primary_return")
    hp = {k[3:]: v for k, v in attrs.items() if k.startswith("hp_")}
    if "episodes" in hp and hp["episodes"] != n:
        raise _fail(path, f"has {n} episodes but hp_episodes={hp['episodes']} (truncated run?)")
    config_id = _config_id(path, attrs, hp, int(seed))
    return RunHeader(path=path, env=attrs["env"], aux=attrs["aux"], method=attrs["method"],
                     seed=int(seed), status=attrs["status"], config_id=config_id, n_episodes=n,
                     hp=hp, overrides=str(attrs.get("overrides", "")),
                     episode_vars=tuple(episode_vars), map_vars=map_vars)


def _config_id(path: Path, attrs: dict[str, Any], hp: dict[str, Any], seed: int) -> str:
    """The configuration id of a run: its `config_id` attribute (every run of the workflow has
    one: `barfi train --config`). A run file without it (trained by hand with `--set`) takes the
    directory of the pipeline layout .../{env}/{aux}/{method}/{config_id}/seed-{seed}.nc, else a
    hash of the hyperparameters. Where the path follows the layout it must agree with the
    attributes (a run copied into another configuration's directory is refused)."""
    from_attr = attrs.get("config_id")
    from_path = None
    m = SEED_FILE.match(path.name)
    if m:
        if int(m.group(1)) != seed:
            raise _fail(path, f"file name says seed {m.group(1)} but attribute seed={seed}")
        parents = path.parents
        if len(parents) >= 4 and parents[3].name == attrs["env"]:
            for level, key in ((2, "aux"), (1, "method")):
                if parents[level].name != attrs[key]:
                    raise _fail(path, f"path says {key} {parents[level].name!r} but attribute "
                                      f"{key}={attrs[key]!r}")
            from_path = path.parent.name
    if from_attr is not None and from_path is not None and str(from_attr) != from_path:
        raise _fail(path, f"path says config {from_path!r} but attribute "
                          f"config_id={from_attr!r}")
    if from_attr is not None:
        return str(from_attr)
    if from_path is not None:
        return from_path
    return hp_config_id(hp)


def read_arrays(header: RunHeader, names: Iterable[str]) -> dict[str, np.ndarray]:
    """Read the named variables of a run file as float64 arrays (NetCDF fill values and
    scale/offset decoded), raising AnalysisError naming the file on any read error."""
    out: dict[str, np.ndarray] = {}
    with _open(header.path) as f:
        try:
            for name in names:
                if name not in f:
                    continue
                ds = f[name]
                raw = ds[()]
                values = np.asarray(raw, dtype=np.float64)
                fill = ds.attrs.get("_FillValue")
                if fill is not None:
                    fill = np.asarray(fill).reshape(-1)[0]
                    if not (isinstance(fill, float) and np.isnan(fill)):
                        values = np.where(np.asarray(raw) == fill, np.nan, values)
                if "scale_factor" in ds.attrs:
                    values = values * float(np.asarray(ds.attrs["scale_factor"]).reshape(-1)[0])
                if "add_offset" in ds.attrs:
                    values = values + float(np.asarray(ds.attrs["add_offset"]).reshape(-1)[0])
                out[name] = values
        except (OSError, RuntimeError, ValueError, TypeError) as exc:
            raise _fail(header.path, f"cannot be read (corrupt or truncated?): {exc}") from None
    return out


def load_config_table(path: Path | str) -> dict[str, dict[str, Any]]:
    """A table config_id -> {hyperparameter: value}: YAML or JSON mapping (optionally nested
    by method: {method: {config_id: {...}}}, flattened to 'config_id'), or CSV/TSV with a
    `config_id` column and one column per hyperparameter (empty cell = not overridden)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AnalysisError(f"cannot read config table {str(path)!r}: "
                            f"{exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    table: dict[str, dict[str, Any]] = {}
    try:
        if suffix in (".csv", ".tsv"):
            import csv
            import io as _io
            reader = csv.DictReader(_io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
            if not reader.fieldnames or "config_id" not in reader.fieldnames:
                raise AnalysisError(f"config table {str(path)!r} has no 'config_id' column")
            for row in reader:
                cid = (row.pop("config_id") or "").strip()
                table[cid] = {k: v for k, v in row.items() if k and v not in (None, "")}
        else:
            import yaml
            data = yaml.safe_load(text)
            if not isinstance(data, dict):
                raise AnalysisError(f"config table {str(path)!r} is not a mapping "
                                    "config_id -> overrides")
            for cid, overrides in data.items():
                if overrides is None:
                    overrides = {}
                if not isinstance(overrides, dict):
                    raise AnalysisError(f"config table {str(path)!r}: entry {cid!r} is not a "
                                        "mapping of hyperparameters")
                if overrides and all(isinstance(v, dict) for v in overrides.values()):
                    for inner, values in overrides.items():   # nested by method
                        table[str(inner)] = dict(values or {})
                else:
                    table[str(cid)] = dict(overrides)
    except AnalysisError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse error is bad input
        raise AnalysisError(f"config table {str(path)!r} cannot be parsed: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                            ) from None
    return table


def same_value(a: Any, b: Any) -> bool:
    """Equality of hyperparameter values as stored (floats compared with a relative tolerance;
    '1/64' and 0.015625 are equal; booleans equal 0/1)."""
    if type(a) is type(b) and a == b:
        return True

    def num(x: Any) -> float | None:
        if isinstance(x, bool):
            return float(x)
        if isinstance(x, (int, float, np.integer, np.floating)):
            return float(x)
        if isinstance(x, str):
            s = x.strip().lower()
            if s in ("true", "false"):
                return float(s == "true")
            try:
                from fractions import Fraction
                return float(Fraction(s))
            except (ValueError, ZeroDivisionError):
                return None
        return None
    na, nb = num(a), num(b)
    if na is not None and nb is not None:
        return bool(np.isclose(na, nb, rtol=1e-9, atol=0.0)) or na == nb
    return str(a) == str(b)


def default_jobs() -> int:
    """Worker processes for reading run files: the CPUs this process may use, at most 8."""
    import os

    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def ordered_map(fn, items, jobs: int = 1, window: int = 256):
    """Yield fn(item) for each item, in order, computed by `jobs` worker processes with at most
    `window` items in flight (so memory stays bounded however many items there are). fn must
    be a picklable top-level function; jobs <= 1 maps in this process."""
    items = list(items)
    if jobs <= 1 or len(items) < 2 * jobs:
        for item in items:
            yield fn(item)
        return
    import collections
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("forkserver" if "forkserver" in
                                      multiprocessing.get_all_start_methods() else "spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    try:
        pending: collections.deque = collections.deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def read_run_data(header: RunHeader) -> dict[str, np.ndarray]:
    """Every per-episode and map variable of a run (a top-level function, for worker pools)."""
    return read_arrays(header, list(header.episode_vars) + list(header.map_vars))
