"""GridWorld phi maps as *learned change*: phi1(s) and phi3(s) at the end of training minus
their values at initialisation, averaged over the evaluation runs of the selected config.

The heads start from a random initialisation per seed, so a raw final map mostly shows that
draw. Run files keep only the final maps; the initial ones are rebuilt exactly as training
builds them (the learner of the run's configuration on the same seeds, before any episode),
which costs well under a second per configuration. phi3 weighs r_aux, so with an aux reward
that is identically 0 it never receives a gradient: its panel is left out.
"""

from __future__ import annotations

import numpy as np

from barfi.analysis.inputs import EnvInputs
from barfi.analysis.io import STATUS_CODES

MAPS = ("phi1_map", "phi3_map")


def completed_seeds(inp: EnvInputs, aux: str, method: str, config: str,
                    seeds: list[int] | None = None) -> list[int]:
    """The seeds (default: the evaluation seeds) on which `config` completed."""
    a, m, c = inp.aux_i[aux], inp.method_i[method], inp.config_i[config]
    return [s for s in (inp.eval_seeds if seeds is None else seeds)
            if inp.status[a, m, c, inp.seed_i[s]] == STATUS_CODES["completed"]]


def initial_maps(env: str, aux: str, method: str, overrides: str, seeds: list[int]
                 ) -> dict[str, np.ndarray]:
    """The phi maps (seeds, grid_y, grid_x) of the configuration before training."""
    from barfi.config import resolve_config
    from barfi.envs import ENVS
    from barfi.learners import make_learner
    from barfi.rng import BlockStreams

    sets = dict(kv.split("=", 1) for kv in overrides.split(";") if kv)
    config = resolve_config(env, aux, method, sets)
    learner = make_learner(config, ENVS[env], BlockStreams(seeds), "cpu")
    return {k: v for k, (_, v) in learner.final_records().items()}


def aux_is_zero(inp: EnvInputs, aux: str, method: str) -> bool:
    values, _, _ = inp.runs(aux, method, "aux_return")
    return bool(values.size) and bool(np.nanmax(np.abs(values)) == 0.0)


def learned_changes(inp: EnvInputs, aux: str, method: str, names: list[str], config: str,
                    seeds: list[int]) -> dict[str, np.ndarray]:
    """(final - initial) per completed run of `config` on `seeds` (its completed seeds), for
    each map of `names` with one row per seed and a finite value; the initial maps are built
    once for all of them."""
    overrides = str(inp.agg.overrides.values[inp.method_i[method], inp.config_i[config]]) \
        if "overrides" in inp.agg else ""
    init = initial_maps(inp.env, aux, method, overrides, seeds)
    out = {}
    for name in names:
        final, _, _ = inp.runs(aux, method, name, config, seeds)
        if final.shape[0] == len(seeds) and np.isfinite(final).any():
            out[name] = final - init[name]
    return out


def change_maps(inp: EnvInputs, aux: str, method: str) -> dict[str, np.ndarray]:
    """Mean over completed evaluation runs of (final - initial) per map; phi3 left out when the
    aux reward is identically 0."""
    config = inp.best(aux, method)
    seeds = completed_seeds(inp, aux, method, config) if config else []
    if not seeds:
        return {}
    names = [v for v in MAPS if v in inp.agg and not (v == "phi3_map" and
                                                     aux_is_zero(inp, aux, method))]
    return {name: np.nanmean(change, axis=0)
            for name, change in learned_changes(inp, aux, method, names, config, seeds).items()}


def build(builder, inp: EnvInputs) -> None:
    from barfi.analysis import figures
    from barfi.envs import ENVS

    spec = ENVS.get(inp.env)
    if not any(v in inp.agg for v in MAPS):
        if spec is not None and spec.phi_map_points:
            builder.index.skip(f"phi maps ({inp.env})", "no BARFI runs with phi maps")
        return
    gx, gy = inp.agg.grid_x.values, inp.agg.grid_y.values
    for aux in inp.auxes:
        rows = {}
        for method in builder.barfi_methods(inp):
            maps = change_maps(inp, aux, method)
            if maps:
                rows[method] = maps
        if not rows:
            builder.index.skip(f"phi maps {inp.env}/{aux}",
                               "no BARFI runs with phi maps for this aux reward")
            continue
        hidden = "phi3_map" not in next(iter(rows.values()))
        note = "; phi3 not shown: r_aux = 0, so phi3 never changes" if hidden else ""
        files = figures.phi_maps(
            rows, gx, gy, f"{inp.label}, aux reward: {aux}: change of phi from its initialisation "
                          "to the end of training (mean over the evaluation runs of the "
                          f"selected config){note}", builder.out, f"phi-maps_{inp.env}_{aux}",
            landmarks=spec.phi_map_landmarks if spec is not None else None)
        builder.index.add("phi-maps", files, env=inp.env, aux=aux,
                          and_phi3="" if hidden else " and phi3(s)", grid=f"{len(gy)}x{len(gx)}",
                          note=note)
