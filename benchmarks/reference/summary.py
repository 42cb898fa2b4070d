"""The summary of every cell table in a results folder: summary.csv (all columns) and summary.md
(the columns a reader compares), rebuilt after each cell so that it is never stale."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from barfi.analysis.aggregate import aux_order, method_order
from barfi.analysis.io import write_text
from benchmarks.reference.compare import write_table

CELL_TABLE_GLOB = "*__*__*__c*.csv"


def load_tables(folder: Path) -> pd.DataFrame:
    frames = [pd.read_csv(p) for p in sorted(folder.glob(CELL_TABLE_GLOB))]
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    keys = []
    for _, r in df.iterrows():
        auxes = aux_order(r["env"], df.loc[df["env"] == r["env"], "aux"].unique())
        keys.append((r["env"], auxes.index(r["aux"]),
                     method_order(df["method"].unique()).index(r["method"]), r["config"]))
    return df.iloc[sorted(range(len(df)), key=lambda i: keys[i])].reset_index(drop=True)


def _fmt(mean: float, se: float) -> str:
    return f"{mean:.2f} ± {se:.2f}"


def markdown(df: pd.DataFrame) -> str:
    lines = ["| env | aux | method | config | episodes | seeds (ref / barfi) | reference | barfi "
             "| barfi − reference [95% CI] | solved (ref / barfi) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        flag = " **≠0**" if r["diff_ci_excludes_0"] else ""
        solved = ("–" if pd.isna(r["solve_threshold"])
                  else f"{r['reference_solved']:.2f} / {r['barfi_solved']:.2f}")
        lines.append(
            f"| {r['env']} | {r['aux']} | {r['method']} | {r['config']} | {r['episodes']} "
            f"| {r['reference_n']} / {r['barfi_n']} "
            f"| {_fmt(r['reference_mean'], r['reference_se'])} "
            f"| {_fmt(r['barfi_mean'], r['barfi_se'])} "
            f"| {r['diff_mean']:.2f} [{r['diff_ci_low']:.2f}, {r['diff_ci_high']:.2f}]{flag} "
            f"| {solved} |")
    return "\n".join(lines) + "\n"


def write_summary(folder: Path) -> None:
    df = load_tables(folder)
    if df.empty:
        return
    write_table(df.to_dict("records"), folder / "summary.csv")
    write_text(folder / "summary.md", markdown(df))
