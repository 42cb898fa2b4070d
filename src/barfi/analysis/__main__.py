"""Command line: python -m barfi.analysis {aggregate,select,report} ...

Bad input ends with one line `error: ...` naming the problem on stderr and exit status 2, and
no output file (every output is written to a temporary file and renamed when complete).
"""

from __future__ import annotations

import argparse
import sys
import time

from barfi.analysis.io import AnalysisError

DESCRIPTION = """\
Analysis of BARFI sweeps: aggregate run files, select hyperparameters, build the report.

  aggregate  run files of one env  -> one NetCDF dataset (aux x method x config x seed x episode)
  select     aggregated dataset    -> selection dataset (best config per aux x method)
  report     aggregated + selection datasets (any number of envs) -> directory of figures,
             tables (Markdown, CSV, LaTeX), summary.json and a README.md index

Example (one env):
  python -m barfi.analysis aggregate data/runs/gridworld --out data/aggregated/gridworld.nc
  python -m barfi.analysis select data/aggregated/gridworld.nc --out data/selection/gridworld.nc \\
      --tuning-seeds 1-20 --eval-seeds 21-40
  python -m barfi.analysis report --aggregated data/aggregated/gridworld.nc \\
      --selection data/selection/gridworld.nc --out-dir reports
"""


# Each command's one-line help and its description (`--help`).
COMMANDS = {
    "aggregate": (
        "merge the run files of one env into one labelled NetCDF dataset",
        "Merge run files (one per env x aux x method x config x seed) of ONE env into a NetCDF "
        "dataset with dims aux x method x config x seed x episode (+ grid_y x grid_x for phi "
        "maps), a per-config table of hyperparameters (hp_<key>, overrides: method x config), the "
        "status of every run (status: 0 missing, 1 completed, 2 diverged; diverged_at) and a run "
        "table (run_file, ...). Memory stays bounded (one run at a time). The config id of a run "
        "is its `config_id` attribute, else the directory <config_id> of the layout "
        ".../{env}/{aux}/{method}/{config_id}/seed-{seed}.nc, else a hash of its hyperparameters. "
        "A corrupt or truncated file, missing or inconsistent attributes, or two files for one "
        "run stop it with the file's name and nothing written."),
    "select": (
        "pick the best config per aux x method by the published rule",
        "Per aux x method, score every config by the published rule (mean of the last --last "
        "episodes of the seed-mean primary_return curve) on the tuning seeds, keep the best, and "
        "evaluate it on the evaluation seeds. Configs with a diverged tuning run are not eligible "
        "unless every config has one. The output records best_config, best_score, eval_score, "
        "per-config scores, per-seed final performance, the rule and both seed sets."),
    "report": (
        "write every figure and table into a directory",
        "From aggregated and selection datasets (one pair per env) write into --out-dir: learning "
        "curves per env x aux (curves_<env>_<aux>_bootstrap: mean with 95% bootstrap band; "
        "curves_<env>_<aux>_se-ema: mean +- 1 s.e., EMA-smoothed as in the paper), "
        "gamma-phi_<env>, rphi-vs-primary_<env>_<aux>, aux-return_<env> (aux return and episode "
        "length), sensitivity_<env>_<method> (every configuration on the tuning seeds against "
        "lambda_gamma and gamma_lr), phi-maps_<env>_<aux> (GridWorld: change from "
        "initialisation), diverged_<env>, overview_all_iqm and overview_all_poi (PNG and PDF); "
        "tables summary, probability_of_improvement, selected_configs, diverged_counts (Markdown, "
        "CSV, LaTeX) and diverged_runs.csv; claims.md and claims.csv (with --claims); "
        "summary.json (headline IQMs); README.md (what the study is, the claims' verdicts, an "
        "index of every file, what was skipped and why); MANIFEST.txt."),
}


