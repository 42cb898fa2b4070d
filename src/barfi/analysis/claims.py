"""Claims as data: each claim of a study names a statistic, a comparison and a threshold; the
report evaluates it on the final performance of the evaluation runs (`results.Results.scores`)
per env x aux reward and writes claims.md / claims.csv.

A claim (a mapping of the config's `claims:` list, documented in
workflow/schemas/config.schema.yaml and docs/claims.md):

    id: naive-fails                     # short name, unique
    text: what the claim says, in words
    statistic: iqm_difference           # IQM(method) - IQM(baseline), or
                                        # probability_of_improvement: P(method > baseline)
    method: primary-only
    baseline: reinforce                 # a method; a list of methods (the best of them by IQM
                                        # in each cell); or `best` (the best other method)
    direction: greater                  # the statistic is claimed above (`less`: below) ...
    threshold: 0                        # ... this number, or {env: number}
    cells: {gridworld: [center-bonus]}  # env -> aux rewards the claim is about
    min_runs: 5                         # fewer evaluation runs: insufficient data

Verdict per cell, with the statistic's point estimate and 95% stratified-bootstrap CI:
  holds           the whole CI is beyond the threshold (in the claimed direction);
  partly          the point estimate is beyond the threshold, the CI is not;
  does not hold   the point estimate is not beyond the threshold;
  insufficient data  the cell was not run, or a side has fewer than min_runs runs.
Verdict of the claim over its cells with data: holds if every cell holds, does not hold if
none holds or partly holds, partly otherwise; insufficient data if no cell has data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from barfi.analysis import stats
from barfi.analysis.io import AnalysisError

STATISTICS = {"iqm_difference": "IQM({m}) - IQM({b})",
              "probability_of_improvement": "P({m} > {b})"}
DIRECTIONS = ("greater", "less")
VERDICTS = ("holds", "partly", "does not hold", "insufficient data")
KEYS = {"id", "text", "statistic", "method", "baseline", "direction", "threshold", "cells",
        "min_runs"}
DEFAULT_MIN_RUNS = 5


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    statistic: str
    method: str
    baseline: tuple[str, ...]       # candidates; () = every other method ("best")
    direction: str
    threshold: Mapping[str, float]  # per env ("*": every env)
    cells: Mapping[str, tuple[str, ...]]
    min_runs: int = DEFAULT_MIN_RUNS

    def threshold_for(self, env: str) -> float:
        return float(self.threshold.get(env, self.threshold.get("*", 0.0)))

    def baseline_text(self) -> str:
        if not self.baseline:
            return "best other method"
        if len(self.baseline) == 1:
            return self.baseline[0]
        return "best of " + ", ".join(self.baseline)


def _fail(where: str, msg: str):
    raise AnalysisError(f"claims{where}: {msg}")


def _method(value, where: str) -> str:
    from barfi.config import METHODS

    if value not in METHODS:
        _fail(where, f"unknown method {value!r}; valid: {', '.join(METHODS)}")
    return str(value)


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(where, f"{value!r} is not a number")
    return float(value)


def parse_claim(spec: Any, i: int) -> Claim:
    from barfi.aux_rewards import AUX_REWARDS

    at = f"[{i}]"
    if not isinstance(spec, Mapping):
        _fail(at, f"a claim is a mapping with keys {', '.join(sorted(KEYS))}")
    unknown = sorted(set(spec) - KEYS)
    if unknown:
        _fail(at, f"unknown key {unknown[0]!r}; valid: {', '.join(sorted(KEYS))}")
    for key in ("id", "statistic", "method", "baseline", "cells"):
        if key not in spec:
            _fail(at, f"missing key {key!r}")
    cid = str(spec["id"])
    at = f"[{i}] ({cid})"
    if spec["statistic"] not in STATISTICS:
        _fail(at + ".statistic", f"{spec['statistic']!r}; valid: {', '.join(STATISTICS)}")
    direction = spec.get("direction", "greater")
    if direction not in DIRECTIONS:
        _fail(at + ".direction", f"{direction!r}; valid: {', '.join(DIRECTIONS)}")
    method = _method(spec["method"], at + ".method")
    base = spec["baseline"]
    base = () if base == "best" else (base,) if isinstance(base, str) else base
    if not isinstance(base, (list, tuple)):
        _fail(at + ".baseline", "a method, a list of methods or 'best'")
    base = tuple(_method(b, at + ".baseline") for b in base)
    if method in base:
        _fail(at + ".baseline", f"{method!r} is also the claim's method")
    thr = spec.get("threshold", 0.5 if spec["statistic"] == "probability_of_improvement" else 0)
    thr = {str(k): _number(v, f"{at}.threshold.{k}") for k, v in thr.items()} \
        if isinstance(thr, Mapping) else {"*": _number(thr, at + ".threshold")}
    cells = spec["cells"]
    if not isinstance(cells, Mapping) or not cells:
        _fail(at + ".cells", "a mapping env -> list of aux rewards")
    parsed = {}
    for env, auxes in cells.items():
        if env not in AUX_REWARDS:
            _fail(f"{at}.cells", f"unknown env {env!r}; valid: {', '.join(AUX_REWARDS)}")
        auxes = [auxes] if isinstance(auxes, str) else list(auxes or [])
        for aux in auxes:
            if aux not in AUX_REWARDS[env]:
                _fail(f"{at}.cells.{env}", f"unknown aux reward {aux!r}; valid: "
                                           f"{', '.join(AUX_REWARDS[env])}")
        parsed[str(env)] = tuple(auxes)
    min_runs = spec.get("min_runs", DEFAULT_MIN_RUNS)
    if isinstance(min_runs, bool) or not isinstance(min_runs, int) or min_runs < 1:
        _fail(at + ".min_runs", f"{min_runs!r} is not a positive integer")
    return Claim(cid, " ".join(str(spec.get("text", "")).split()), spec["statistic"], method,
                 base, direction, thr, parsed, min_runs)


def parse_claims(specs: Any) -> list[Claim]:
    """Check a `claims:` list (one-line AnalysisError naming the claim and key)."""
    if specs is None:
        return []
    if not isinstance(specs, (list, tuple)):
        _fail("", "a list of claims")
    claims = [parse_claim(s, i) for i, s in enumerate(specs)]
    ids = [c.id for c in claims]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        _fail("", f"claim id {dup[0]!r} is used twice")
    return claims


def load_claims(path: Path | str) -> list[Claim]:
    """Claims from a YAML or JSON file: a list, or a mapping with a `claims:` list."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AnalysisError(f"claims file {str(path)!r} cannot be read: "
                            f"{str(exc).splitlines()[0]}") from None
    if isinstance(data, Mapping):
        data = data.get("claims", [])
    return parse_claims(data)


