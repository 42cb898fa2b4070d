"""The captions of the report's files, in one table read by both of the report's indexes:
the README.md that `python -m barfi.analysis report` writes (its section headings and the line
next to each file) and Snakemake's HTML report (`snakemake --report`: the category, subcategory,
labels and caption of each file of reports/, see workflow/rules/report.smk).

A file's entry is found by its name without extension: the whole name (`summary`,
`overview_all_iqm`), else `<kind>_<variant>` (the first and last `_`-separated parts:
`curves_bootstrap` for `curves_gridworld_none_bootstrap`), else `<kind>` (the first part:
`gamma-phi` for `gamma-phi_gridworld`); the most specific key present wins. The second part of
a figure's name is its env (the HTML report's subcategory).

`index` is the README line, a `str.format` template filled by the code that writes the file
(`env`, `aux`, ... as named in it); `title` is the caption inside a table's Markdown and LaTeX
files; `html` is the caption of the HTML report, which knows only the file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Caption:
    section: str
    """README heading and HTML report category of the file."""
    index: str
    """README line next to the file (a `str.format` template)."""
    html: str = ""
    """Caption in Snakemake's HTML report (reStructuredText); empty: not in the HTML report."""
    title: str = ""
    """Caption inside a table's .md and .tex files (a `str.format` template)."""


_CURVES_INDEX = ("{env} / {aux}: primary return per episode of every method's selected config; "
                 "{text}")
_CURVES_HTML = ("Learning curves: undiscounted primary return per episode of every method (its "
                "selected configuration), mean over seeds of the EMA-smoothed runs, ")

CAPTIONS: dict[str, Caption] = {
    # ------------------------------------------------------------------ figures
    "curves_bootstrap": Caption(
        "Learning curves", _CURVES_INDEX, _CURVES_HTML + "with a 95% bootstrap band."),
    "curves_se-ema": Caption(
        "Learning curves", _CURVES_INDEX,
        _CURVES_HTML + "+- 1 standard error as in the paper."),
    "aux-return": Caption(
        "Aux return and episode length",
        "{env}: return under r_aux and episode length over training, one row per aux reward "
        "(r_aux = 0: aux panel empty); high aux return with low primary return is reward "
        "hacking of r_aux (bonus farming)",
        "Return under the aux reward and episode length per episode of every method's selected "
        "configuration, one row per aux reward (mean +- 1 s.e. over seeds of EMA-smoothed "
        "runs). A high aux return with a low primary return is the aux reward being farmed."),
    "gamma-phi": Caption(
        "BARFI internals",
        "{env}: learned discount gamma_phi over training, one panel per aux reward{extra}",
        "The discount gamma_phi learned by the BARFI methods over training (mean over seeds). "
        "Methods whose gamma_phi is not learned (the unrolled ablation; HalfCheetah, where "
        "gamma_lr is 0) are left out and named in the title."),
    "rphi-vs-primary": Caption(
        "BARFI internals",
        "{env} / {aux}: primary return and return under the learned reward r_phi on twin axes",
        "BARFI's primary return against its return under the learned behaviour alignment "
        "reward r_phi, on twin axes."),
    "sensitivity": Caption(
        "Sensitivity",
        "{env}: final performance of every configuration of {method} on the {seeds} against "
        "{keys}, one colour per aux reward",
        "Sensitivity of the final performance to lambda_gamma and the learning rate of "
        "gamma_phi: one dot per configuration (mean +- 1 s.e. over its tuning seeds, which "
        "every configuration runs on), one colour per aux reward, a line through the best "
        "configuration at each value; log-spaced axis labelled with the values."),
    "phi-maps": Caption(
        "GridWorld phi maps",
        "{env} / {aux}: learned change of phi1(s){and_phi3} from initialisation on the {grid} "
        "grid; goal (solid) and centre-bonus square (dashed) outlined{note}",
        "GridWorld: the change of the state-dependent reward weights phi1(s) and phi3(s) from "
        "their initialisation to the end of training, on a 33 x 33 grid (mean over the "
        "evaluation runs). phi3 weighs r_aux and is not shown when r_aux is 0 (it never "
        "changes then)."),
    "stuck-seeds": Caption(
        "BARFI seeds that do not solve the task",
        "{env} / {aux}: BARFI evaluation runs that solve the task (final performance >= "
        "{level}) against those that do not: primary and aux return, episode length, mean "
        "phi3(s) and gamma_phi over training, and the learned change of phi3 per group",
        "What BARFI's stuck seeds do: the evaluation runs of each BARFI method's selected "
        "configuration split into those that solve the task and those that do not, compared "
        "over training (primary return, return under r_aux, episode length, mean phi3(s) over "
        "the episode's states, gamma_phi; mean +- 1 s.e.) and, in GridWorld, in the learned "
        "change of phi3 over the map. A high aux return with long episodes is a bonus being "
        "farmed."),
    "diverged": Caption(
        "Diverged runs", "{env}: number of diverged runs per method and aux reward",
        "Runs that diverged (NaN or infinite losses or parameters), per method."),
    "overview_all_iqm": Caption(
        "Overview",
        "final-performance IQM with 95% CIs of every method, one panel per env x aux reward",
        "Final performance of every env x aux reward x method: IQM with its 95% "
        "stratified-bootstrap CI over the evaluation runs (hollow: fewer than 5 runs)."),
    "overview_all_poi": Caption(
        "Overview",
        "probability of improvement of each BARFI method over each baseline, a matrix per "
        "env x aux reward",
        "Probability that a run of each BARFI method (rows) ends better than a run of each "
        "baseline (columns), with its 95% CI, one matrix per env x aux reward."),
    # ------------------------------------------------------------------ tables
    "summary": Caption(
        "Tables",
        "final performance per env x aux x method: IQM and mean with 95% stratified-bootstrap "
        "CIs (rliable)",
        "Final performance of the selected configuration of every env x aux reward x method: "
        "the mean primary return over the last episodes of each evaluation run, as IQM and "
        "mean across runs with 95% stratified-bootstrap confidence intervals (rliable), and "
        "the number of runs (diverged runs excluded and counted). Also as Markdown and LaTeX "
        "next to this CSV in ``reports/``.",
        "Final performance (mean primary return over the last {last} episodes, or all of a "
        "shorter run, of each evaluation run of the selected config): IQM and mean with 95% "
        "stratified-bootstrap CIs (rliable); '(all)' pools the aux rewards of an env as tasks; "
        "'(< {min_runs})': too few runs for reliable intervals"),
    "probability_of_improvement": Caption(
        "Tables",
        "probability of improvement of each BARFI method over each baseline (rliable), per "
        "env x aux",
        "Probability that BARFI improves on each baseline (rliable's P(X > Y) over the final "
        "performance of the evaluation runs) with 95% bootstrap confidence intervals, per "
        "env x aux reward.",
        "Probability that a run of the BARFI method ends better than a run of the baseline "
        "(final performance; 95% stratified bootstrap CIs, rliable)"),
    "selected_configs": Caption(
        "Tables",
        "the selected configuration of every env x aux x method, its overrides, tuning and "
        "evaluation scores and seeds",
        "The configuration selected for every env x aux reward x method, its tuning score and "
        "its score on the evaluation seeds, with the hyperparameters it overrides.",
        "Selected configuration per env x aux x method: tuning score (mean of the last "
        "episodes of the seed-mean primary return on the tuning seeds) and the same on the "
        "evaluation seeds"),
    "diverged_counts": Caption(
        "Tables",
        "diverged-run counts per method (all runs, and the selected config's evaluation runs)",
        "Runs whose losses or parameters became NaN or infinite, counted per method (all "
        "configurations and seeds, and among the evaluation runs of the selected "
        "configuration).",
        "Diverged runs per env x aux x method (all configurations and seeds), and among the "
        "evaluation runs of the selected config (excluded from curves and statistics)"),
    "stuck_seeds": Caption(
        "Tables",
        "BARFI's solved and stuck evaluation runs per env x aux x method: their seeds and "
        "means over the last episodes",
        "BARFI's evaluation runs split into those that solve the task and those that do not, "
        "with each group's seeds and its means over the last episodes of primary return, aux "
        "return, episode length, mean phi3(s) and gamma_phi.",
        "BARFI's solved and stuck evaluation runs per env x aux x method: means over the last "
        "{last} episodes of each run, then over the group's runs"),
    "diverged_runs": Caption(
        "Tables",
        "every diverged run ({n}): its labels, the first episode with a non-finite return, and "
        "its run file",
        "Every run whose losses or parameters became NaN or infinite: its labels, the first "
        "episode with a non-finite return, and its run file."),
    "claims": Caption(
        "Tables",
        "the config's claims, evaluated per env x aux reward (statistic, 95% CI, verdict)",
        "The claims of the config (``claims:``), evaluated per env x aux reward: the statistic "
        "(IQM difference or probability of improvement) on the evaluation runs with its 95% "
        "stratified-bootstrap CI, the threshold and the verdict (holds, partly, does not hold, "
        "insufficient data). Readable version: ``reports/claims.md``."),
    # ------------------------------------------------------------------ data
    "summary.json": Caption(
        "Data",
        "headline metrics for `dvc metrics`: final IQM with 95% CI bounds per env x aux x "
        "method, run and divergence totals (the long tables are the CSV files)"),
    "MANIFEST": Caption(
        "Data", "the files this report wrote (used to remove stale files on the next run)"),
    "README": Caption("Data", "this page"),
}


