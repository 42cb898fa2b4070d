"""Tests of the claims machinery (barfi.analysis.claims): parsing with one-line errors,
verdicts on designed scores, and claims.md / README from a real report (< 30 s)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from barfi.analysis import claims as C
from barfi.analysis.__main__ import main
from barfi.analysis.aggregate import aggregate
from barfi.analysis.io import AnalysisError
from barfi.analysis.selection import select
from synthetic import SweepWriter

ENV = "gridworld"


def spec(**kw):
    base = dict(id="c", text="t", statistic="iqm_difference", method="barfi",
                baseline="reinforce", cells={ENV: ["center-bonus"]})
    return {**base, **kw}


def scores(**levels):
    """Designed final performances: 8 runs per method around its level (spread 1)."""
    spread = np.linspace(-1, 1, 8)
    return {(ENV, "center-bonus", m): lv + spread for m, lv in levels.items()}


@pytest.mark.parametrize("levels, direction, threshold, verdict", [
    (dict(barfi=10, reinforce=0), "greater", 0, "holds"),        # CI far above 0
    (dict(barfi=10, reinforce=0), "less", 0, "does not hold"),   # the other way round
    (dict(barfi=0.2, reinforce=0), "greater", 0, "partly"),      # estimate above, CI not
    (dict(barfi=0, reinforce=10), "greater", -20, "holds"),      # within a tolerance of 20
    (dict(barfi=0, reinforce=10), "greater", -5, "does not hold"),
])
def test_iqm_difference_verdicts(levels, direction, threshold, verdict):
    claim = C.parse_claims([spec(direction=direction, threshold=threshold)])[0]
    (row,) = C.evaluate([claim], scores(**levels), reps=500)
    assert row["verdict"] == verdict, row
    assert row["value"] == pytest.approx(levels["barfi"] - levels["reinforce"])
    assert row["low"] <= row["value"] <= row["high"]


def test_probability_of_improvement_and_best_baseline():
    claim = C.parse_claims([spec(statistic="probability_of_improvement", baseline="best",
                                 threshold=0.4)])[0]
    (row,) = C.evaluate([claim], scores(barfi=5, reinforce=0, **{"actor-critic": 20}), reps=500)
    assert row["baseline"] == "actor-critic"                     # the best other method
    assert row["value"] == 0.0 and row["verdict"] == "does not hold"
    (row,) = C.evaluate([claim], scores(barfi=5, reinforce=0), reps=500)
    assert row["baseline"] == "reinforce" and row["value"] == 1.0 and row["verdict"] == "holds"
    listed = C.parse_claims([spec(baseline=["reinforce", "primary-only"])])[0]
    (row,) = C.evaluate([listed], scores(barfi=5, reinforce=0, **{"actor-critic": 20}), reps=200)
    assert row["baseline"] == "reinforce"                        # best among those listed


def test_insufficient_data_and_overall_verdicts():
    claim = C.parse_claims([spec(cells={ENV: ["center-bonus", "distance"]}, min_runs=10)])[0]
    rows = C.evaluate([claim], scores(barfi=10, reinforce=0), reps=200)
    assert [r["verdict"] for r in rows] == ["insufficient data"] * 2
    assert "estimate: holds" in rows[0]["why"] and rows[1]["why"] == "not run in this study"
    assert C.overall(["holds", "holds", "insufficient data"]) == "holds"
    assert C.overall(["holds", "does not hold"]) == "partly"
    assert C.overall(["partly", "partly"]) == "partly"
    assert C.overall(["does not hold"]) == "does not hold"
    assert C.overall(["insufficient data"]) == "insufficient data"


@pytest.mark.parametrize("bad, needle", [
    (dict(method="barfy"), "(c).method: unknown method 'barfy'"),
    (dict(statistic="median"), "(c).statistic: 'median'; valid: iqm_difference"),
    (dict(cells={ENV: ["centre"]}), "cells.gridworld: unknown aux reward 'centre'"),
    (dict(cells={"grid": ["none"]}), "unknown env 'grid'"),
    (dict(baseline="barfi"), "is also the claim's method"),
    (dict(threshold="high"), "'high' is not a number"),
    (dict(direction="up"), "(c).direction: 'up'"),
    (dict(colour="red"), "unknown key 'colour'"),
])
def test_bad_claims_are_refused_in_one_line(bad, needle):
    with pytest.raises(AnalysisError) as exc:
        C.parse_claims([spec(**bad)])
    assert needle in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(AnalysisError, match="used twice"):
        C.parse_claims([spec(), spec()])


def test_report_evaluates_claims_and_says_what_the_study_is(tmp_path):
    """A small real report: claims.md with the designed verdicts, README with the study's
    budget, the few-runs warning and the claims; gamma_phi of the unrolled ablation (constant)
    left out and named."""
    w = SweepWriter(tmp_path / "runs")
    paths = [w.write(ENV, aux, method, "c1", seed, episodes=40, noise_sd=0.5,
                     level={"barfi": 70, "barfi-unrolled": 65, "reinforce": 40}[method]
                     + seed, overrides={"lambda_gamma": 0.25} if method == "barfi" else {})
             for aux in ("none", "center-bonus") for method in ("reinforce", "barfi",
                                                                 "barfi-unrolled")
             for seed in range(6)]
    agg, sel, out = tmp_path / "agg.nc", tmp_path / "sel.nc", tmp_path / "report"
    aggregate(paths, agg)
    select(agg, sel, rule="single", last=10)
    claims = tmp_path / "claims.yaml"
    claims.write_text(yaml.safe_dump({"claims": [
        spec(id="barfi-wins", cells={ENV: ["none", "center-bonus"]}),
        spec(id="reinforce-wins", method="reinforce", baseline="best", min_runs=7)]}))
    assert main(["report", "--aggregated", str(agg), "--selection", str(sel), "--out-dir",
                 str(out), "--claims", str(claims), "--title", "Test study", "--reps", "200",
                 "--band-reps", "50", "--quiet"]) == 0
    md = (out / "claims.md").read_text()
    assert "## barfi-wins: holds" in md and "## reinforce-wins: insufficient data" in md
    assert "| gridworld | none | reinforce | 6 vs 6 | 0 | 30 [" in md
    assert "gridworld (40 of 2000 episodes): seeds" in md      # a short budget is named
    readme = (out / "README.md").read_text()
    assert readme.startswith("# Test study")
    assert "40 episodes per run (published: 2000)" in readme
    assert "A quick grid, not the paper's results" in readme
    assert "- **barfi-wins**: holds (2 holds)" in readme
    assert "barfi-unrolled: constant 0.990" in readme
    csv = (out / "claims.csv").read_text().splitlines()
    assert len(csv) == 1 + 3 and csv[0].startswith("claim,env,aux,method,baseline")
