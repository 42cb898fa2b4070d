"""Aggregation: many run files of one environment -> one labelled NetCDF dataset.

Output dims `aux x method x config x seed x episode` (config = the configuration id), plus
`grid_y x grid_x` for the GridWorld phi maps and `run` for the table of input files.

Bounded memory: two passes over the files, never more than one open at a time.
  1. headers only (attributes, variable names and shapes): validates every file against the
     run-file contract and fixes the coordinates; a bad file stops everything before any
     output exists;
  2. data: each run's arrays are read and written straight into their slot of the output,
     an HDF5 file chunked one run per chunk, so memory stays at one run plus small tables
     whatever the number of files, and slots without a run take no space on disk.
The output is written to a temporary file beside the target and renamed when complete.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from barfi.analysis.io import (STATUS_CODES, AnalysisError, RunHeader, atomic_output,
                               check_writable_dir, load_config_table, ordered_map, read_header,
                               read_run_data, same_value)

DIMS = ("aux", "method", "config", "seed")
FORMAT_VERSION = 1


def _natural_key(text: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def method_order(methods: Iterable[str]) -> list[str]:
    """Known methods in `barfi.config.METHODS` order, then any others sorted."""
    from barfi.config import METHODS

    methods = set(methods)
    return [m for m in METHODS if m in methods] + sorted(methods - set(METHODS))


def aux_order(env: str, auxes: Iterable[str]) -> list[str]:
    """Aux rewards in their registry order (as the paper lists them), then any others sorted."""
    auxes = set(auxes)
    try:
        from barfi.aux_rewards import AUX_REWARDS
        known = list(AUX_REWARDS.get(env, {}))
    except Exception:  # noqa: BLE001 - ordering only; the registry may be unavailable
        known = []
    return [a for a in known if a in auxes] + sorted(auxes - set(known))


def scan(paths: Sequence[Path], env: str | None = None,
         config_table: dict[str, dict[str, Any]] | None = None,
         progress: Callable[[str], None] | None = None, jobs: int = 1):
    """Pass 1: read and validate every header. Returns (headers, hp per (method, config))."""
    headers: list[RunHeader] = []
    hp_of: dict[tuple[str, str], dict[str, Any]] = {}
    first_file: dict[tuple[str, str], Path] = {}
    slots: dict[tuple[str, str, str, int], Path] = {}
    map_shapes: dict[str, tuple[int, int]] = {}
    for i, h in enumerate(ordered_map(read_header, [Path(p) for p in paths], jobs)):
        if env is None:
            env = h.env
        elif h.env != env:
            raise AnalysisError(f"run file {str(h.path)!r}: env {h.env!r}, but this aggregate "
                                f"is for env {env!r} (aggregate one env at a time)")
        slot = (h.aux, h.method, h.config_id, h.seed)
        if slot in slots:
            raise AnalysisError(f"run files {str(slots[slot])!r} and {str(h.path)!r} are the same "
                                f"run (aux={h.aux}, method={h.method}, config={h.config_id}, "
                                f"seed={h.seed})")
        slots[slot] = h.path
        key = (h.method, h.config_id)
        if key not in hp_of:
            hp_of[key] = h.hp
            first_file[key] = h.path
            if config_table is not None:
                _check_against_table(h, config_table)
        else:
            _check_same_hp(h, hp_of[key], first_file[key])
        for name, shape in h.map_vars.items():
            if map_shapes.setdefault(name, shape) != shape:
                raise AnalysisError(f"run file {str(h.path)!r}: variable {name!r} has shape "
                                    f"{shape}, other runs {map_shapes[name]}")
        h.hp = {}  # kept once per configuration in hp_of; bounded memory for 10^4+ files
        headers.append(h)
        if progress and (i + 1) % 1000 == 0:
            progress(f"scanned {i + 1}/{len(paths)} run files")
    return env, headers, hp_of


def _check_same_hp(h: RunHeader, ref: dict[str, Any], ref_path: Path) -> None:
    keys = set(h.hp) | set(ref)
    for k in sorted(keys):
        if k not in h.hp or k not in ref or not same_value(h.hp[k], ref[k]):
            raise AnalysisError(
                f"run file {str(h.path)!r}: hp_{k}={h.hp.get(k, '<absent>')!r} differs from "
                f"{ref.get(k, '<absent>')!r} in {str(ref_path)!r}, same method {h.method!r} and "
                f"config {h.config_id!r} (mislabelled configuration?)")


def _check_against_table(h: RunHeader, table: dict[str, dict[str, Any]]) -> None:
    if h.config_id not in table:
        raise AnalysisError(f"run file {str(h.path)!r}: config {h.config_id!r} is not in the "
                            "config table")
    for key, value in table[h.config_id].items():
        if key not in h.hp:
            raise AnalysisError(f"run file {str(h.path)!r}: config table sets {key!r} for config "
                                f"{h.config_id!r} but the run has no attribute hp_{key}")
        if not same_value(h.hp[key], value):
            raise AnalysisError(f"run file {str(h.path)!r}: hp_{key}={h.hp[key]!r} but the config "
                                f"table says {value!r} for config {h.config_id!r}")


@dataclass
class Layout:
    """The output cube: its coordinates, its variables, and the slot of every run."""

    env: str
    auxes: list[str]
    methods: list[str]
    configs: list[str]
    seeds: list[int]
    n_ep: int                                  # episodes: the longest run's
    episode_vars: list[str]                    # per-episode records (aux x ... x episode)
    map_shapes: dict[str, tuple[int, int]]     # final maps (aux x ... x grid_y x grid_x)
    slots: list[tuple[int, int, int, int]]     # per run header: (aux, method, config, seed)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return len(self.auxes), len(self.methods), len(self.configs), len(self.seeds)


def plan(env: str, headers: list[RunHeader], hp_of: dict) -> Layout:
    """The layout of the runs `headers` (sorted in place into slot order): aux rewards and
    methods in their usual order, configurations by their first method, then by name."""
    auxes = aux_order(env, {h.aux for h in headers})
    methods = method_order({h.method for h in headers})
    m_index = {m: i for i, m in enumerate(methods)}
    configs = sorted({h.config_id for h in headers},
                     key=lambda c: (min(m_index[m] for (m, cc) in hp_of if cc == c),
                                    _natural_key(c)))
    seeds = sorted({h.seed for h in headers})
    episode_vars = ["primary_return", "aux_return", "episode_length", "wall_time"]
    for h in headers:
        episode_vars += [v for v in h.episode_vars if v not in episode_vars]
    map_shapes: dict[str, tuple[int, int]] = {}
    for h in headers:
        map_shapes.update(h.map_vars)
    a_index = {a: i for i, a in enumerate(auxes)}
    c_index = {c: i for i, c in enumerate(configs)}
    s_index = {s: i for i, s in enumerate(seeds)}

    def slot(h: RunHeader) -> tuple[int, int, int, int]:
        return a_index[h.aux], m_index[h.method], c_index[h.config_id], s_index[h.seed]

    headers.sort(key=slot)
    return Layout(env, auxes, methods, configs, seeds, max(h.n_episodes for h in headers),
                  episode_vars, map_shapes, [slot(h) for h in headers])


def aggregate(paths: Sequence[Path | str], out: Path | str, env: str | None = None,
              config_table: Path | str | dict | None = None,
              progress: Callable[[str], None] | None = None,
              jobs: int = 1) -> dict[str, Any]:
    """Merge the run files `paths` (one env) into the NetCDF file `out`. Returns a summary
    (env, number of runs, diverged runs, dims). Raises AnalysisError on bad input, before
    anything is written. `jobs` worker processes read the run files (the output is the same
    for any number)."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise AnalysisError("no run files given")
    table = (load_config_table(config_table) if isinstance(config_table, (str, Path))
             else config_table)
    env, headers, hp_of = scan(paths, env, table, progress, jobs)
    lay = plan(env, headers, hp_of)
    out = Path(out)
    check_writable_dir(out.parent)
    status = np.zeros(lay.shape, np.int8)
    for h, slot in zip(headers, lay.slots):
        status[slot] = STATUS_CODES[h.status]
    n_div = int((status == STATUS_CODES["diverged"]).sum())
    attrs = {
        "title": f"BARFI runs of env {env}, aggregated",
        "env": env, "n_runs": len(headers), "n_diverged": n_div,
        "n_episodes": lay.n_ep, "format_version": FORMAT_VERSION,
        "created_by": "python -m barfi.analysis aggregate",
        "config_table": str(config_table) if isinstance(config_table, (str, Path)) else "",
        "description": "per-episode records of every run, indexed aux x method x config x "
                       "seed x episode; NaN where a slot has no run or a run diverged; see "
                       "`status`",
    }
    try:
        with atomic_output(out) as tmp:
            _write_structure(tmp, lay, headers, hp_of, status, attrs)
            _write_runs(tmp, lay, headers, jobs, progress)
    except OSError as exc:
        raise AnalysisError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    per_method = Counter(h.method for h in headers if h.status == "diverged")
    return {"env": env, "runs": len(headers), "diverged": n_div,
            "diverged_per_method": dict(per_method), "aux": lay.auxes, "methods": lay.methods,
            "configs": len(lay.configs), "seeds": len(lay.seeds), "episodes": lay.n_ep,
            "out": str(out)}


