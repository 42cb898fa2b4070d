"""The differential harness's own logic (benchmarks/reference), on made-up sweeps and files: it
needs no checkout of the reference code, which the harness's end-to-end runs do."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

from barfi.config import resolve_config

from benchmarks.reference.cells import (Cell, CellError, grid_points, parse_cell,
                                        reference_index, single_run_sweep, translate)
from benchmarks.reference.compare import cell_row, diff_ci, write_curves, read_curves
from benchmarks.reference.plot import panel_column, trailing_mean
from benchmarks.reference.sides import ReferenceJob, SideError, apply_gym_edits, run_reference

SWEEP = {"agent": "REINFORCE", "env_name": "Maze_noreward", "optim": ["rmsprop", "adam"],
         "actor_lr": [0.005, 0.001], "actor_reg": [0.25], "max_episodes": 2000, "gamma": 0.99,
         "buffer_size": [15, 100, 1000], "state_lr": 0.001, "seed": [1, 2, 3, 4]}


def test_grid_points_cross_sorted_list_keys_last_fastest_without_seed():
    points = grid_points(SWEEP)
    assert len(points) == 2 * 1 * 3 * 2
    assert [(p["actor_lr"], p["buffer_size"], p["optim"]) for p in points[:4]] == [
        (0.005, 15, "rmsprop"), (0.005, 15, "adam"), (0.005, 100, "rmsprop"),
        (0.005, 100, "adam")]
    assert all("seed" not in p and p["gamma"] == 0.99 for p in points)


def test_reference_index_is_the_position_in_the_full_expansion_with_seeds():
    keys = sorted(k for k, v in SWEEP.items() if isinstance(v, list))
    full = [dict(zip(keys, values)) for values in itertools.product(*(SWEEP[k] for k in keys))]
    points = grid_points(SWEEP)
    for config in (0, 5, 11):
        for seed in (1, 3):
            index = reference_index(SWEEP, config, seed)
            assert full[index]["seed"] == seed
            assert all(full[index][k] == points[config][k] for k in keys if k != "seed")
    assert reference_index(SWEEP, 0, 99) is None


def test_single_run_sweep_has_one_configuration_and_one_seed():
    point = grid_points(SWEEP)[7]
    single = single_run_sweep(SWEEP, point, seed=3, episodes=300)
    assert grid_points(single) == [{**point, "max_episodes": 300}]
    assert single["seed"] == [3]


def test_translate_maps_names_and_lists_what_barfi_does_not_read():
    t = translate(Cell("gridworld", "none", "reinforce"), grid_points(SWEEP)[0], None,
                  {"actor_reg": "0.5"})
    assert t.overrides == {"optimizer": "rmsprop", "actor_lr": 0.005, "actor_reg": "0.5",
                           "episodes": 2000, "gamma": 0.99}
    assert "buffer_size=15" in t.not_read and "state_lr=0.001" in t.not_mapped
    # Only what the method reads is passed on: actor-critic reads no batch_size, and the
    # overrides must resolve for it.
    t = translate(Cell("gridworld", "none", "actor-critic"), {"batch_size": 1, "actor_lr": 0.1},
                  None, {})
    assert "batch_size=1" in t.not_read and "batch_size" not in t.overrides
    resolve_config("gridworld", "none", "actor-critic", t.overrides)


def test_translate_refuses_unknown_keys_and_a_mismatched_approximation():
    with pytest.raises(CellError, match="lambda_typo"):
        translate(Cell("gridworld", "none", "reinforce"), {"lambda_typo": 1}, None, {})
    with pytest.raises(CellError, match="approx"):
        translate(Cell("gridworld", "none", "barfi"), {"approx": "First-order"}, None, {})


def test_translate_derives_the_critic_rate_from_a_ratio():
    t = translate(Cell("halfcheetah", "ctrl", "actor-critic"),
                  {"actor_lr": 1e-4, "critic_lr_ratio": 2.0}, 50, {})
    assert t.overrides["critic_lr"] == pytest.approx(2e-4)
    assert t.overrides["env_version"] == "v4" and t.overrides["episodes"] == 50


def test_parse_cell_names_what_is_valid():
    assert parse_cell("cartpole/pd-agree/barfi") == Cell("cartpole", "pd-agree", "barfi")
    with pytest.raises(CellError, match="valid"):
        parse_cell("gridworld/distance/reinforce")


def test_gym_edits_rewrite_the_old_api_and_fail_on_other_code(tmp_path):
    env_dir = tmp_path / "src" / "environments"
    env_dir.mkdir(parents=True)
    (env_dir / "CartPoleX.py").write_text(
        "        self.env.seed(seed)\n        state = self.env.reset()\n"
        "        s, r, done, info = self.env.step(a)\n")
    assert apply_gym_edits(tmp_path, "barfi-cp") == 3
    text = (env_dir / "CartPoleX.py").read_text()
    assert "self.env.reset(seed=seed)" in text and "state, _ = self.env.reset()" in text
    assert "s, r, done, _truncated, info = self.env.step(a); done = done or _truncated" in text
    with pytest.raises(SideError, match="matched nothing"):
        apply_gym_edits(tmp_path, "barfi-cp")      # already edited: nothing left to match


def test_cell_row_difference_and_solved_fractions():
    ref = np.tile(np.r_[np.zeros(100), np.full(200, 95.0)], (4, 1))
    ref[0, -200:] = 50.0                                   # one seed does not solve
    barfi = np.tile(np.full(300, 99.0), (5, 1))
    barfi[1, 10] = np.nan                                  # NaN before the window: ignored
    barfi[2, -1] = np.nan                                  # a diverged seed: unsolved, left out
    row = cell_row({"env": "gridworld"}, {"reference": ref, "barfi": barfi}, 90.0)
    assert row["reference_mean"] == pytest.approx((50 + 3 * 95) / 4)
    assert row["barfi_mean"] == pytest.approx(99.0) and row["barfi_nonfinite"] == 1
    assert row["reference_solved"] == 0.75 and row["barfi_solved"] == 0.8
    assert row["diff_ci_low"] <= row["diff_mean"] <= row["diff_ci_high"]
    assert row["final_episodes"] == 200


def test_diff_ci_excludes_zero_only_for_a_real_shift():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 30), rng.normal(0, 1, 30)
    lo, hi = diff_ci(a, b)
    assert lo < 0 < hi
    lo, hi = diff_ci(a + 3, b)
    assert lo > 0


def test_curves_file_round_trip_pads_missing_seeds(tmp_path):
    runs = {"reference": {1: np.arange(4.0), 2: np.ones(4)}, "barfi": {1: np.zeros(4)}}
    ds = read_curves(write_curves(runs, {"env": "gridworld"}, tmp_path / "c.returns.nc"))
    assert ds["primary_return"].sel(side="reference", seed=1).values.tolist() == [0, 1, 2, 3]
    assert np.isnan(ds["primary_return"].sel(side="barfi", seed=2).values).all()


def test_trailing_mean():
    x = np.array([[0.0, 2.0, 4.0, 6.0]])
    assert trailing_mean(x, 2).tolist() == [[0.0, 1.0, 3.0, 5.0]]
    assert trailing_mean(x, 1) is x


def _harness_cell(folder, seeds, shift=0.0, episodes=300, overrides="actor_lr=0.005"):
    """A harness output of one GridWorld cell (curves and its row) on `seeds`."""
    from benchmarks.reference.compare import curves_matrix, write_table

    rng = np.random.default_rng(seeds[0])
    runs = {side: {s: rng.normal(90 + shift * (side == "barfi"), 1, episodes) for s in seeds}
            for side in ("reference", "barfi")}
    meta = {"env": "gridworld", "aux": "none", "method": "reinforce", "config": 0,
            "episodes": episodes, "seeds": f"{seeds[0]}-{seeds[-1]}", "barfi_overrides": overrides}
    folder.mkdir(parents=True, exist_ok=True)
    write_curves(runs, meta, folder / "gridworld__none__reinforce__c0.returns.nc")
    row = cell_row(meta, {k: curves_matrix(v) for k, v in runs.items()}, 90.0)
    write_table([row], folder / "gridworld__none__reinforce__c0.csv")
    return runs


def test_merge_joins_disjoint_seeds_and_refuses_overlap(tmp_path):
    import pandas as pd

    from benchmarks.reference.merge import main as merge

    first = _harness_cell(tmp_path / "a", [1, 2, 3], shift=1.0)
    second = _harness_cell(tmp_path / "b", [4, 5], shift=1.0)
    assert merge(["--into", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    joined = read_curves(tmp_path / "a" / "gridworld__none__reinforce__c0.returns.nc")
    assert joined.seed.values.tolist() == [1, 2, 3, 4, 5] and joined.attrs["seeds"] == "1-5"
    row = pd.read_csv(tmp_path / "a" / "gridworld__none__reinforce__c0.csv").iloc[0]
    finals = [np.mean(r[s][-200:]) for r in (first["barfi"], second["barfi"]) for s in r]
    assert row["barfi_n"] == 5 and row["seeds"] == "1-5"
    assert row["barfi_mean"] == pytest.approx(np.mean(finals), rel=1e-5)
    assert (tmp_path / "a" / "summary.md").is_file()
    # Merging the same seeds again is refused, and nothing is rewritten.
    before = (tmp_path / "a" / "gridworld__none__reinforce__c0.returns.nc").read_bytes()
    assert merge(["--into", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert (tmp_path / "a" / "gridworld__none__reinforce__c0.returns.nc").read_bytes() == before


def test_merge_compares_the_configuration_barfi_ran_not_the_override_text(tmp_path):
    from benchmarks.reference.merge import main as merge

    # A key the method does not read (an earlier harness passed critic_lr to REINFORCE) and a
    # published default spelled out: the same configuration, so the seeds join.
    _harness_cell(tmp_path / "a", [1, 2], overrides="actor_lr=0.005")
    _harness_cell(tmp_path / "b", [3, 4], overrides="actor_lr=0.005;critic_lr=0.1;batch_size=1")
    assert merge(["--into", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    # Another learning rate is another configuration: refused.
    _harness_cell(tmp_path / "c", [5, 6], overrides="actor_lr=0.001")
    assert merge(["--into", str(tmp_path / "a"), str(tmp_path / "c")]) == 2


def test_paper_cells_use_the_first_order_sweep_where_it_is_the_only_barfi(tmp_path):
    """CartPole's noisy PD folder of the reference holds barfi.json (first order) and no
    barfineumann.json: that cell's paper BARFI is the first-order one; the others keep BARFI."""
    from benchmarks.reference.cells import AUX_FOLDERS, METHOD_FILES, paper_cells

    for aux in ("pd-agree", "pd-disagree-noisy"):
        folder, sweeps = AUX_FOLDERS[("cartpole", aux)]
        where = tmp_path / folder / sweeps
        where.mkdir(parents=True)
        names = ["reinforce.json", "barfi.json"] + \
            (["barfineumann.json"] if aux == "pd-agree" else [])
        for name in names:
            (where / name).write_text("{}")
    got = {(c.aux, c.method) for c in paper_cells(tmp_path, "cartpole")}
    assert got == {("pd-agree", "reinforce"), ("pd-agree", "barfi"),
                   ("pd-disagree-noisy", "reinforce"), ("pd-disagree-noisy", "barfi-first-order")}
    assert METHOD_FILES["barfi-first-order"] == "barfi.json"


