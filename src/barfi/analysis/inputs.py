"""The report's inputs: one aggregated and one selection dataset per env, opened and
cross-checked (`load_inputs`), with the completed runs of any configuration on any seeds
(`EnvInputs.runs`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from barfi.analysis.io import STATUS_CODES, AnalysisError
from barfi.analysis.selection import open_aggregate, open_selection


def is_barfi(method: str) -> bool:
    """Whether the method learns r_phi and gamma_phi (and records them), per the registry."""
    from barfi.learners import METHODS

    return method in METHODS and METHODS[method].learns_reward


def published_episodes(env: str) -> int | None:
    """The paper's episode budget for `env` (common to its methods), None for an unknown env."""
    from barfi.config import METHODS, published_defaults
    from barfi.envs import ENVS

    # the budget is common to every method; per env, the layers that name no aux reward
    default = published_defaults(env, next(iter(METHODS))) if env in ENVS else {}
    return int(default["episodes"]) if "episodes" in default else None


@dataclass
class EnvInputs:
    env: str
    agg: Any                  # lazy xarray Dataset
    sel: Any                  # loaded xarray Dataset
    agg_path: Path
    sel_path: Path

    def __post_init__(self):
        self.aux_i = {str(a): i for i, a in enumerate(self.agg.aux.values)}
        self.method_i = {str(m): i for i, m in enumerate(self.agg.method.values)}
        self.config_i = {str(c): i for i, c in enumerate(self.agg.config.values)}
        self.seed_i = {int(s): i for i, s in enumerate(self.agg.seed.values)}
        self.status = self.agg.status.values
        self.n_episodes = self.agg.n_episodes.values
        self.auxes = [str(a) for a in self.sel.aux.values]
        self.methods = [str(m) for m in self.sel.method.values]
        self.eval_seeds = [int(s) for s in self.sel.eval_seed.values]
        self.tuning_seeds = [int(s) for s in self.sel.tuning_seed.values]
        self._cache: dict = {}

    @property
    def episodes(self) -> str:
        """The runs' episode budget: "300", or "150-2000" where configurations differ."""
        ep = self.n_episodes[self.n_episodes > 0]
        if not ep.size:
            return "0"
        return f"{int(ep.min())}" if ep.min() == ep.max() else f"{int(ep.min())}-{int(ep.max())}"

    @property
    def short_budget(self) -> int | None:
        """The published budget where these runs train for fewer episodes, else None."""
        pub = published_episodes(self.env)
        ep = self.n_episodes[self.n_episodes > 0]
        return pub if pub and ep.size and int(ep.max()) < pub else None

    @property
    def label(self) -> str:
        """The env's name in titles and tables: its budget added where it is shorter than the
        published one ("halfcheetah (300 of 10000 episodes)"), so that no figure or table of a
        short run can be read as the paper's."""
        pub = self.short_budget
        return f"{self.env} ({self.episodes} of {pub} episodes)" if pub else self.env

    def best(self, aux: str, method: str) -> str:
        return str(self.sel.best_config.sel({"aux": aux, "method": method}).item())

    def runs(self, aux: str, method: str, var: str, config: str | None = None,
             seeds: Sequence[int] | None = None) -> tuple[np.ndarray, int, str]:
        """Completed runs of `config` (default: the selected one) on `seeds` (default: the
        evaluation seeds): (values (runs, ...), number of diverged runs excluded, config)."""
        config = self.best(aux, method) if config is None else config
        seeds = self.eval_seeds if seeds is None else seeds
        key = (aux, method, var, config, tuple(seeds))
        if key in self._cache:
            return self._cache[key]
        a, m = self.aux_i[aux], self.method_i[method]
        if not config or var not in self.agg:
            result = (np.empty((0, 0)), 0, config)
        else:
            c = self.config_i[config]
            s_idx = [self.seed_i[s] for s in seeds]
            st = self.status[a, m, c, s_idx]
            ok = [i for i, code in zip(s_idx, st) if code == STATUS_CODES["completed"]]
            n_div = int((st == STATUS_CODES["diverged"]).sum())
            da = self.agg[var]
            if "episode" in da.dims:
                sub = da.isel(aux=a, method=m, config=c, seed=ok,
                              episode=slice(0, int(self.n_episodes[m, c]))).values
            else:
                sub = da.isel(aux=a, method=m, config=c, seed=ok).values
            sub = sub.reshape((len(ok),) + sub.shape[1:])
            result = (sub, n_div, config)
        self._cache[key] = result
        return result


def order_envs(envs):
    """The report's order: that of the `barfi.envs.ENVS` registry, then unknown envs by name."""
    from barfi.envs import ENVS

    order = list(ENVS)
    return sorted(envs, key=lambda e: (order.index(e) if e in order else len(order), e))


def load_inputs(aggregated: Sequence[Path | str], selections: Sequence[Path | str]
                ) -> list[EnvInputs]:
    """Open and cross-check the inputs: one aggregate and one selection per env, made from it."""
    if not aggregated:
        raise AnalysisError("no aggregated datasets given (--aggregated)")
    if not selections:
        raise AnalysisError("no selection datasets given (--selection)")
    aggs: dict[str, tuple[Any, Path]] = {}
    for p in aggregated:
        ds = open_aggregate(p)
        env = str(ds.attrs["env"])
        if env in aggs:
            raise AnalysisError(f"two aggregated datasets for env {env!r}: "
                                f"{str(aggs[env][1])!r} and {str(p)!r}")
        aggs[env] = (ds, Path(p))
    sels: dict[str, tuple[Any, Path]] = {}
    for p in selections:
        ds = open_selection(p)
        env = str(ds.attrs.get("env", ""))
        if env in sels:
            raise AnalysisError(f"two selection datasets for env {env!r}: "
                                f"{str(sels[env][1])!r} and {str(p)!r}")
        if env not in aggs:
            raise AnalysisError(f"selection {str(p)!r} is for env {env!r}, which has no "
                                "aggregated dataset among --aggregated")
        sels[env] = (ds, Path(p))
    for env, (_, p) in aggs.items():
        if env not in sels:
            raise AnalysisError(f"aggregated dataset {str(p)!r} (env {env!r}) has no selection "
                                "among --selection; run `python -m barfi.analysis select`")
    inputs = []
    for env in order_envs(aggs):
        agg, ap = aggs[env]
        sel, sp = sels[env]
        for dim in ("aux", "method", "config"):
            extra = set(map(str, sel[dim].values)) - set(map(str, agg[dim].values))
            if extra:
                raise AnalysisError(f"selection {str(sp)!r} does not match aggregated dataset "
                                    f"{str(ap)!r}: {dim} {sorted(extra)} unknown (select again "
                                    "from this aggregate)")
        for dim in ("tuning_seed", "eval_seed"):
            extra = set(map(int, sel[dim].values)) - set(map(int, agg.seed.values))
            if extra:
                raise AnalysisError(f"selection {str(sp)!r} does not match aggregated dataset "
                                    f"{str(ap)!r}: {dim}s {sorted(extra)} have no runs")
        inputs.append(EnvInputs(env, agg, sel, ap, sp))
    return inputs
