"""Tests of barfi.analysis: aggregation, selection, statistics, report, CLI (< 60 s).

Run files are synthetic (tests/synthetic.py) but written by the package's own dataset
writer, with designed-in answers: the best configuration, where split and single selection
disagree, which runs diverged and where.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from barfi.analysis import stats
from barfi.analysis.__main__ import main
from barfi.analysis.aggregate import aggregate
from barfi.analysis.io import AnalysisError
from barfi.analysis.selection import select
from synthetic import SweepWriter, curves, run_path

ENV = "gridworld"
FAST = ["--reps", "200", "--band-reps", "100"]


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]


def cli(*args: str) -> int:
    try:
        return main([str(a) for a in args])
    except SystemExit as exc:          # argparse errors
        return int(exc.code)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """2 aux x 3 methods x 2 configs x 4 seeds x 60 episodes. Designed: config 'good' (level 60)
    beats 'bad' (40) for every method, except that BARFI's best is 'good' by a wider margin;
    one actor-critic run diverges at episode 30."""
    root = tmp_path_factory.mktemp("sweep")
    w = SweepWriter(root / "runs")
    paths = []
    for aux in ("none", "center-bonus"):
        for method in ("reinforce", "actor-critic", "barfi"):
            for cid, lr, level in (("good", 5e-3, 60.0), ("bad", 1e-3, 40.0)):
                over = {"actor_lr": lr}
                if method == "barfi":
                    over["lambda_gamma"] = 0.25 if cid == "good" else 1.0
                    level += 10
                for seed in range(4):
                    div = 30 if (method, aux, cid, seed) == ("actor-critic", "none", "good", 3) \
                        else None
                    paths.append(w.write(ENV, aux, method, cid, seed, overrides=over,
                                         episodes=60, level=level, diverge_at=div,
                                         noise_sd=0.5))
    agg = root / "agg.nc"
    aggregate(paths, agg)
    return {"root": root, "paths": paths, "agg": agg}


@pytest.fixture(scope="module")
def full_report(sweep):
    sel = sweep["root"] / "sel.nc"
    assert cli("select", sweep["agg"], "--out", sel, "--quiet") == 0
    out = sweep["root"] / "report"
    assert cli("report", "--aggregated", sweep["agg"], "--selection", sel, "--out-dir", out,
               "--quiet", *FAST) == 0
    return {"sel": sel, "out": out}


# --------------------------------------------------------------------------- aggregation
def test_aggregate_values_land_at_their_labels(sweep):
    ds = xr.open_dataset(sweep["agg"], engine="h5netcdf")
    assert ds.primary_return.dims == ("aux", "method", "config", "seed", "episode")
    assert list(ds.aux.values) == ["none", "center-bonus"]          # registry order
    assert list(ds.method.values) == ["reinforce", "actor-critic", "barfi"]  # METHODS order
    assert ds.attrs["n_runs"] == 48 and ds.attrs["n_diverged"] == 1
    for path in sweep["paths"][::7]:
        with xr.open_dataset(path, engine="h5netcdf") as run:
            at = {"aux": run.attrs["aux"], "method": run.attrs["method"],
                  "config": path.parent.name, "seed": int(run.attrs["seed"])}
            got = ds.primary_return.sel(at).values
            np.testing.assert_array_equal(got, run.primary_return.values)
            np.testing.assert_array_equal(ds.wall_time.sel(at).values, run.wall_time.values)
            if run.attrs["method"] == "barfi":
                np.testing.assert_array_equal(ds.phi1_map.sel(at).values, run.phi1_map.values)
                np.testing.assert_array_equal(ds.gamma_phi.sel(at).values, run.gamma_phi.values)
    # Baselines have no BARFI records: NaN there.
    assert np.isnan(ds.gamma_phi.sel({"method": "reinforce"}).values).all()
    # Status, divergence episode, hyperparameter table, run table.
    div = {"aux": "none", "method": "actor-critic", "config": "good", "seed": 3}
    assert int(ds.status.sel(div)) == 2 and int(ds.diverged_at.sel(div)) == 30
    assert int((ds.status == 2).sum()) == 1 and int((ds.status == 1).sum()) == 47
    assert float(ds.hp_actor_lr.sel({"method": "barfi", "config": "bad"})) == 1e-3
    assert float(ds.hp_lambda_gamma.sel({"method": "barfi", "config": "good"})) == 0.25
    assert "lambda_gamma=0.25" in str(ds.overrides.sel({"method": "barfi", "config": "good"}).item())
    assert sorted(ds.run_file.values.astype(str)) == sorted(map(str, sweep["paths"]))
    ds.close()


def test_aggregate_accepts_a_file_list_and_gives_the_same_dataset(sweep, tmp_path):
    listing = tmp_path / "runs.txt"
    listing.write_text("# run files\n" + "\n".join(map(str, sweep["paths"])) + "\n")
    out = tmp_path / "agg.nc"
    assert cli("aggregate", "--files-from", listing, "--out", out, "--quiet", "--jobs", "1") == 0
    a = xr.load_dataset(out, engine="h5netcdf")
    b = xr.load_dataset(sweep["agg"], engine="h5netcdf")
    xr.testing.assert_identical(a, b)


def _small(tmp_path, n=2, **kw):
    w = SweepWriter(tmp_path / "runs")
    return [w.write(ENV, "none", "reinforce", "c1", s, episodes=20, **kw) for s in range(n)]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_or_truncated_file_is_refused_by_name(tmp_path, capsys, damage):
    paths = _small(tmp_path, 3)
    bad = paths[1]
    data = bad.read_bytes()
    bad.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(len(data)),
                     "empty": b""}[damage])
    out = tmp_path / "out" / "agg.nc"
    out.parent.mkdir()
    assert cli("aggregate", tmp_path / "runs", "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and str(bad) in err and len(err.splitlines()) == 1
    assert not out.exists() and list(out.parent.iterdir()) == []


def _set_attr(path, key, value=None):
    with h5py.File(path, "r+") as f:
        if value is None:
            del f.attrs[key]
        else:
            f.attrs[key] = value


@pytest.mark.parametrize("case,needle", [
    ("no-status", "missing attribute 'status'"),
    ("bad-status", "status='exploded'"),
    ("wrong-env", "env 'cartpole'"),
    ("path-method", "path says method"),
    ("seed-name", "file name says seed"),
    ("hp-mismatch", "hp_actor_lr"),
    ("short", "hp_episodes"),
])
def test_file_with_wrong_attrs_is_refused(tmp_path, capsys, case, needle):
    paths = _small(tmp_path, 3)
    bad = paths[2]
    if case == "no-status":
        _set_attr(bad, "status")
    elif case == "bad-status":
        _set_attr(bad, "status", "exploded")
    elif case == "wrong-env":
        _set_attr(bad, "env", "cartpole")
    elif case == "path-method":
        _set_attr(bad, "method", "actor-critic")
    elif case == "seed-name":
        _set_attr(bad, "seed", np.int64(7))
    elif case == "hp-mismatch":
        _set_attr(bad, "hp_actor_lr", 0.5)
    elif case == "short":
        _set_attr(bad, "hp_episodes", np.int64(30))
    out = tmp_path / "agg.nc"
    assert cli("aggregate", *paths, "--out", out) == 2
    err = capsys.readouterr().err
    assert needle in err and str(bad) in err, err
    assert not out.exists() and temp_files(tmp_path) == []


def test_duplicate_run_and_completed_run_with_nan_are_refused(tmp_path, capsys):
    paths = _small(tmp_path, 2)
    copy = tmp_path / "elsewhere.nc"
    copy.write_bytes(paths[0].read_bytes())
    _set_attr(copy, "config_id", "c1")
    assert cli("aggregate", *paths, copy, "--out", tmp_path / "a.nc") == 2
    assert "same run" in capsys.readouterr().err
    # A failure in the data pass (a 'completed' run with NaN returns) leaves nothing behind.
    with h5py.File(paths[1], "r+") as f:
        f["primary_return"][5] = np.nan
    assert cli("aggregate", *paths, "--out", tmp_path / "b.nc") == 2
    assert "non-finite" in capsys.readouterr().err
    assert not (tmp_path / "b.nc").exists() and temp_files(tmp_path) == []


def test_config_table_is_checked(tmp_path, capsys):
    paths = _small(tmp_path, 2)
    good = tmp_path / "ok.yaml"
    good.write_text("c1: {episodes: 20}\n")
    assert cli("aggregate", *paths, "--out", tmp_path / "a.nc", "--config-table", good,
               "--quiet") == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("config_id,actor_lr\nc1,0.5\n")
    assert cli("aggregate", *paths, "--out", tmp_path / "b.nc", "--config-table", bad) == 2
    assert "config table says" in capsys.readouterr().err


def test_bad_cli_input(tmp_path, capsys):
    assert cli("aggregate", tmp_path / "nope.nc", "--out", tmp_path / "a.nc") == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli("aggregate", "--out", tmp_path / "a.nc") == 2
    assert "no run files" in capsys.readouterr().err
    assert cli("select", tmp_path / "nope.nc", "--out", tmp_path / "s.nc") == 2
    assert cli("select", "x.nc", "--out", "s.nc", "--rule", "best") == 2
    assert cli("report", "--aggregated", "x.nc", "--selection", "y.nc", "--out-dir",
               tmp_path, "--reps", "0") == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert all(ln.startswith("error:") for ln in lines)


def test_cli_help_documents_every_subcommand():
    for sub, words in (("aggregate", ["--files-from", "--config-table", "--out"]),
                       ("select", ["--rule", "--tuning-seeds", "--eval-seeds", "--last"]),
                       ("report", ["--aggregated", "--selection", "--out-dir",
                                   "--final-episodes"])):
        res = subprocess.run([sys.executable, "-m", "barfi.analysis", sub, "--help"],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0 and all(w in res.stdout for w in words), res.stdout


# --------------------------------------------------------------------------- selection
def test_selection_picks_the_designed_best(sweep, full_report):
    sel = xr.load_dataset(full_report["sel"], engine="h5netcdf")
    assert sel.attrs["rule"] == "split"
    assert sel.attrs["tuning_seeds"] == "0-1" and sel.attrs["eval_seeds"] == "2-3"
    assert set(sel.best_config.values.ravel().astype(str)) == {"good"}
    s = sel.best_score.sel({"aux": "none", "method": "barfi"}).item()
    assert 60 < s < 70    # the level (70) times 1 - exp(-e/6) over the last 200 (= all 60) eps
    # The diverged evaluation run (seed 3) is excluded and counted.
    pick = {"aux": "none", "method": "actor-critic"}
    assert int(sel.n_eval_diverged.sel(pick)) == 1 and int(sel.n_eval_runs.sel(pick)) == 2
    assert np.isnan(sel.final_performance.sel({**pick, "eval_seed": 3}))


def test_split_and_single_rules_differ_where_designed(tmp_path):
    """Config 'lucky' is excellent on seeds 0-1 and poor on 2-5; 'steady' is 50 everywhere.
    split (tune 0-1, evaluate 2-5) picks 'lucky' and reports its poor evaluation score; the
    single-set rule on all seeds picks 'steady' ((2*80 + 4*20)/6 = 40 < 50)."""
    w = SweepWriter(tmp_path / "runs")
    paths = []
    for seed in range(6):
        paths.append(w.write(ENV, "none", "reinforce", "lucky", seed, overrides={"actor_lr": 0.01},
                             episodes=40, level=80.0 if seed < 2 else 20.0, noise_sd=0.0))
        paths.append(w.write(ENV, "none", "reinforce", "steady", seed, episodes=40,
                             level=50.0, noise_sd=0.0))
    agg = tmp_path / "agg.nc"
    aggregate(paths, agg)
    split = select(agg, tmp_path / "split.nc", rule="split", tuning_seeds="0-1",
                   eval_seeds="2-5", last=10)
    single = select(agg, tmp_path / "single.nc", rule="single", last=10)
    assert split["selected"] == {"none/reinforce": "lucky"}
    assert single["selected"] == {"none/reinforce": "steady"}
    s = xr.load_dataset(tmp_path / "split.nc", engine="h5netcdf")
    shape = 1 - np.exp(-np.arange(30, 40) / 4.0)
    assert s.best_score.item() == pytest.approx(80 * shape.mean())
    assert s.eval_score.item() == pytest.approx(20 * shape.mean())
    assert list(s.tuning_seed.values) == [0, 1] and list(s.eval_seed.values) == [2, 3, 4, 5]
    one = xr.load_dataset(tmp_path / "single.nc", engine="h5netcdf")
    assert one.attrs["tuning_seeds"] == one.attrs["eval_seeds"] == "0-5"
    assert one.score.sel({"config": "lucky"}).item() == pytest.approx(40 * shape.mean())


def test_selection_avoids_configs_with_diverged_tuning_runs(tmp_path):
    w = SweepWriter(tmp_path / "runs")
    paths = []
    for seed in range(4):
        paths.append(w.write(ENV, "none", "reinforce", "fast", seed, overrides={"actor_lr": 0.1},
                             episodes=30, level=90.0, diverge_at=25 if seed == 0 else None))
        paths.append(w.write(ENV, "none", "reinforce", "slow", seed, episodes=30, level=30.0))
    agg = tmp_path / "agg.nc"
    aggregate(paths, agg)
    res = select(agg, tmp_path / "sel.nc", tuning_seeds="0-1", eval_seeds="2-3")
    assert res["selected"] == {"none/reinforce": "slow"}
    s = xr.load_dataset(tmp_path / "sel.nc", engine="h5netcdf")
    assert np.isnan(s.score.sel({"config": "fast"}).item())
    assert s.n_tuning_diverged.sel({"config": "fast"}).item() == 1


def test_selection_rejects_bad_seed_sets(sweep, tmp_path):
    with pytest.raises(AnalysisError, match="disjoint"):
        select(sweep["agg"], tmp_path / "s.nc", tuning_seeds="0-2", eval_seeds="2-3")
    with pytest.raises(AnalysisError, match="have no runs"):
        select(sweep["agg"], tmp_path / "s.nc", tuning_seeds="0-1", eval_seeds="7-9")
    with pytest.raises(AnalysisError, match="one seed set"):
        select(sweep["agg"], tmp_path / "s.nc", rule="single", tuning_seeds="0-1",
               eval_seeds="2-3")
    assert not (tmp_path / "s.nc").exists()


# --------------------------------------------------------------------------- statistics
def test_interval_estimates_match_hand_computation():
    # IQM of 1..8: drop 1, 2 and 7, 8 -> mean(3, 4, 5, 6) = 4.5 (and rliable agrees).
    from rliable import metrics

    x = np.arange(1.0, 9.0)[:, None]
    assert stats.iqm(x) == 4.5 == pytest.approx(metrics.aggregate_iqm(x))
    # Two runs {0, 1}: bootstrap means are 0, 0.5, 1 w.p. 1/4, 1/2, 1/4, so the 95% percentile
    # interval is [0, 1]; with n = 2 nothing is trimmed, so the IQM interval is the same.
    e = stats.interval_estimates({"a": np.array([[0.0], [1.0]])}, reps=2000)["a"]
    assert (e["iqm"], e["iqm_low"], e["iqm_high"]) == (0.5, 0.0, 1.0)
    assert (e["mean"], e["mean_low"], e["mean_high"]) == (0.5, 0.0, 1.0)
    # Identical values: a zero-width interval.
    e = stats.interval_estimates({"c": np.full((5, 1), 3.0)})["c"]
    assert e["iqm_low"] == e["iqm_high"] == 3.0
    # Probability of improvement: every x beats every y -> 1 with interval [1, 1]; ties = 1/2.
    assert stats.probability_of_improvement(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == \
        {"p": 1.0, "low": 1.0, "high": 1.0}
    assert stats.prob_improvement(np.array([[1.0], [2.0]]), np.array([[1.0], [2.0]])) == 0.5
    r = np.random.default_rng(0)
    a, b = np.round(r.normal(size=(7, 2)), 1), np.round(r.normal(size=(5, 2)), 1)
    assert stats.prob_improvement(a, b) == pytest.approx(metrics.probability_of_improvement(a, b))


def test_rliable_intervals_are_reproducible_and_leave_global_rng_alone():
    # rliable 1.2 ignores random_state and uses numpy's global RNG: stats seeds and restores it.
    x = np.random.default_rng(3).normal(size=(10, 2))
    before = np.random.get_state()[1].copy()
    a = stats.interval_estimates({"x": x}, reps=300, seed=5)
    b = stats.interval_estimates({"x": x}, reps=300, seed=5)
    assert a == b
    p = [stats.probability_of_improvement(x[:, :1], x[:, 1:], reps=300, seed=5)
         for _ in range(2)]
    assert p[0] == p[1]
    assert (np.random.get_state()[1] == before).all()


def test_curve_statistics():
    assert stats.ema(np.array([1.0, 2.0, 3.0]), 0.9) == pytest.approx([1.0, 1.1, 1.29])
    assert stats.ema(np.array([1.0, np.nan, 3.0]), 0.5) == pytest.approx([1.0, 1.0, 2.0])
    mean, lo, hi = stats.bootstrap_band(np.array([[0.0, 2.0], [1.0, 2.0]]), reps=500)
    assert list(mean) == [0.5, 2.0] and list(lo) == [0.0, 2.0] and list(hi) == [1.0, 2.0]
    m, se = stats.mean_se(np.array([[1.0], [3.0]]))
    assert m[0] == 2.0 and se[0] == pytest.approx(1.0)
    assert stats.final_performance(np.array([[1.0, 2.0, 3.0]]), 2)[0] == 2.5


# --------------------------------------------------------------------------- report
PROMISED = [
    *(f"curves_{ENV}_{a}_{s}.{x}" for a in ("none", "center-bonus")
      for s in ("bootstrap", "se-ema") for x in ("png", "pdf")),
    # BARFI's runs end at 70-80, below GridWorld's solve level of 90: all stuck
    *(f"{k}_{ENV}_{a}.{x}" for k in ("rphi-vs-primary", "phi-maps", "stuck-seeds")
      for a in ("none", "center-bonus") for x in ("png", "pdf")),
    f"gamma-phi_{ENV}.png", f"gamma-phi_{ENV}.pdf",
    f"sensitivity_{ENV}_barfi.png", f"sensitivity_{ENV}_barfi.pdf",
    f"diverged_{ENV}.png", f"diverged_{ENV}.pdf",
    *(f"{k}.{x}" for k in (f"aux-return_{ENV}", "overview_all_iqm", "overview_all_poi")
      for x in ("png", "pdf")),
    *(f"{t}.{x}" for t in ("summary", "probability_of_improvement", "selected_configs",
                           "diverged_counts", "stuck_seeds") for x in ("md", "csv", "tex")),
    "diverged_runs.csv", "summary.json", "README.md", "MANIFEST.txt",
]


def test_report_writes_every_promised_file_and_indexes_it(full_report):
    out = full_report["out"]
    files = sorted(p.name for p in out.iterdir())
    assert sorted(PROMISED) == files
    assert temp_files(out) == []
    readme = (out / "README.md").read_text()
    for name in files:
        assert f"[`{name}`]({name})" in readme, name
    assert (out / "MANIFEST.txt").read_text().split() == \
        [f for f in (out / "MANIFEST.txt").read_text().split()]
    assert set((out / "MANIFEST.txt").read_text().split()) == set(files)
    for name in files:
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:4] == b"\x89PNG"
        elif name.endswith(".pdf"):
            assert (out / name).read_bytes()[:5] == b"%PDF-"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 48 and summary["diverged_runs"] == 1
    fp = summary["final_iqm"][ENV]["none"]["barfi"]
    assert fp["low"] <= fp["iqm"] <= fp["high"]
    poi = (out / "probability_of_improvement.csv").read_text().splitlines()
    assert any(ln.startswith(f"{ENV},none,barfi,reinforce,2,2,1,") for ln in poi)
    div = (out / "diverged_runs.csv").read_text().splitlines()
    assert len(div) == 2 and ",actor-critic,good,3,30," in div[1]
    tex = (out / "summary.tex").read_text()
    assert r"\begin{tabular}" in tex and r"\toprule" in tex
    assert "IQM [95% CI]" in (out / "summary.md").read_text()


def test_readme_sections_and_captions_come_from_the_caption_table(full_report):
    """Each file sits under the README heading of its caption-table entry, and the HTML report
    (which reads the same table) files it under the same category."""
    import re

    from barfi.analysis.captions import CAPTIONS, caption_of

    section, placed = None, {}
    for line in (full_report["out"] / "README.md").read_text().splitlines():
        if line.startswith("## "):
            section = line[3:]
        for name in re.findall(r"\[`([^`]+)`\]", line):
            placed[name] = section
    assert len(placed) == len(list(full_report["out"].iterdir()))
    for name, heading in placed.items():
        entry = CAPTIONS.get(name) or caption_of(name.rsplit(".", 1)[0])
        assert entry is not None and entry.section == heading, (name, heading)
    assert placed["gamma-phi_gridworld.png"] == "BARFI internals"


def test_report_without_barfi_skips_figures_and_removes_stale_ones(sweep, full_report,
                                                                   tmp_path):
    paths = [p for p in sweep["paths"] if "/barfi/" not in str(p)]
    agg, sel = tmp_path / "agg.nc", tmp_path / "sel.nc"
    aggregate(paths, agg)
    select(agg, sel, rule="single")
    out = tmp_path / "report"
    out.mkdir()
    for p in full_report["out"].iterdir():                 # an earlier report with BARFI
        (out / p.name).write_bytes(p.read_bytes())
    (out / "notes.txt").write_text("mine")                 # not the report's: kept
    assert cli("report", "--aggregated", agg, "--selection", sel, "--out-dir", out, "--quiet",
               *FAST) == 0
    names = {p.name for p in out.iterdir()}
    assert "notes.txt" in names
    assert not any(n.startswith(("gamma-phi", "phi-maps", "rphi", "sensitivity",
                                 "probability_of_improvement")) for n in names)
    readme = (out / "README.md").read_text()
    assert "## Skipped" in readme
    for what in ("gamma_phi over training", "sensitivity", "phi maps",
                 "probability of improvement"):
        assert what in readme
    assert temp_files(out) == []


def test_report_rejects_mismatched_inputs(sweep, full_report, tmp_path, capsys):
    out = tmp_path / "r"
    assert cli("report", "--aggregated", sweep["agg"], "--selection", sweep["agg"],
               "--out-dir", out) == 2
    assert "not a selection dataset" in capsys.readouterr().err
    assert cli("report", "--aggregated", sweep["agg"], sweep["agg"], "--selection",
               full_report["sel"], "--out-dir", out) == 2
    assert "two aggregated datasets" in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []


def test_synthetic_files_follow_the_run_contract(tmp_path):
    p = SweepWriter(tmp_path).write(ENV, "none", "barfi", "c9", 4, episodes=10)
    assert p == run_path(tmp_path, ENV, "none", "barfi", "c9", 4)
    with xr.open_dataset(p, engine="h5netcdf") as ds:
        for v in ("primary_return", "aux_return", "episode_length", "wall_time", "gamma_phi",
                  "phi1_mean", "phi2_mean", "phi3_mean", "r_phi_return"):
            assert ds[v].dims == ("episode",)
        assert ds.phi1_map.dims == ("grid_y", "grid_x") and ds.phi1_map.shape == (33, 33)
        assert ds.attrs["status"] == "completed" and ds.attrs["seed"] == 4
        assert ds.attrs["hp_episodes"] == 10
    pe, _ = curves(ENV, "reinforce", 1, 10, 5.0, diverge_at=4)
    assert np.isnan(pe["primary_return"][4:]).all() and np.isfinite(pe["primary_return"][:4]).all()


# --------------------------------------------------------------------------- report points
def test_summary_json_has_only_headline_numbers(full_report):
    """summary.json (dvc metrics): per env x aux x method the final IQM, its CI and run count,
    and a few totals; the long tables live in the CSV files."""
    out = full_report["out"]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"final_iqm", "episodes", "runs", "diverged_runs", "statistics"}
    assert summary["episodes"] == {ENV: {"episodes": "60", "published": 2000}}
    cells = [leaf for per_aux in summary["final_iqm"].values() for per_m in per_aux.values()
             for leaf in per_m.values()]
    assert len(cells) == 2 * 3                                   # aux x method, no pooled rows
    assert all(set(leaf) == {"iqm", "low", "high"} for leaf in cells)
    assert (out / "summary.json").stat().st_size < 3000
    assert "iqm_low" in (out / "summary.csv").read_text().splitlines()[0]


def test_a_budget_shorter_than_published_is_named_in_every_table_and_title(full_report):
    """The sweep trains 60 of GridWorld's 2000 episodes: every table names the env with its
    budget, and so does the README; the CSVs keep the plain env name as their key."""
    out = full_report["out"]
    label = f"{ENV} (60 of 2000 episodes)"
    for table in ("summary", "probability_of_improvement", "selected_configs",
                  "diverged_counts"):
        md, tex = (out / f"{table}.md").read_text(), (out / f"{table}.tex").read_text()
        rows = [ln for ln in md.splitlines() if ln.startswith(f"| {ENV}")]
        assert rows and all(ln.startswith(f"| {label} |") for ln in rows), table
        assert label in tex, table
        csv = pd.read_csv(out / f"{table}.csv")
        assert set(csv.env) == {ENV}, table
    readme = (out / "README.md").read_text()
    assert f"{ENV} 60 of 2000 episodes" in readme and "A quick grid" in readme


def test_only_the_env_with_a_short_budget_is_labelled(tmp_path):
    """GridWorld at its published 2000 episodes, MountainCar at 30 of 500: the README says
    which env is short (not 'a quick grid'), and only MountainCar carries the label."""
    w = SweepWriter(tmp_path / "runs")
    reports_in = []
    for env, episodes in (("gridworld", 2000), ("mountaincar", 30)):
        paths = [w.write(env, aux, "reinforce", "c1", seed, episodes=episodes)
                 for aux in ("none",) if env == "gridworld" for seed in range(2)] + \
                [w.write(env, "bang-bang", "reinforce", "c1", seed, episodes=episodes)
                 for seed in range(2) if env == "mountaincar"]
        agg, sel = tmp_path / f"{env}.nc", tmp_path / f"{env}.sel.nc"
        aggregate(paths, agg)
        select(agg, sel, rule="single", last=10)
        reports_in.append((agg, sel))
    out = tmp_path / "report"
    assert main(["report", "--aggregated", *[str(a) for a, _ in reports_in], "--selection",
                 *[str(s) for _, s in reports_in], "--out-dir", str(out), "--quiet",
                 *FAST]) == 0
    readme = (out / "README.md").read_text()
    assert "**Shorter than published**: mountaincar 30 of 500 episodes" in readme
    assert "A quick grid" not in readme
    md = (out / "summary.md").read_text()
    assert "| gridworld " in md and "gridworld (" not in md
    assert "| mountaincar (30 of 500 episodes) |" in md


def test_stuck_seeds_are_split_at_the_envs_solve_level(tmp_path):
    """BARFI seeds 0, 2, 4 end near 97 (GridWorld solved: >= 90), seeds 1, 3, 5 near 20: the
    table lists each group's seeds and means, and the figure is drawn; REINFORCE is no BARFI
    method and gets no row."""
    from barfi.analysis.stuck import SOLVE_LEVELS

    w = SweepWriter(tmp_path / "runs")
    paths = [w.write(ENV, "center-bonus", method, "c1", seed, episodes=60, noise_sd=0.5,
                     level=(97.0 if seed % 2 == 0 else 20.0) if method == "barfi" else 50.0)
             for method in ("reinforce", "barfi") for seed in range(6)]
    agg, sel, out = tmp_path / "agg.nc", tmp_path / "sel.nc", tmp_path / "report"
    aggregate(paths, agg)
    select(agg, sel, rule="single", last=10)
    assert main(["report", "--aggregated", str(agg), "--selection", str(sel), "--out-dir",
                 str(out), "--quiet", *FAST]) == 0
    table = pd.read_csv(out / "stuck_seeds.csv", dtype={"seeds": str}).set_index("group")
    assert list(table.method) == ["barfi", "barfi"] and SOLVE_LEVELS[ENV] == 90.0
    assert table.loc["stuck", "seeds"] == "1,3,5" and table.loc["solved", "runs"] == 3
    assert abs(table.loc["solved", "primary_return"] - 97.0) < 1.0
    assert abs(table.loc["stuck", "primary_return"] - 20.0) < 1.0
    assert 0.75 < table.loc["stuck", "gamma_phi"] < 0.8          # 0.99 - 0.2 at the plateau
    assert (out / "stuck-seeds_gridworld_center-bonus.png").stat().st_size > 10_000
    assert "stuck-seeds_gridworld_center-bonus.pdf" in (out / "README.md").read_text()


def test_sensitivity_has_one_point_per_configuration_from_the_tuning_seeds(sweep, full_report):
    from barfi.analysis import sensitivity
    from barfi.analysis.inputs import load_inputs

    inp = load_inputs([sweep["agg"]], [full_report["sel"]])[0]
    try:
        assert inp.tuning_seeds == [0, 1] and inp.eval_seeds == [2, 3]
        data = sensitivity.frame(inp, "barfi", last=10)
        # Every configuration, also the one not selected, once per aux reward.
        assert sorted(zip(data.aux, data.config)) == sorted(
            (a, c) for a in ("none", "center-bonus") for c in ("good", "bad"))
        assert (data.runs == 2).all() and set(data.lambda_gamma) == {0.25, 1.0}
        assert "gamma_lr" not in data                             # not varied by the grid
        for r in data.itertuples():                               # the tuning seeds' numbers
            at = {"aux": r.aux, "method": "barfi", "config": r.config, "seed": [0, 1]}
            runs = xr.open_dataset(sweep["agg"], engine="h5netcdf").primary_return.sel(at)
            assert r.score == pytest.approx(float(runs.values[:, -10:].mean()))
        good = data[data.config == "good"].score.min()
        assert good > data[data.config == "bad"].score.max() + 10  # designed: 70 vs 50
    finally:
        inp.agg.close()


def test_phi_maps_show_change_from_initialisation_and_hide_phi3_without_aux(sweep, full_report):
    from barfi.analysis import phimaps
    from barfi.analysis.inputs import load_inputs

    inp = load_inputs([sweep["agg"]], [full_report["sel"]])[0]
    try:
        none = phimaps.change_maps(inp, "none", "barfi")
        bonus = phimaps.change_maps(inp, "center-bonus", "barfi")
        assert set(none) == {"phi1_map"} and set(bonus) == {"phi1_map", "phi3_map"}
        overrides = str(inp.agg.overrides.sel({"method": "barfi", "config": "good"}).item())
        init = phimaps.initial_maps(ENV, "center-bonus", "barfi", overrides, [2, 3])
        final, _, _ = inp.runs("center-bonus", "barfi", "phi3_map")
        np.testing.assert_allclose(bonus["phi3_map"], (final - init["phi3_map"]).mean(axis=0))
        assert np.abs(init["phi3_map"]).max() > 0.01             # a real initialisation
    finally:
        inp.agg.close()
    readme = (full_report["out"] / "README.md").read_text()
    assert "phi3 not shown: r_aux = 0" in readme


def test_initial_phi_maps_are_those_training_starts_from(tmp_path):
    """With r_aux = 0, phi3 gets no gradient: after real training its map equals the rebuilt
    initial map exactly (and phi1, which learns, does not)."""
    from barfi.analysis.phimaps import initial_maps
    from barfi.config import resolve_config
    from barfi.train import train

    config = resolve_config(ENV, "none", "barfi", {"episodes": 20, "first_mul": 1})
    runs = train(config, seeds=[5, 6], progress=False)
    init = initial_maps(ENV, "none", "barfi", "episodes=20;first_mul=1", [5, 6])
    final3 = np.stack([r.phi3_map.values for r in runs])
    final1 = np.stack([r.phi1_map.values for r in runs])
    np.testing.assert_array_equal(final3, init["phi3_map"])
    assert np.abs(final1 - init["phi1_map"]).max() > 0


def test_episode_ticks_are_whole_numbers():
    from barfi.analysis import figures

    fig, ax = figures.plt.subplots()
    ax.plot(np.arange(3), np.arange(3))
    figures.episode_axis(ax)
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if 0 <= t <= 2]
    figures.plt.close(fig)
    assert ticks and all(float(t).is_integer() for t in ticks)
