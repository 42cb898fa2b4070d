"""Bad input stops before any training: one line naming the bad key and what is valid, exit 2,
and no file written."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from barfi.cli import EXIT_BAD_INPUT, main

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