def _write_structure(tmp: Path, lay: Layout, headers: list[RunHeader], hp_of: dict,
                     status: np.ndarray, attrs: dict[str, Any]) -> None:
    """Dimensions, coordinates, the empty chunked variables and the small tables, through
    h5netcdf (a valid netCDF-4 file)."""
    import h5netcdf

    grid = next(iter(lay.map_shapes.values()), None)
    overrides = {(h.method, h.config_id): h.overrides for h in headers}
    diverged_at = np.full(lay.shape, -1, np.int32)     # filled in by _write_runs
    with h5netcdf.File(tmp, "w") as f:
        dims = {"aux": len(lay.auxes), "method": len(lay.methods), "config": len(lay.configs),
                "seed": len(lay.seeds), "episode": lay.n_ep, "run": len(headers)}
        if grid is not None:
            dims.update(grid_y=grid[0], grid_x=grid[1])
        f.dimensions = dims
        _coords(f, lay.auxes, lay.methods, lay.configs, lay.seeds, lay.n_ep, grid)
        for name in lay.episode_vars:
            _big_var(f, name, DIMS + ("episode",), (1, 1, 1, 1, lay.n_ep))
        for name, shape_ in lay.map_shapes.items():
            _big_var(f, name, DIMS + ("grid_y", "grid_x"), (1, 1, 1, 1) + shape_)
        _small_vars(f, lay.methods, lay.configs, hp_of, overrides, status, diverged_at,
                    headers)
        f.attrs.update(attrs)