# --------------------------------------------------------------------------- evaluation
def _iqm(s: np.ndarray) -> float:
    return stats.iqm(s) if s.size else float("nan")


def _cell(claim: Claim, env: str, aux: str, scores, reps: int, seed: int) -> dict:
    x = scores.get((env, aux, claim.method))
    others = [m for (e, a, m) in scores if (e, a) == (env, aux) and m != claim.method
              and (not claim.baseline or m in claim.baseline)]
    base = max(others, key=lambda m: _iqm(scores[(env, aux, m)]), default=None)
    y = scores.get((env, aux, base)) if base else None
    row = dict(claim=claim.id, env=env, aux=aux, method=claim.method,
               baseline=base or claim.baseline_text(), statistic=claim.statistic,
               threshold=claim.threshold_for(env), runs_method=0 if x is None else x.size,
               runs_baseline=0 if y is None else y.size, value=np.nan, low=np.nan,
               high=np.nan)
    if x is None or y is None or not x.size or not y.size:
        return dict(row, verdict="insufficient data", why="not run in this study")
    if claim.statistic == "iqm_difference":
        est = stats.iqm_difference(x, y, reps, seed)
    else:
        r = stats.probability_of_improvement(x, y, reps, seed)
        est = {"value": r["p"], "low": r["low"], "high": r["high"]}
    row.update(est)
    sign = 1.0 if claim.direction == "greater" else -1.0
    t = row["threshold"]
    beyond = sign * (est["value"] - t) > 0
    ci_beyond = min(sign * (est["low"] - t), sign * (est["high"] - t)) > 0
    verdict = "holds" if ci_beyond else "partly" if beyond else "does not hold"
    if min(x.size, y.size) < claim.min_runs:
        return dict(row, verdict="insufficient data",
                    why=f"fewer than {claim.min_runs} runs; estimate: {verdict}")
    return dict(row, verdict=verdict, why="")