def test_a_barfi_variant_takes_the_barfi_column_only_where_barfi_is_missing():
    present = {("cartpole", "noisy", "barfi-first-order"), ("cartpole", "agree", "barfi"),
               ("cartpole", "agree", "barfi-first-order"), ("cartpole", "noisy", "reinforce")}
    assert panel_column("cartpole", "noisy", "barfi-first-order", present) == "barfi"
    assert panel_column("cartpole", "agree", "barfi-first-order", present) == "barfi-first-order"
    assert panel_column("cartpole", "agree", "barfi", present) == "barfi"
    assert panel_column("cartpole", "noisy", "reinforce", present) == "reinforce"


# A stand-in for the reference's entry point: writes the pickle the harness reads (returns =
# seed, seed + 1, ...), logs each run, and fails for the seed named in BARFI_TEST_FAIL_SEED.
FAKE_MAIN = """
import json, os, pickle, sys
from pathlib import Path
seed = json.load(open(sys.argv[1]))["seed"][0]
with open(os.environ["BARFI_TEST_RUN_LOG"], "a") as log:
    log.write(f"{seed}\\n")
if str(seed) == os.environ.get("BARFI_TEST_FAIL_SEED"):
    sys.exit(3)
Path("results").mkdir()
pickle.dump({"returns": [seed + k for k in range(5)]}, open("results/run.dw", "wb"))
"""


