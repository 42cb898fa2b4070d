"""What the BARFI seeds that never solve the task do: the evaluation runs of each BARFI
method's selected configuration split into *solved* (final performance at least the env's
solve level) and *stuck*, and the two groups compared over training (primary return, return
under r_aux, episode length, mean phi3(s) over the episode's states, gamma_phi) and in the
learned change of phi3 over the GridWorld map. A stuck seed that farms a bonus shows a high
aux return with long episodes, phi3 kept up where the bonus pays and, often, a gamma_phi
too low for the goal's reward to reach the start.

One figure per env x aux reward where some BARFI seed is stuck, and one table
(`stuck_seeds`) with the groups' means over the last episodes. Run files keep no state-visit
counts; the aux return and the episode length are what the records say about where the
agent spends its time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from barfi.analysis.inputs import EnvInputs
from barfi.analysis.overview import binned_frame

# Final performance (mean primary return of the last episodes) at which a seed counts as having
# solved the task; None: the env has no such level. GridWorld: the goal pays +100 and a step
# -0.1, so 90 needs the goal in ~94% of the episodes; MountainCar: r_p is 1 at the goal, so 0.9
# = the goal in 90% of them; CartPole: 450 of the 500 steps balanced.
SOLVE_LEVELS: dict[str, float | None] = {
    "gridworld": 90.0, "mountaincar": 0.9, "cartpole": 450.0, "halfcheetah": None,
}

VARIABLES = {"primary_return": "Primary return", "aux_return": "Return under $r_{aux}$",
             "episode_length": "Episode length", "phi3_mean": r"Mean $\phi_3(s)$",
             "gamma_phi": r"$\gamma_\phi$"}
TABLE_COLS = ["env", "aux", "method", "config", "group", "runs", "seeds", "primary_return",
              "aux_return", "episode_length", "phi3_mean", "gamma_phi"]


def split(inp: EnvInputs, aux: str, method: str, last: int, config: str | None = None,
          seeds: list[int] | None = None) -> tuple[list[int], np.ndarray] | None:
    """(completed seeds, stuck mask) of `config` on `seeds` (default: the selected
    configuration on the evaluation seeds), or None where the env has no solve level or the
    configuration no completed runs."""
    from barfi.analysis import stats
    from barfi.analysis.phimaps import completed_seeds

    level = SOLVE_LEVELS.get(inp.env)
    if level is None:
        return None
    values, _, config = inp.runs(aux, method, "primary_return", config, seeds)
    if not config or not values.shape[0]:
        return None
    done = completed_seeds(inp, aux, method, config, seeds)
    return done, stats.final_performance(values, last) < level


def group_rows(inp: EnvInputs, aux: str, method: str, last: int, stuck: np.ndarray,
               seeds: list[int], config: str | None = None
               ) -> tuple[pd.DataFrame, list[dict]]:
    """The curves (long form: group, run, episode, variable, value) and the table rows of
    `config` (default: the selected one) on the completed `seeds`."""
    parts, rows = [], []
    config = inp.best(aux, method) if config is None else config
    for name, mask in (("solved", ~stuck), ("stuck", stuck)):
        if not mask.any():
            continue
        group = f"{name} ({int(mask.sum())} of {len(mask)})"
        # the seeds of the stuck group, to rerun them; the solved group is most of them
        row = dict(env=inp.env, aux=aux, method=method, config=config, group=name,
                   runs=int(mask.sum()),
                   seeds=",".join(str(s) for s, m in zip(seeds, mask) if m)
                   if name == "stuck" else "")
        for var in VARIABLES:
            values, _, _ = inp.runs(aux, method, var, config, seeds)
            if not values.shape[0] or not np.isfinite(values).any():
                row[var] = np.nan
                continue
            values = values[mask]
            row[var] = float(np.nanmean(values[:, -last:]))
            parts.append(binned_frame(values, method=method, group=group, variable=var))
        rows.append(row)
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()), rows


def phi3_change(inp: EnvInputs, aux: str, method: str, stuck: np.ndarray, seeds: list[int],
                config: str | None = None) -> dict[str, np.ndarray]:
    """Mean learned change of phi3 over the map per group ({} without phi3 maps)."""
    from barfi.analysis.phimaps import aux_is_zero, learned_changes

    if "phi3_map" not in inp.agg or aux_is_zero(inp, aux, method):
        return {}
    config = inp.best(aux, method) if config is None else config
    change = learned_changes(inp, aux, method, ["phi3_map"], config, seeds).get("phi3_map")
    if change is None:
        return {}
    return {name: np.nanmean(change[mask], axis=0)
            for name, mask in (("solved", ~stuck), ("stuck", stuck)) if mask.any()}


def build(builder, inp: EnvInputs) -> list[dict]:
    """The env's figures (one per aux reward with a stuck BARFI seed); returns the table rows."""
    if SOLVE_LEVELS.get(inp.env) is None:
        return []
    rows: list[dict] = []
    last = builder.last(inp)
    for aux in inp.auxes:
        frames, maps = [], {}
        for method in builder.barfi_methods(inp):
            got = split(inp, aux, method, last)
            if got is None:
                continue
            seeds, stuck = got
            frame, method_rows = group_rows(inp, aux, method, last, stuck, seeds)
            rows += method_rows
            if stuck.any():
                frames.append(frame)
                maps[method] = phi3_change(inp, aux, method, stuck, seeds)
        if not frames:
            continue
        level = SOLVE_LEVELS[inp.env]
        files = draw(inp, pd.concat(frames, ignore_index=True), maps,
                     f"{inp.label}, aux reward: {aux}: BARFI evaluation runs that solve the task "
                     f"(final performance >= {level:g}) against those that do not, mean +- 1 "
                     f"s.e. over the runs of each group; maps: the learned change of phi3 per "
                     f"group ({builder.rule_text(inp)})", builder.out,
                     f"stuck-seeds_{inp.env}_{aux}")
        builder.index.add("stuck-seeds", files, env=inp.env, aux=aux, level=f"{level:g}")
    return rows


def draw(inp: EnvInputs, frame: pd.DataFrame, maps: dict, title: str, out_dir, stem: str
         ) -> list[str]:
    """The figure of `frame` (from `group_rows`) and `maps` (method -> `phi3_change`), on the
    env's map grid and landmarks where it has them."""
    from barfi.analysis import figures_sns
    from barfi.envs import ENVS

    spec = ENVS.get(inp.env)
    return figures_sns.stuck_seeds(
        frame, VARIABLES, maps, inp.agg.grid_x.values if "grid_x" in inp.agg else None,
        inp.agg.grid_y.values if "grid_y" in inp.agg else None, title, out_dir, stem,
        landmarks=spec.phi_map_landmarks if spec is not None else None)


def write_table(builder, rows: list[dict]) -> None:
    from barfi.analysis.captions import table_title
    from barfi.analysis.tables import write_table as write

    if not rows:
        builder.index.skip("stuck seeds table", "no BARFI evaluation runs in an env with a "
                                                "solve level")
        return
    data = pd.DataFrame(rows, columns=TABLE_COLS)
    labels = {i.env: i.label for i in builder.inputs}
    disp = data.assign(env=data.env.map(lambda e: labels.get(e, e)))
    last = "/".join(str(builder.last(i)) for i in builder.inputs)
    builder.index.add("stuck_seeds", write(builder.out, "stuck_seeds", data, disp,
                                           table_title("stuck_seeds", last=last)))
