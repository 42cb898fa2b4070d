"""Bad input stops before any training: one line naming the bad key and what is valid, exit 2,
and no file written."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from barfi.cli import EXIT_BAD_INPUT, main
from barfi.config import resolve_config

GOOD = ["train", "--env", "gridworld", "--aux", "none", "--method", "reinforce"]


def _replace(args, flag, value):
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


BAD_INPUT = [
    # (id, argv after GOOD-style construction, words the message must contain)
    ("unknown env", _replace(GOOD, "--env", "maze"), ["unknown env 'maze'", "gridworld", "cartpole"]),
    ("unknown aux", _replace(GOOD, "--aux", "velocity"), ["unknown aux 'velocity'", "center-bonus"]),
    ("unknown method", _replace(GOOD, "--method", "ppo"), ["unknown method 'ppo'", "barfi"]),
    ("unknown hyperparameter", GOOD + ["--set", "learning_rate=0.1"],
     ["unknown hyperparameter 'learning_rate'", "actor_lr"]),
    ("hyperparameter of another method", GOOD + ["--set", "reward_lr=0.1"],
     ["'reward_lr' does not apply to method reinforce", "actor_lr"]),
    ("wrong type", GOOD + ["--set", "actor_lr=fast"], ["actor_lr='fast'", "a number"]),
    ("wrong int type", GOOD + ["--set", "episodes=2.5"], ["episodes='2.5'", "an integer"]),
    ("out of range", GOOD + ["--set", "actor_lr=-1"], ["actor_lr=-1.0", "out of range", "> 0"]),
    ("zero budget", GOOD + ["--set", "episodes=0"], ["episodes=0", ">= 1"]),
    ("bad choice", GOOD + ["--set", "optimizer=sgd"], ["optimizer='sgd'", "rmsprop"]),
    ("not key=value", GOOD + ["--set", "actor_lr"], ["--set 'actor_lr' is not key=value"]),
    ("negative seed", GOOD + ["--seed", "-1", "--out", "{tmp}/x.nc"], ["seeds '-1'", "non-negative"]),
    ("reversed seed range", GOOD + ["--seeds", "5-3", "--out-dir", "{tmp}/runs"], ["seeds '5-3'"]),
    ("repeated seeds", GOOD + ["--seeds", "1,1", "--out-dir", "{tmp}/runs"], ["distinct"]),
    ("--seed without --out", GOOD + ["--seed", "1"], ["--seed needs --out"]),
    ("--seeds without --out-dir", GOOD + ["--seeds", "1-2"], ["--seeds needs --out-dir"]),
    ("not .nc", GOOD + ["--seed", "1", "--out", "{tmp}/x.csv"], ["must end in .nc"]),
    ("unwritable out dir", GOOD + ["--seed", "1", "--out", "{tmp}/afile/x.nc"],
     ["is not a writable directory"]),
    ("out dir is a file", GOOD + ["--seeds", "1-2", "--out-dir", "{tmp}/afile"], ["is a file"]),
    ("unknown device", GOOD + ["--seed", "1", "--out", "{tmp}/x.nc", "--device", "tpu"],
     ["unknown device 'tpu'", "cpu"]),
]


@pytest.mark.parametrize("case_id,argv,words", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_clear_line_and_no_output(tmp_path, capsys, case_id, argv, words):
    (tmp_path / "afile").write_text("not a directory")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--seed" not in argv and "--seeds" not in argv:
        argv += ["--seed", "1", "--out", str(tmp_path / "x.nc")]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_refused(tmp_path, capsys):
    argv = GOOD + ["--seed", "1", "--out", str(tmp_path / "x.nc"), "--device", "cuda"]
    assert main(argv) == EXIT_BAD_INPUT
    assert "device 'cuda' is not available" in capsys.readouterr().err


def test_console_script_exit_status(tmp_path):
    """The installed entry point exits non-zero with the message on stderr only."""
    proc = subprocess.run([sys.executable, "-m", "barfi.cli", *_replace(GOOD, "--env", "maze"),
                           "--seed", "1", "--out", str(tmp_path / "x.nc")],
                          capture_output=True, text=True)
    assert proc.returncode == EXIT_BAD_INPUT
    assert proc.stdout == ""
    assert proc.stderr.startswith("barfi: error: unknown env 'maze'")
    assert not (tmp_path / "x.nc").exists()


def test_list_names_every_method(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("gridworld", "center-bonus", "barfi-unrolled", "actor-critic-pbrs"):
        assert name in out


def test_list_describes_every_aux_reward(capsys):
    """Each aux reward with its one-line description, saying which is the good and the bad one."""
    from barfi.aux_rewards import AUX_REWARDS

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for env, rewards in AUX_REWARDS.items():
        for name, aux in rewards.items():
            assert any(line.split()[:1] == [name] and aux.description in line
                       for line in out.splitlines()), (env, name)
    assert "bad: -5 if the action matches a PD controller" in out


def test_list_method_on_an_env_shows_the_published_values(capsys):
    """`--env` gives the values a run of that env would use (published, per method family)."""
    assert main(["list", "--method", "barfi", "--env", "mountaincar"]) == 0
    rows = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["actor_lr"] == ["0.0625", "*"]          # MountainCar's published learning rate
    assert rows["actor_reg"] == ["0.25", "*"]           # its BARFI family's entropy weight
    assert rows["neumann_terms"][0] == "5"              # not published: the generic default
    assert main(["list", "--method", "reinforce", "--env", "mountaincar"]) == 0
    rows = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["actor_reg"] == ["0.25", "*"] and "reward_lr" not in rows
    # The velocity sweep has its own configuration 0.
    assert main(["list", "--method", "reinforce", "--env", "mountaincar", "--aux", "velocity"]) == 0
    rows = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["actor_lr"] == ["0.015625", "*"] and rows["actor_reg"] == ["0.0", "*"]
    assert main(["list", "--method", "reinforce"]) == 0
    out = capsys.readouterr().out
    assert "published: gridworld 0.005, mountaincar 0.0625, cartpole 0.001, halfcheetah 0.0001" in out


@pytest.mark.parametrize("argv,words", [
    (["list", "--env", "maze"], ["unknown env 'maze'", "gridworld"]),
    (["list", "--method", "ppo", "--env", "cartpole"], ["unknown method 'ppo'", "barfi"]),
    (["list", "--method", "barfi", "--env", "cartpole", "--aux", "bonus"],
     ["unknown aux 'bonus'", "pd-agree"]),
    (["list", "--aux", "velocity"], ["--aux needs --env and --method"]),
])
def test_list_bad_name_is_one_line(capsys, argv, words):
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


def test_python_dash_m_barfi_is_the_cli():
    proc = subprocess.run([sys.executable, "-m", "barfi", "list", "--env", "cartpole"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "pd-disagree-noisy" in proc.stdout, proc.stderr


def _grid_point_file(tmp_path, overrides):
    from barfi.study import GridPoint, config_id

    run = resolve_config("gridworld", "none", "reinforce", overrides)
    path = tmp_path / "point.json"
    path.write_text(GridPoint("gridworld", "none", "reinforce", config_id(run.overrides),
                              run).to_json())
    return path, config_id(run.overrides)


def test_train_config_file_is_the_same_run_as_set_and_records_its_id(tmp_path):
    """`--config FILE` (the workflow's) and `--set` (for humans) train the same numbers; only
    the file's runs carry the attribute config_id."""
    import xarray as xr

    point, cid = _grid_point_file(tmp_path, {"episodes": 4, "actor_lr": 1 / 64})
    assert main(["train", "--config", str(point), "--seed", "3", "--out",
                 str(tmp_path / "a.nc"), "--quiet"]) == 0
    assert main(GOOD + ["--set", "episodes=4", "--set", "actor_lr=1/64", "--seed", "3",
                        "--out", str(tmp_path / "b.nc"), "--quiet"]) == 0
    with xr.open_dataset(tmp_path / "a.nc") as a, xr.open_dataset(tmp_path / "b.nc") as b:
        xr.testing.assert_equal(a.drop_vars("wall_time"), b.drop_vars("wall_time"))
        assert a.attrs["config_id"] == cid and "config_id" not in b.attrs


@pytest.mark.parametrize("extra,words", [
    (["--env", "gridworld"], ["--config names the grid point", "--env"]),
    (["--set", "episodes=3"], ["--config names the grid point", "--set"]),
])
def test_train_config_file_stands_alone(tmp_path, capsys, extra, words):
    point, _ = _grid_point_file(tmp_path, {"episodes": 2})
    argv = ["train", "--config", str(point), *extra, "--seed", "1", "--out",
            str(tmp_path / "x.nc")]
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    assert not (tmp_path / "x.nc").exists()


def test_train_needs_config_or_names(tmp_path, capsys):
    out = ["--seed", "1", "--out", str(tmp_path / "x.nc")]
    assert main(["train", "--env", "gridworld", *out]) == EXIT_BAD_INPUT
    assert "--env, --aux and --method are required (or --config FILE)" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"env": "gridworld"}')
    assert main(["train", "--config", str(tmp_path / "bad.json"), *out]) == EXIT_BAD_INPUT
    assert "is not a grid point file" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()