def _write_runs(tmp: Path, lay: Layout, headers: list[RunHeader], jobs: int,
                progress: Callable[[str], None] | None) -> None:
    """Each run's data straight into its chunks with plain h5py (fast), and the episode at
    which each diverged run diverged."""
    import h5py

    diverged_at = np.full(lay.shape, -1, np.int32)
    with h5py.File(tmp, "r+") as f:
        big = {name: f[name] for name in [*lay.episode_vars, *lay.map_shapes]}
        data = ordered_map(read_run_data, headers, jobs)
        for i, (h, slot, values) in enumerate(zip(headers, lay.slots, data)):
            pr = values["primary_return"]
            bad = ~np.isfinite(pr)
            if h.status == "completed" and bad.any():
                raise AnalysisError(f"run file {str(h.path)!r}: status 'completed' but "
                                    f"{int(bad.sum())} non-finite primary_return values")
            if h.status == "diverged":
                diverged_at[slot] = int(np.argmax(bad)) if bad.any() else h.n_episodes
            for name in h.episode_vars:
                big[name][slot + (slice(0, h.n_episodes),)] = values[name]
            for name in h.map_vars:
                big[name][slot] = values[name]
            if progress and (i + 1) % 1000 == 0:
                progress(f"aggregated {i + 1}/{len(headers)} run files")
        f["diverged_at"][...] = diverged_at


def _str_var(f, name: str, dims: tuple[str, ...], values, attrs: dict | None = None):
    import h5py

    data = np.array(values, dtype=object)
    v = f.create_variable(name, dims, dtype=h5py.string_dtype(), data=data)
    v.attrs.update(attrs or {})
    return v


def _coords(f, auxes, methods, configs, seeds, n_ep, grid) -> None:
    _str_var(f, "aux", ("aux",), auxes, {"long_name": "auxiliary reward"})
    _str_var(f, "method", ("method",), methods, {"long_name": "learning method"})
    _str_var(f, "config", ("config",), configs,
             {"long_name": "hyperparameter configuration id (see hp_* and overrides)"})
    f.create_variable("seed", ("seed",), data=np.asarray(seeds, np.int64)).attrs["long_name"] = \
        "random seed"
    f.create_variable("episode", ("episode",), data=np.arange(n_ep, dtype=np.int64)) \
        .attrs["long_name"] = "episode index (0-based)"
    if grid is not None:
        for dim, size in (("grid_y", grid[0]), ("grid_x", grid[1])):
            f.create_variable(dim, (dim,), data=np.linspace(0.0, 1.0, size)).attrs["long_name"] \
                = f"{dim[-1]} position (normalised, [0, 1])"