def test_reference_seeds_survive_a_failed_run_and_are_not_rerun(tmp_path, monkeypatch):
    cell = parse_cell("gridworld/none/reinforce")
    folder = cell.ref_folder(tmp_path / "ref")
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "main.py").write_text(FAKE_MAIN)
    runs = tmp_path / "runs.log"
    monkeypatch.setenv("BARFI_TEST_RUN_LOG", str(runs))
    job = ReferenceJob(cell, tmp_path / "ref", sys.executable, {"seed": [1]}, {}, None,
                       cache_root=tmp_path / "out" / ".seeds")
    reported = []

    def report(side, seed, returns, seconds):
        reported.append(seed)

    monkeypatch.setenv("BARFI_TEST_FAIL_SEED", "2")
    with pytest.raises(SideError, match="seed 2 failed"):
        run_reference(job, [1, 2], 1, report)
    assert (job.cache_dir() / "reference-seed-1.npy").exists()    # the finished seed is kept
    monkeypatch.delenv("BARFI_TEST_FAIL_SEED")
    results = run_reference(job, [1, 2], 1, report)
    assert runs.read_text().split() == ["1", "2", "2"]             # seed 1 ran once
    assert sorted(reported) == [1, 1, 2]                           # but is reported each time
    np.testing.assert_array_equal(results[1], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(results[2], [2, 3, 4, 5, 6])
    other = ReferenceJob(cell, tmp_path / "ref", sys.executable, {"seed": [1]}, {}, 100,
                         cache_root=tmp_path / "out" / ".seeds")
    assert other.cache_dir() != job.cache_dir()                    # another budget, not reused


def test_variants_table_reads_real_run_files_and_compares_with_the_first(tmp_path):
    import subprocess

    from benchmarks.reference.variants import read_runs, variants_table

    for name, lr in (("a", "0.005"), ("b", "0.5")):
        subprocess.run([sys.executable, "-m", "barfi.cli", "train", "--env", "gridworld",
                        "--aux", "none", "--method", "reinforce", "--seeds", "1-3", "--quiet",
                        "--out-dir", str(tmp_path / name), "--set", "episodes=4",
                        "--set", f"actor_lr={lr}"], check=True)
    env, a = read_runs(tmp_path / "a")
    _, b = read_runs(tmp_path / "b")
    assert env == "gridworld" and sorted(a) == [1, 2, 3] and len(a[1]) == 4
    table = variants_table({"a": a, "b": b}, env).set_index("variant")
    finals = {n: np.array([r.mean() for r in runs.values()]) for n, runs in (("a", a), ("b", b))}
    assert table.loc["b", "final_mean"] == pytest.approx(finals["b"].mean())
    assert table.loc["b", "diff_vs_a"] == pytest.approx(finals["b"].mean() - finals["a"].mean())
    assert np.isnan(table.loc["a", "diff_vs_a"])           # the baseline has no difference
    assert table.loc["b", "solved"] == pytest.approx(np.mean(finals["b"] >= 90.0))