def _grid_point_files(tmp_path, method, grid):
    """GridWorld centre-bonus grid point files of `method` for the override dicts `grid`."""
    from barfi.study import GridPoint, config_id

    paths, points = [], []
    for overrides in grid:
        run = resolve_config("gridworld", "center-bonus", method, overrides)
        point = GridPoint("gridworld", "center-bonus", method, config_id(run.overrides), run)
        path = tmp_path / f"{point.config_id}.json"
        path.write_text(point.to_json())
        paths.append(str(path))
        points.append(point)
    return paths, points


@pytest.mark.parametrize("method,grid", [
    ("reinforce", [{"episodes": 5, "actor_lr": 1e-3}, {"episodes": 5, "actor_lr": 5e-3}]),
    ("barfi", [{"episodes": 7, "first_mul": 0, "lambda_gamma": 0.25, "gamma_lr": 0.0},
               {"episodes": 7, "first_mul": 0, "lambda_gamma": 4.0, "gamma_lr": 5e-3}]),
])
def test_train_grid_points_as_one_block_each_as_alone(tmp_path, method, grid):
    """`--config A --config B --seeds S --runs-dir DIR` (the workflow's packed jobs): grid
    points x seeds in one block, each agent's run file DIR/<config_id>/seed-N.nc bit-identical
    to its configuration trained alone on its seed, carrying its own config_id."""
    import xarray as xr

    paths, points = _grid_point_files(tmp_path, method, grid)
    runs = tmp_path / "runs"
    assert main(["train", *[a for p in paths for a in ("--config", p)], "--seeds", "3-4",
                 "--runs-dir", str(runs), "--quiet"]) == 0
    assert sorted(runs.rglob("*.nc")) == sorted(runs / p.config_id / f"seed-{s}.nc"
                                                for p in points for s in (3, 4))
    for point in points:
        for seed in (3, 4):
            alone = tmp_path / f"alone-{point.config_id}-{seed}.nc"
            assert main(["train", "--env", "gridworld", "--aux", "center-bonus", "--method",
                         method, *[a for k, v in point.overrides.items()
                                   for a in ("--set", f"{k}={v}")],
                         "--seed", str(seed), "--out", str(alone), "--quiet"]) == 0
            with xr.open_dataset(runs / point.config_id / f"seed-{seed}.nc") as a, \
                    xr.open_dataset(alone) as b:
                xr.testing.assert_equal(a.drop_vars("wall_time"), b.drop_vars("wall_time"))
                assert a.attrs["config_id"] == point.config_id and a.attrs["seed"] == seed