def keys_of(name: str) -> list[str]:
    """The keys that may hold the entry of the file `name` (no extension), most specific
    first."""
    parts = name.split("_")
    return [name, f"{parts[0]}_{parts[-1]}", parts[0]]


def caption_of(name: str) -> Caption | None:
    """The entry of the file `name` (no extension), or None."""
    return next((CAPTIONS[k] for k in keys_of(name) if k in CAPTIONS), None)


def index_line(key: str, **fields: Any) -> tuple[str, str]:
    """(README section, README line) of the entry `key`, its template filled with `fields`."""
    entry = CAPTIONS[key]
    return entry.section, entry.index.format(**fields)


def table_title(key: str, **fields: Any) -> str:
    """The caption inside the .md and .tex files of the table `key`."""
    return CAPTIONS[key].title.format(**fields)


# ---------------------------------------------------------------------- Snakemake's report
# Functions of the wildcards of the report rule's patterns ({figure}.png, {table}.csv).
def _name(wildcards) -> str:
    return wildcards.table if "table" in wildcards.keys() else wildcards.figure


def report_category(wildcards) -> str:
    entry = caption_of(_name(wildcards))
    return entry.section if entry else ("Tables" if "table" in wildcards.keys()
                                        else "Other figures")


def report_subcategory(wildcards) -> str | None:
    """The env of a figure (the second part of its name); tables have none."""
    if "table" in wildcards.keys():
        return None
    return (wildcards.figure.split("_") + [""])[1]


def report_labels(wildcards) -> dict[str, str]:
    if "table" in wildcards.keys():
        return {"table": wildcards.table}
    kind, _, rest = wildcards.figure.partition("_")
    env, _, detail = rest.partition("_")
    return {"env": env, "figure": detail or kind}


def html_captions() -> dict[str, str]:
    """key -> HTML caption: the report rule's param `captions`, which
    workflow/report/report.rst looks up by the keys of `keys_of`."""
    return {k: c.html for k, c in CAPTIONS.items() if c.html}
