"""The run dataset: one xarray Dataset per (config, seed), its provenance, and atomic writes.

A reader must be able to tell from a run file alone what produced it: every hyperparameter, the
package versions, the git commit and a hash of the package source, the machine, the device and
the start and end times are attributes. Files are written to a temporary name in the target
directory and renamed into place, so a crash never leaves a half-written run file behind.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import xarray as xr

from barfi.config import RunConfig

PACKAGE_DIR = Path(__file__).resolve().parent
VERSIONED_PACKAGES = ("barfi", "numpy", "torch", "gymnasium", "mujoco", "xarray", "h5netcdf")
NETCDF_ENGINE = "h5netcdf"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@lru_cache(maxsize=None)
def source_hash(root: Path | str = PACKAGE_DIR, exclude: tuple[str, ...] = ()) -> str:
    """SHA-256 (first 16 hex digits) of the Python files under `root` (paths and contents),
    skipping the top-level subfolders named in `exclude`: identifies the code that ran even
    outside a git checkout. Run files record the package's; the workflow's train jobs carry the
    training code's as a param, so a code change reruns exactly the jobs it affects."""
    h = hashlib.sha256()
    root = Path(root)
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts and rel.parts[0] in exclude:
            continue
        h.update(rel.as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the checkout holding the package, with '-dirty' if its source is modified;
    'unknown' for an installed (non-editable) package."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(PACKAGE_DIR), *args], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--", str(PACKAGE_DIR))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


@lru_cache(maxsize=1)
def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"{device} ({cpu_model()})"


def provenance(device: str) -> dict[str, Any]:
    """Attributes describing the code, the machine and the software of a run."""
    attrs: dict[str, Any] = {
        "git_commit": git_commit(),
        "source_hash": source_hash(),
        "host": socket.gethostname(),
        "cpu_model": cpu_model(),
        "device": device_name(device),
        "python_version": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for pkg in VERSIONED_PACKAGES:
        try:
            attrs[f"version_{pkg}"] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            attrs[f"version_{pkg}"] = "absent"
    return attrs


# Descriptions of the per-episode variables (attached as `long_name`/`description`).
VARIABLE_DOCS = {
    "primary_return": "undiscounted sum of the primary reward r_p over the episode",
    "aux_return": "undiscounted sum of the auxiliary reward r_aux over the episode",
    "episode_length": "steps in the episode",
    "wall_time": "seconds since the block of seeds started training (at the episode's end)",
    "gamma_phi": "learned discount sigmoid(psi) at the episode's end",
    "phi1_mean": "mean of phi1(s) over the episode's states",
    "phi2_mean": "mean of phi2(s) over the episode's states",
    "phi3_mean": "mean of phi3(s) over the episode's states",
    "r_phi_return": "undiscounted sum of the behaviour alignment reward r_phi over the episode",
}


def build_dataset(config: RunConfig, seed: int, per_episode: dict[str, np.ndarray],
                  final: dict[str, tuple[tuple[str, ...], np.ndarray]],
                  attrs: dict[str, Any]) -> xr.Dataset:
    """One seed's dataset: per-episode arrays (dim `episode`), end-of-training arrays, attrs."""
    n = len(per_episode["primary_return"])
    data_vars: dict[str, Any] = {}
    for name, values in per_episode.items():
        data_vars[name] = xr.Variable(("episode",), np.asarray(values),
                                      attrs={"description": VARIABLE_DOCS.get(name, name)})
    coords: dict[str, Any] = {"episode": np.arange(n)}
    for name, (dims, values) in final.items():
        data_vars[name] = xr.Variable(dims, np.asarray(values),
                                      attrs={"description": VARIABLE_DOCS.get(name, name)})
        for dim, size in zip(dims, np.shape(values)):
            if dim.startswith("grid_"):
                coords.setdefault(dim, np.linspace(0.0, 1.0, size))
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update(config.to_attrs())
    ds.attrs["seed"] = int(seed)
    ds.attrs["overrides"] = ";".join(f"{k}={v}" for k, v in config.overrides)
    ds.attrs.update(attrs)
    return ds


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: Path | str, keep_suffix: bool = True) -> Iterator[Path]:
    """Yield a temporary path in `path`'s directory; on success it is flushed to disk and renamed
    onto `path` (readers see the old file or the complete new one), on failure removed. The
    file gets the usual permissions (0666 minus the umask), not mkstemp's 0600, so a shared run
    store stays readable. `keep_suffix`: the temporary ends in `path`'s suffix (for writers
    that infer the format from the name, e.g. figures); run files and checkpoints end in `.tmp`
    so that no `*.nc` glob ever picks up a half-written file."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.",
                                suffix=".tmp" + (path.suffix if keep_suffix else ""),
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_dataset(ds: xr.Dataset, path: Path | str) -> Path:
    """Write `ds` to NetCDF (h5netcdf) atomically."""
    path = Path(path)
    with atomic_path(path, keep_suffix=False) as tmp:
        ds.to_netcdf(tmp, engine=NETCDF_ENGINE)
    return path


def read_dataset(path: Path | str) -> xr.Dataset:
    """Load a run file fully into memory (and close it)."""
    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        return ds.load()