@pytest.mark.parametrize("extra,words", [
    (["--runs-dir", "R", "--env", "gridworld"], ["--runs-dir trains the --config", "--env"]),
    (["--runs-dir", "R", "--out-dir", "x"], ["--runs-dir trains the --config", "--out-dir"]),
    (["--runs-dir", "R", "--set", "episodes=3"], ["--runs-dir trains the --config", "--set"]),
    (["--out-dir", "x"], ["several --config train as one block", "--runs-dir"]),
    (["--runs-dir", "R", "SAME"], ["names grid point", "twice"]),
    (["--runs-dir", "R", "OTHER"], ["a block is one env, aux and method"]),
    (["--runs-dir", "R", "STRUCTURE"], ["may differ only in per-agent hyperparameters"]),
])
def test_train_several_grid_points_bad_input_is_one_line(tmp_path, capsys, extra, words):
    paths, _ = _grid_point_files(tmp_path, "reinforce", [{"episodes": 2}, {"episodes": 2,
                                                                           "actor_lr": 0.5}])
    extra = [str(tmp_path / "R") if a == "R" else a for a in extra]
    if "SAME" in extra:
        extra.remove("SAME")
        paths = [paths[0], paths[0]]
    for marker, method, overrides in (("OTHER", "actor-critic", {"episodes": 2, "critic_lr": 0.1}),
                                      ("STRUCTURE", "reinforce", {"episodes": 3})):
        if marker in extra:
            extra.remove(marker)
            paths = paths[:1] + _grid_point_files(tmp_path, method, [overrides])[0]
    argv = ["train", *[a for p in paths for a in ("--config", p)], "--seeds", "1", *extra]
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    assert not (tmp_path / "R").exists() and not (tmp_path / "x").exists()
