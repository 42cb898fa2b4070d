"""The report: every table and figure of the study, from aggregated and selection datasets,
into one directory with a README (what the study is, what its results mean, an index of every
file), summary.json (headline metrics) and claims.md (the config's claims, evaluated).

What is shown uses the *selected* configuration of each env x aux x method on its *evaluation*
seeds (see `selection.py`), except the sensitivity figures, which show every configuration on
the tuning seeds; runs that diverged are excluded from curves and statistics and counted next
to them, and listed in their own tables. Any figure whose inputs are absent (no BARFI runs, no
phi maps, a hyperparameter that the grid does not vary, a discount that is not learned) is
skipped and the index says why. Inputs are all checked before the first file is written;
every file is written atomically; files that an earlier report wrote and this one did not are
removed at the end (`MANIFEST.txt` lists what the report wrote).

As in rliable, computing is apart from rendering: `results` computes the final-performance
table (scores, interval estimates, probability of improvement, selection and divergence rows)
once; `report_tables` renders it into tables and summary.json; the figure builders (`curves`,
`overview`, `sensitivity`, `phimaps`, `stuck`) draw with `figures` (matplotlib) and `figures_sns`
(seaborn); `readme` writes the index, with the captions of `captions`. This module is the driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from barfi.analysis.inputs import EnvInputs, is_barfi, load_inputs
from barfi.analysis.io import AnalysisError, check_writable_dir
from barfi.analysis.readme import Index


def report(aggregated: Sequence[Path | str], selections: Sequence[Path | str],
           out_dir: Path | str, final_episodes: int | None = None, reps: int = 2000,
           band_reps: int = 1000, ema_weight: float = 0.9, seed: int = 0,
           claims: Path | str | None = None, title: str | None = None) -> dict[str, Any]:
    """Write the report into `out_dir`; returns {'files': [...], 'skipped': [...]}."""
    from barfi.analysis.claims import load_claims

    if final_episodes is not None and int(final_episodes) < 1:
        raise AnalysisError(f"--final-episodes {final_episodes} is not a positive number")
    if int(reps) < 1 or int(band_reps) < 1:
        raise AnalysisError("--reps and --band-reps must be positive")
    if not 0.0 <= float(ema_weight) < 1.0:
        raise AnalysisError(f"--ema {ema_weight} is not in [0, 1)")
    claim_list = load_claims(claims) if claims is not None else []
    inputs = load_inputs(aggregated, selections)
    out_dir = check_writable_dir(out_dir)
    try:
        index = Index()
        builder = Builder(inputs, out_dir, index, final_episodes, int(reps), int(band_reps),
                          float(ema_weight), int(seed))
        builder.claims, builder.title = claim_list, title
        builder.run()
    finally:
        for inp in inputs:
            inp.agg.close()
    return {"files": index.files(), "skipped": index.skipped, "out_dir": str(out_dir)}


class Builder:
    """The report's settings, inputs, output directory and index: what every builder of the
    other modules takes."""

    def __init__(self, inputs, out_dir, index, final_episodes, reps, band_reps, ema_weight,
                 seed):
        self.inputs, self.out, self.index = inputs, out_dir, index
        self.final_episodes, self.reps, self.band_reps = final_episodes, reps, band_reps
        self.ema_weight, self.seed = ema_weight, seed
        self.claims: list = []
        self.claim_rows: list[dict] = []
        self.title: str | None = None

    def last(self, inp: EnvInputs) -> int:
        return int(self.final_episodes or inp.sel.attrs.get("last_k", 200))

    # ------------------------------------------------------------------ driver
    def run(self) -> None:
        from barfi.analysis import (curves, overview, phimaps, readme, report_tables, results,
                                    sensitivity, stuck)

        stuck_rows: list[dict] = []
        for inp in self.inputs:
            curves.learning_curves(self, inp)
            overview.episode_records(self, inp)
            curves.gamma_phi(self, inp)
            curves.rphi_vs_primary(self, inp)
            sensitivity.build(self, inp)
            phimaps.build(self, inp)
            stuck_rows += stuck.build(self, inp)
            curves.diverged(self, inp)
        res = results.collect(self.inputs, self.last, self.reps, self.seed)
        overview.build(self, res)
        report_tables.write_tables(res, self.out, self.index)
        stuck.write_table(self, stuck_rows)
        self.claim_rows = report_tables.write_claims(self.claims, self.inputs, res, self.reps,
                                                     self.seed, self.out, self.index)
        report_tables.write_summary(results.headline(res, self.reps, self.seed), self.out,
                                    self.index)
        readme.write(self, res)

    # ------------------------------------------------------------------ helpers
    def rule_text(self, inp: EnvInputs) -> str:
        s = inp.sel.attrs
        if s["rule"] == "split":
            return f"config chosen on seeds {s['tuning_seeds']}, shown on seeds {s['eval_seeds']}"
        return f"config chosen and shown on seeds {s['eval_seeds']} (published single-set rule)"

    def barfi_methods(self, inp: EnvInputs) -> list[str]:
        return [m for m in inp.methods if is_barfi(m)]
