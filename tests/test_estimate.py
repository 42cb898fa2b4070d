"""`barfi estimate`: its job counts are the workflow's, its output names each env, its JSON
agrees with its table, bad input is one line and exit 2 with nothing written. No timed
assertions: the numbers depend on the machine."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from barfi.cli import main
from barfi.estimate import enumerate_jobs, load_study
from barfi.study import Study

REPO = Path(__file__).resolve().parents[1]
CI = str(REPO / "config" / "ci.yaml")


@pytest.fixture(scope="module")
def ci_estimate(tmp_path_factory):
    """`barfi estimate` on config/ci.yaml with 2 timed episodes: (exit status, stdout, JSON)."""
    out = tmp_path_factory.mktemp("estimate") / "sub" / "estimate.json"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main(["estimate", "--configfile", CI, "--episodes", "2", "--cores", "3",
                       "--json", str(out)])
    return status, stdout.getvalue(), json.loads(out.read_text())


def test_jobs_are_the_studys():
    """Tuning: the packs of the study (the train rules of `snakemake -n`: 6 on ci.yaml,
    test_pipeline.test_dry_run_ci); evaluation: one block set per env x aux x method."""
    config = yaml.safe_load(Path(CI).read_text())
    study = Study.from_config(config)
    jobs = enumerate_jobs(load_study(CI))
    tuning = [j for j in jobs if j.stage == "tuning"]
    evaluation = [j for j in jobs if j.stage == "evaluation"]
    assert len(tuning) == len(study.tuning_packs()) == 6
    assert sum(j.seeds for j in tuning) == len(study.tuning_runs("gridworld")) == 20
    assert len(evaluation) == sum(len(c.points) * len(c.evaluation_blocks())
                                  for c in study.cells) == 6
    assert sum(j.seeds for j in evaluation) == 12
    assert {j.point.run.hp.episodes for j in jobs} == {30}


def test_table_and_json(ci_estimate):
    status, text, data = ci_estimate
    assert status == 0
    assert re.search(r"^gridworld\s+12\s+32\s", text, re.M), text
    assert re.search(r"^total\s+12\s+32\s", text, re.M), text
    assert "wall time on 3 cores" in text and "extrapolated" in text
    assert data["configfile"] == CI and data["cores"] == 3 and data["timing_episodes"] == 2
    row = data["envs"]["gridworld"]
    assert (row["jobs"], row["tuning_jobs"], row["evaluation_jobs"], row["seed_runs"]) == \
        (12, 6, 6, 32)
    assert data["total"]["jobs"] == 12 and data["total"]["seed_runs"] == 32
    assert 0 < row["cpu_hours"] <= row["cpu_hours_at_horizon"]
    assert data["total"]["cpu_hours"] == pytest.approx(row["cpu_hours"])
    # Every job pays the start-up at least; the wall time is at least CPU-hours / cores.
    assert row["cpu_hours"] >= 12 * data["startup_seconds"] / 3600
    assert data["wall_hours"] >= row["cpu_hours"] / 3 - 1e-12
    # One timing per shape; BARFI (a warm-up schedule) in two phases: as configured and
    # with first_mul = 0, counted from its first outer step.
    phases = {(t["method"], t["phase"]) for t in data["timings"]}
    assert phases == {("reinforce", "whole"), ("actor-critic", "whole"), ("barfi", "warm-up"),
                      ("barfi", "learning")}
    # Shapes include the block: packs of 4 agents (2 configurations x 2 tuning seeds), 2 for
    # actor-critic's one configuration and for the evaluation blocks.
    assert {(t["method"], t["seeds"]) for t in data["timings"]} == {
        ("reinforce", 4), ("reinforce", 2), ("actor-critic", 2), ("barfi", 4), ("barfi", 2)}
    for t in data["timings"]:
        assert (t["env"], t["horizon"]) == ("gridworld", 50)
        assert t["seconds_per_episode"] > 0 and 1 <= t["loop_steps_per_episode"] <= 50
        assert 1 <= t["counted"] < t["episodes"]
    learning = next(t for t in data["timings"] if t["phase"] == "learning")
    assert learning["counted"] % 3 == 0   # whole update periods (delta = 3)
    # CPU-hours per method add up to the env's.
    assert set(data["methods"]["gridworld"]) == {"reinforce", "actor-critic", "barfi"}
    assert sum(data["methods"]["gridworld"].values()) == pytest.approx(row["cpu_hours"])
    # The table prints the JSON's numbers.
    total_line = next(ln for ln in text.splitlines() if ln.startswith("total"))
    assert total_line.split()[3] == f"{data['total']['cpu_hours']:.3f}"


def test_counted_episodes_cost_the_runs_difference(monkeypatch):
    """A timing's counted episodes cost the CPU time of the whole run less that of a run of the
    skipped episodes alone, however the load on the machine spread the CPU time over the run's
    wall time: the trainer runs for real, its CPU-seconds are replaced by known ones (the
    skipped episodes 40 s whatever their wall time, 3 s per counted episode)."""
    import barfi.estimate as estimate

    real = estimate.train_cpu
    calls = []

    def known_cpu(config, seeds):
        _, wall, datasets = real(config, seeds)
        episodes = config.hp.episodes
        calls.append(episodes)
        return 40.0 + 3.0 * (episodes - 3), wall, datasets

    monkeypatch.setattr(estimate, "train_cpu", known_cpu)
    point = next(j.point for j in enumerate_jobs(load_study(CI)) if j.point.method == "reinforce")
    timing = estimate.time_run(point, 2, 7, 3, "whole", {})
    assert calls == [3, 7]
    assert timing.counted == 4 and timing.seconds_per_episode == pytest.approx(3.0)
    assert timing.env == "gridworld" and 1 <= timing.loop_steps_per_episode <= timing.horizon


@pytest.mark.parametrize("make, words", [
    (lambda d: str(d / "missing.yaml"), "not a readable file"),
    (lambda d: _write(d / "bad.yaml", "seeds: [unclosed\n"), "not YAML"),
    (lambda d: _write(d / "list.yaml", "- 1\n- 2\n"), "YAML mapping"),
    (lambda d: _write(d / "badkey.yaml", Path(CI).read_text().replace(
        "block_size: 4", "block_size: 0")), "seeds.block_size"),
    (lambda d: _write(d / "method.yaml", Path(CI).read_text().replace(
        "actor-critic:\n", "actor-critc:\n")), "unknown method"),
])
def test_bad_configfile_is_one_line(tmp_path, capsys, make, words):
    configfile = make(tmp_path)
    out = tmp_path / "estimate.json"
    status = main(["estimate", "--configfile", configfile, "--episodes", "2", "--json", str(out)])
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], captured.err
    assert captured.out == "" and not out.exists()


@pytest.mark.parametrize("args, words", [
    (["--episodes", "1"], "--episodes 1"),
    (["--cores", "0"], "--cores 0"),
])
def test_bad_options_are_one_line(tmp_path, capsys, args, words):
    out = tmp_path / "estimate.json"
    status = main(["estimate", "--configfile", CI, *args, "--json", str(out)])
    captured = capsys.readouterr()
    assert status == 2 and len(captured.err.strip().splitlines()) == 1
    assert words in captured.err and not out.exists()


def test_json_into_a_directory_is_refused(tmp_path, capsys):
    status = main(["estimate", "--configfile", CI, "--episodes", "2", "--json", str(tmp_path)])
    assert status == 2 and "is a directory" in capsys.readouterr().err


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_tuning_jobs_are_the_dry_runs_train_jobs(tmp_path):
    """The tuning jobs are the train jobs `snakemake -n` lists before the selection checkpoint
    (the evaluation jobs come after it)."""
    import shutil

    if shutil.which("snakemake") is None:
        pytest.skip("snakemake missing: pip install -e '.[pipeline]'")
    from test_pipeline import copy_tree, job_counts, snakemake, train_jobs

    tree = copy_tree(tmp_path / "tree")
    proc = snakemake(tree, "-n", "--configfile", "config/ci.yaml", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jobs = enumerate_jobs(load_study(CI))
    assert train_jobs(job_counts(proc.stdout)) == sum(j.stage == "tuning" for j in jobs)