def overall(verdicts: Sequence[str]) -> str:
    known = [v for v in verdicts if v != "insufficient data"]
    if not known:
        return "insufficient data"
    if all(v == "holds" for v in known):
        return "holds"
    if all(v == "does not hold" for v in known):
        return "does not hold"
    return "partly"


def evaluate(claims: Sequence[Claim], scores: Mapping[tuple[str, str, str], np.ndarray],
             reps: int = 2000, seed: int = 0) -> list[dict]:
    """One row per claim x env x aux (statistic, CI, verdict); scores[(env, aux, method)] are
    the final performances of the evaluation runs."""
    rows = []
    for claim in claims:
        for env, auxes in claim.cells.items():
            for aux in auxes:
                rows.append(_cell(claim, env, aux, scores, reps, seed))
    return rows


def _fmt(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{v:.3g}"


def markdown(claims: Sequence[Claim], rows: Sequence[dict], seeds_text: str) -> str:
    lines = ["# Claims, checked on this study", "",
             "Each claim is data in the config (`claims:`); the statistic is computed on the "
             f"final performance of the evaluation runs ({seeds_text}) with a 95% stratified-"
             "bootstrap CI. Per cell: **holds** (the whole CI is beyond the threshold), "
             "**partly** (the estimate is, the CI is not), **does not hold** (the estimate is "
             "not), **insufficient data** (not run, or too few runs: the estimate's verdict is "
             "given in brackets). See docs/claims.md.", ""]
    for claim in claims:
        mine = [r for r in rows if r["claim"] == claim.id]
        stat = STATISTICS[claim.statistic].format(m=claim.method, b=claim.baseline_text())
        op = ">" if claim.direction == "greater" else "<"
        lines += [f"## {claim.id}: {overall([r['verdict'] for r in mine])}", "",
                  claim.text, "", f"Statistic: `{stat} {op} threshold`, at least "
                  f"{claim.min_runs} runs per side.", "",
                  "| env | aux | baseline | runs | threshold | estimate [95% CI] | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for r in mine:
            verdict = r["verdict"] + (f" ({r['why']})" if r["why"] else "")
            lines.append(f"| {r['env']} | {r['aux']} | {r['baseline']} | "
                         f"{r['runs_method']} vs {r['runs_baseline']} | {r['threshold']:g} | "
                         f"{_fmt(r['value'])} [{_fmt(r['low'])}, {_fmt(r['high'])}] | "
                         f"{verdict} |")
        lines.append("")
    return "\n".join(lines)


def summary_lines(claims: Sequence[Claim], rows: Sequence[dict]) -> list[str]:
    """One line per claim for the report's README."""
    out = []
    for claim in claims:
        verdicts = [r["verdict"] for r in rows if r["claim"] == claim.id]
        counts = ", ".join(f"{verdicts.count(v)} {v}" for v in VERDICTS if v in verdicts)
        out.append(f"- **{claim.id}**: {overall(verdicts)} ({counts}). {claim.text}")
    return out