VAR_DOCS = {
    "primary_return": "undiscounted sum of the primary reward r_p over the episode",
    "aux_return": "undiscounted sum of the auxiliary reward r_aux over the episode",
    "episode_length": "steps in the episode",
    "wall_time": "seconds since the run's block started (at the episode's end)",
    "gamma_phi": "learned discount gamma_phi = sigmoid(psi) at the episode's end",
    "phi1_mean": "mean of phi1(s) over the episode's states",
    "phi2_mean": "mean of phi2(s) over the episode's states",
    "phi3_mean": "mean of phi3(s) over the episode's states",
    "r_phi_return": "undiscounted sum of the behaviour alignment reward r_phi over the episode",
    "phi1_map": "phi1(s) on a grid of positions at the end of training",
    "phi3_map": "phi3(s) on a grid of positions at the end of training",
}


def _big_var(f, name: str, dims: tuple[str, ...], chunks: tuple[int, ...]):
    v = f.create_variable(name, dims, dtype="f8", chunks=chunks, fillvalue=np.nan)
    v.attrs["description"] = VAR_DOCS.get(name, name)
    return v


def _small_vars(f, methods, configs, hp_of, overrides, status, diverged_at, headers) -> None:
    v = f.create_variable("status", DIMS, data=status)
    v.attrs.update({"long_name": "run status", "flag_values": np.array([0, 1, 2], np.int8),
                    "flag_meanings": "missing completed diverged"})
    v = f.create_variable("diverged_at", DIMS, data=diverged_at)
    v.attrs["description"] = ("first episode with a non-finite primary return of a diverged "
                              "run; -1 for completed or missing runs")
    # Hyperparameter table (method x config): one variable per hyperparameter.
    keys = sorted({k for hp in hp_of.values() for k in hp})
    mi = {m: i for i, m in enumerate(methods)}
    ci = {c: i for i, c in enumerate(configs)}
    for key in keys:
        vals = [hp.get(key) for hp in hp_of.values() if key in hp]
        numeric = all(isinstance(x, (int, float, np.integer, np.floating)) and
                      not isinstance(x, bool) for x in vals)
        if numeric:
            arr = np.full((len(methods), len(configs)), np.nan)
        else:
            arr = np.full((len(methods), len(configs)), "", dtype=object)
        for (m, c), hp in hp_of.items():
            if key in hp:
                arr[mi[m], ci[c]] = hp[key] if numeric else str(hp[key])
        if numeric:
            var = f.create_variable(f"hp_{key}", ("method", "config"), data=arr)
        else:
            var = _str_var(f, f"hp_{key}", ("method", "config"), arr)
        var.attrs["description"] = f"hyperparameter {key} of the configuration (NaN/'' where " \
                                   "the method has no such configuration)"
    ov = np.full((len(methods), len(configs)), "", dtype=object)
    n_ep = np.zeros((len(methods), len(configs)), np.int64)
    for (m, c), text in overrides.items():
        ov[mi[m], ci[c]] = text
    for h in headers:
        n_ep[mi[h.method], ci[h.config_id]] = max(n_ep[mi[h.method], ci[h.config_id]],
                                                  h.n_episodes)
    _str_var(f, "overrides", ("method", "config"), ov,
             {"description": "the configuration's overrides of the published defaults "
                             "(key=value;...); '' = defaults or no such configuration"})
    f.create_variable("n_episodes", ("method", "config"), data=n_ep).attrs["description"] = \
        "episode budget of the configuration (0 = no such configuration)"
    # Run table: which file filled which slot.
    _str_var(f, "run_file", ("run",), [str(h.path) for h in headers], {"description": "run file"})
    _str_var(f, "run_aux", ("run",), [h.aux for h in headers])
    _str_var(f, "run_method", ("run",), [h.method for h in headers])
    _str_var(f, "run_config", ("run",), [h.config_id for h in headers])
    f.create_variable("run_seed", ("run",), data=np.array([h.seed for h in headers], np.int64))
    _str_var(f, "run_status", ("run",), [h.status for h in headers])