def _int_at_least(minimum: int, too_small: str):
    """An argparse type: an integer >= `minimum`; `too_small` says what a smaller one is."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} {too_small}")
        return value
    return parse


_positive_int = _int_at_least(1, "is not a positive integer")
_nonnegative_int = _int_at_least(0, "is negative")


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit status 2
        self.exit(2, f"error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="python -m barfi.analysis", description=DESCRIPTION, formatter_class=fmt)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, add_arguments, quiet in (
            ("aggregate", _aggregate_arguments, "no progress or summary lines"),
            ("select", _select_arguments, "no summary line"),
            ("report", _report_arguments, "no summary line")):
        help, description = COMMANDS[name]
        command = sub.add_parser(name, formatter_class=argparse.HelpFormatter, help=help,
                                 description=description)
        add_arguments(command)
        command.add_argument("--quiet", action="store_true", help=quiet)
    return p


def _aggregate_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("inputs", nargs="*", metavar="RUN_FILE_OR_DIR",
                   help="run files (.nc), or directories searched recursively for *.nc")
    a.add_argument("--files-from", action="append", default=[], metavar="LIST",
                   help="text file listing run files, one per line ('#' comments); repeatable")
    a.add_argument("--out", required=True, metavar="PATH.nc", help="output NetCDF file")
    a.add_argument("--env", help="expected env of every run (default: that of the first file)")
    a.add_argument("--config-table", metavar="FILE",
                   help="config_id -> overrides table (YAML/JSON mapping, optionally nested by "
                        "method, or CSV/TSV with a config_id column): every run's hp_<key> "
                        "attributes must agree with its row, and every config id must be listed")
    a.add_argument("--jobs", type=_nonnegative_int, default=0, metavar="N",
                   help="worker processes reading run files (0 = the CPUs available, at most 8; "
                        "the output does not depend on it)")


def _select_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("aggregated", metavar="AGGREGATED.nc", help="output of `aggregate`")
    s.add_argument("--out", required=True, metavar="PATH.nc", help="output selection dataset")
    s.add_argument("--rule", choices=("split", "single"), default="split",
                   help="split (default): choose on --tuning-seeds, report on the disjoint "
                        "--eval-seeds; single: the published single-set selection (same seeds "
                        "for both)")
    s.add_argument("--tuning-seeds", metavar="SEEDS",
                   help="e.g. 1-20 or 1,3,5-7 (split default: the first half of the seeds "
                        "present, or those not in --eval-seeds; single default: all)")
    s.add_argument("--eval-seeds", metavar="SEEDS",
                   help="e.g. 21-40 (split default: the seeds not in --tuning-seeds)")
    s.add_argument("--last", type=_positive_int, default=200, metavar="N",
                   help="episodes at the end of training that score a config (default 200, as "
                        "published; all episodes if a run has fewer)")


def _report_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("--aggregated", nargs="+", required=True, metavar="AGG.nc",
                   help="aggregated datasets (one per env)")
    r.add_argument("--selection", nargs="+", required=True, metavar="SEL.nc",
                   help="selection datasets (one per env, made from those aggregates)")
    r.add_argument("--out-dir", required=True, metavar="DIR", help="report directory")
    r.add_argument("--final-episodes", type=_positive_int, metavar="N",
                   help="episodes at the end of a run averaged into its final performance "
                        "(default: the selection's --last)")
    r.add_argument("--reps", type=_positive_int, default=2000, metavar="N",
                   help="bootstrap resamples for the rliable CIs (default 2000)")
    r.add_argument("--band-reps", type=_positive_int, default=1000, metavar="N",
                   help="bootstrap resamples for the learning-curve bands (default 1000)")
    r.add_argument("--ema", type=_float, default=0.9, metavar="W",
                   help="EMA weight of the paper-style curves, in [0, 1) (default 0.9)")
    r.add_argument("--seed", type=_nonnegative_int, default=0,
                   help="random seed of the bootstraps (default 0)")
    r.add_argument("--claims", metavar="FILE",
                   help="YAML/JSON list of claims (or a mapping with a `claims:` list) to "
                        "evaluate into claims.md; the schema is in docs/claims.md")
    r.add_argument("--title", help="title of README.md (default: 'BARFI report')")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    say = (lambda msg: None) if getattr(args, "quiet", False) else \
        (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    try:
        if args.command == "aggregate":
            from barfi.analysis.aggregate import aggregate
            from barfi.analysis.io import default_jobs, expand_inputs

            paths = expand_inputs(args.inputs, args.files_from)
            res = aggregate(paths, args.out, env=args.env, config_table=args.config_table,
                            progress=say, jobs=args.jobs or default_jobs())
            div = ", ".join(f"{m} {n}" for m, n in res["diverged_per_method"].items()) or "none"
            say(f"aggregated {res['runs']} runs of {res['env']} ({len(res['aux'])} aux x "
                f"{len(res['methods'])} methods x {res['configs']} configs x {res['seeds']} seeds"
                f" x {res['episodes']} episodes; diverged: {div}) into {res['out']} "
                f"in {time.perf_counter() - t0:.1f} s")
        elif args.command == "select":
            from barfi.analysis.selection import select

            res = select(args.aggregated, args.out, rule=args.rule,
                         tuning_seeds=args.tuning_seeds, eval_seeds=args.eval_seeds,
                         last=args.last)
            say(f"selected configs for {res['env']} (rule {res['rule']}, tuning seeds "
                f"{res['tuning_seeds']}, eval seeds {res['eval_seeds']}): "
                + ", ".join(f"{k}={v}" for k, v in res["selected"].items()) + f" -> {res['out']}")
        elif args.command == "report":
            from barfi.analysis.report import report

            res = report(args.aggregated, args.selection, args.out_dir,
                         final_episodes=args.final_episodes, reps=args.reps,
                         band_reps=args.band_reps, ema_weight=args.ema, seed=args.seed,
                         claims=args.claims, title=args.title)
            say(f"report: {len(res['files'])} files in {res['out_dir']} "
                f"({len(res['skipped'])} items skipped, see README.md) in "
                f"{time.perf_counter() - t0:.1f} s")
    except AnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
