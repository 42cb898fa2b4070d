"""The report's tables, rendered from the computed results (`results.Results`): final
performance (summary), probability of improvement, selected configurations, diverged-run
counts and list (Markdown, CSV and LaTeX through `tables`), the evaluated claims (claims.md,
claims.csv) and summary.json. Captions come from the caption table (`captions`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from barfi.analysis.captions import table_title
from barfi.analysis.io import atomic_output, write_text
from barfi.analysis.readme import Index
from barfi.analysis.results import MIN_RUNS, Results
from barfi.analysis.tables import fmt_ci, fmt_num, write_table

SELECTION_COLS = ["env", "aux", "method", "config", "overrides", "tuning_score", "tuning_runs",
                  "tuning_diverged", "eval_score", "eval_runs", "eval_diverged",
                  "selected_with_divergence", "rule", "tuning_seeds", "eval_seeds"]
DIVERGED_COLS = ["env", "aux", "method", "runs", "diverged", "diverged_pct", "selected_config",
                 "diverged_in_selected_eval"]
DIVERGED_RUN_COLS = ["env", "aux", "method", "config", "seed", "diverged_at_episode", "file"]


def write_tables(res: Results, out: Path, index: Index) -> None:
    write_summary_table(res, out, index)
    write_poi_table(res, out, index)
    write_selection_table(res, out, index)
    write_divergence_tables(res, out, index)


def write_summary_table(res: Results, out: Path, index: Index) -> None:
    data = res.summary_frame()
    few = data.runs < MIN_RUNS
    disp = pd.DataFrame({
        "env": res.labelled(data).env, "aux": data.aux, "method": data.method,
        "config": data.config,
        "runs": [f"{n} (< {MIN_RUNS})" if f else str(n) for n, f in zip(data.runs, few)],
        "diverged (excl.)": data.diverged_excluded,
        "IQM [95% CI]": [fmt_ci(r.iqm, r.iqm_low, r.iqm_high) for r in data.itertuples()],
        "mean [95% CI]": [fmt_ci(r.mean, r.mean_low, r.mean_high) for r in data.itertuples()]})
    title = table_title("summary", last="/".join(map(str, res.lasts)), min_runs=MIN_RUNS)
    index.add("summary", write_table(out, "summary", data, disp, title))


def write_poi_table(res: Results, out: Path, index: Index) -> None:
    data = res.poi_frame()
    if data.empty:
        index.skip("probability of improvement table",
                   "needs a BARFI method and a baseline with evaluation runs")
        return
    disp = res.labelled(data)[["env", "aux", "method", "baseline"]].assign(**{
        "P(method > baseline) [95% CI]": [fmt_ci(r.p, r.low, r.high)
                                          for r in data.itertuples()]})
    stem = "probability_of_improvement"
    index.add(stem, write_table(out, stem, data, disp, table_title(stem)))


def write_selection_table(res: Results, out: Path, index: Index) -> None:
    data = pd.DataFrame(res.selection, columns=SELECTION_COLS)
    disp = res.labelled(data).drop(columns=["rule", "tuning_seeds", "eval_seeds"])
    disp["tuning_score"] = [fmt_num(v) for v in data.tuning_score]
    disp["eval_score"] = [fmt_num(v) for v in data.eval_score]
    stem = "selected_configs"
    index.add(stem, write_table(out, stem, data, disp, table_title(stem)))


def write_divergence_tables(res: Results, out: Path, index: Index) -> None:
    data = pd.DataFrame(res.diverged, columns=DIVERGED_COLS)
    disp = res.labelled(data)
    disp["diverged_pct"] = [f"{v:.1f}%" for v in data.diverged_pct]
    stem = "diverged_counts"
    index.add(stem, write_table(out, stem, data, disp, table_title(stem)))
    with atomic_output(out / "diverged_runs.csv") as tmp:
        pd.DataFrame(res.diverged_runs, columns=DIVERGED_RUN_COLS).to_csv(tmp, index=False)
    index.add("diverged_runs", ["diverged_runs.csv"], n=len(res.diverged_runs))


def write_claims(claims: Sequence, inputs: Sequence, res: Results, reps: int, seed: int,
                 out: Path, index: Index) -> list[dict]:
    """Evaluate `claims` on the final performance and write claims.md and claims.csv; returns
    the evaluated rows (the README's verdicts)."""
    from barfi.analysis import claims as C

    if not claims:
        index.skip("claims", "no claims given (the config's `claims:` list is empty)")
        return []
    rows = C.evaluate(claims, res.scores, reps, seed)
    seeds = "; ".join(f"{i.label}: seeds {i.sel.attrs['eval_seeds']}" for i in inputs)
    write_text(out / "claims.md", C.markdown(claims, rows, seeds))
    with atomic_output(out / "claims.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.10g")
    index.add("claims", ["claims.md", "claims.csv"])
    return rows


def _json_ready(x):
    """Plain JSON values: numpy numbers as Python ones, floats to 4 decimals, non-finite as
    null."""
    if isinstance(x, dict):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return round(float(x), 4) if math.isfinite(float(x)) else None
    return x


def write_summary(summary: dict[str, Any], out: Path, index: Index) -> None:
    """summary.json (the headline metrics of `results.headline`)."""
    write_text(out / "summary.json",
               json.dumps(_json_ready(summary), indent=1, sort_keys=True) + "\n")
    index.add("summary.json", ["summary.json"])
