"""The training loop: determinism, per-agent independence inside a block, learning beats a random
policy, divergence is recorded, and a run stopped by a signal resumes to the same numbers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import xarray as xr

from barfi import train as train_module
from barfi.config import resolve_config
from barfi.dataset import read_dataset
from barfi.train import train

# Attributes that describe when and where a run happened, not what it computed.
CIRCUMSTANTIAL = {"start_time", "end_time", "host", "block_seeds", "env_steps", "git_commit",
                  "source_hash", "torch_threads"}


def numbers(ds: xr.Dataset) -> xr.Dataset:
    """What a run computed: everything but wall-clock time and circumstantial attributes."""
    ds = ds.drop_vars("wall_time")
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in CIRCUMSTANTIAL}
    return ds


def gw(method="reinforce", aux="none", **overrides):
    return resolve_config("gridworld", aux, method, {"episodes": 30, **overrides})


def test_same_seed_same_numbers():
    a = train(gw(), [3])
    b = train(gw(), [3])
    xr.testing.assert_identical(numbers(a[0]), numbers(b[0]))
    assert a[0].attrs["seed"] == 3 and a[0].attrs["status"] == "completed"
    for key in ("env", "aux", "method", "hp_actor_lr", "version_torch", "git_commit", "host",
                "cpu_model", "device", "start_time", "end_time", "source_hash"):
        assert key in a[0].attrs, key
    assert set(a[0].data_vars) >= {"primary_return", "aux_return", "episode_length", "wall_time"}
    assert np.all(np.diff(a[0].wall_time.values) >= 0)


def test_different_seeds_differ():
    a, b = train(gw(), [1, 2])
    assert not np.array_equal(a.primary_return.values, b.primary_return.values)


@pytest.mark.parametrize("env,aux,method", [
    ("gridworld", "center-bonus", "reinforce"),
    ("gridworld", "distance", "actor-critic"),
    ("mountaincar", "bang-bang", "reinforce-pbrs"),
    ("cartpole", "pd-agree", "reinforce"),
])
def test_seed_in_a_block_equals_seed_alone(env, aux, method):
    """Per-agent independence: a seed's numbers do not depend on the other seeds of its block
    (up to floating-point order, which here leaves the sampled actions unchanged)."""
    episodes = {"mountaincar": 3, "cartpole": 20}.get(env, 20)
    config = resolve_config(env, aux, method, {"episodes": episodes})
    block = train(config, [5, 6, 7])
    alone = train(config, [6])[0]
    np.testing.assert_array_equal(block[1].episode_length.values, alone.episode_length.values)
    np.testing.assert_allclose(block[1].primary_return.values, alone.primary_return.values,
                               rtol=1e-9)
    np.testing.assert_allclose(block[1].aux_return.values, alone.aux_return.values, rtol=1e-6)


def test_reinforce_beats_random_policy_on_gridworld():
    seeds = [1, 2, 3, 4]
    learned = train(gw(episodes=300), seeds)
    # A learning rate of ~0 keeps the initial uniform softmax policy: a random policy.
    random = train(gw(episodes=300, actor_lr=1e-12), seeds)
    last = slice(-100, None)
    learned_mean = np.mean([ds.primary_return.values[last].mean() for ds in learned])
    random_mean = np.mean([ds.primary_return.values[last].mean() for ds in random])
    assert learned_mean > random_mean + 10.0, (learned_mean, random_mean)


def test_divergence_is_recorded_and_isolated(monkeypatch):
    """Poison agent 1's parameters at episode 5: it is marked diverged with NaN from there on,
    and the other agents carry on exactly as without it."""
    real_make = train_module.make_learner

    def poisoned_make(config, spec, streams, device):
        learner = real_make(config, spec, streams, device)
        end_episode = learner.end_episode

        def end(batch, index):
            out = end_episode(batch, index)
            if index == 5:
                with torch.no_grad():
                    for p in learner.parameters():
                        p[1] = float("nan")
            return out
        learner.end_episode = end
        return learner

    monkeypatch.setattr(train_module, "make_learner", poisoned_make)
    a, b = train(gw(), [1, 2])
    monkeypatch.setattr(train_module, "make_learner", real_make)
    alone = train(gw(), [1])[0]
    assert a.attrs["status"] == "completed" and b.attrs["status"] == "diverged"
    assert np.isnan(b.primary_return.values[5:]).all()
    assert np.isfinite(b.primary_return.values[:5]).all()
    np.testing.assert_allclose(a.primary_return.values, alone.primary_return.values)


def _cli(tmp_path, *extra):
    return [sys.executable, "-m", "barfi.cli", "train", "--env", "gridworld", "--aux",
            "center-bonus", "--method", "reinforce", "--seeds", "1-3", "--set", "episodes=400",
            "--checkpoint-dir", str(tmp_path / "ckpt"), "--quiet", *extra]


def test_sigterm_checkpoints_and_resume_gives_the_same_numbers(tmp_path):
    reference = subprocess.run(_cli(tmp_path, "--out-dir", str(tmp_path / "ref")),
                               capture_output=True, text=True)
    assert reference.returncode == 0, reference.stderr
    proc = subprocess.Popen(_cli(tmp_path, "--out-dir", str(tmp_path / "resumed"),
                                 "--checkpoint-every", "0.2"),
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    # A periodic checkpoint shows the loop (and its signal handlers) is running.
    while not list((tmp_path / "ckpt").glob("*.pt")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err
    assert "checkpoint" in err
    assert not (tmp_path / "resumed" / "seed-1.nc").exists()
    assert list((tmp_path / "ckpt").glob("*.pt"))
    again = subprocess.run(_cli(tmp_path, "--out-dir", str(tmp_path / "resumed")),
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "resumed" in again.stderr
    assert not list((tmp_path / "ckpt").glob("*.pt")), "checkpoint removed after the run files"
    for seed in (1, 2, 3):
        ref = read_dataset(tmp_path / "ref" / f"seed-{seed}.nc")
        res = read_dataset(tmp_path / "resumed" / f"seed-{seed}.nc")
        xr.testing.assert_identical(numbers(ref), numbers(res))
    assert not [p for p in os.listdir(tmp_path / "resumed") if p.startswith(".")]


class _Stream:
    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_line_only_on_a_terminal():
    for tty in (True, False):
        stream = _Stream(tty)
        progress = train_module.Progress(100, "gridworld/none/reinforce", stream=stream)
        progress.update(10, -4.5, 12345.0, force=True)
        progress.close()
        if tty:
            assert "episode 10/100" in stream.text and "-4.50" in stream.text
            assert "12345 steps/s" in stream.text
        else:
            assert stream.text == ""


def test_a_signal_during_start_up_is_not_lost(tmp_path):
    """SIGTERM before torch has even been imported: the run still stops at its first episode
    boundary with a checkpoint (exit 75), rather than dying without one."""
    proc = subprocess.Popen(_cli(tmp_path, "--out-dir", str(tmp_path / "out")),
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # past the CLI's first line (~0.2 s), inside torch's import (~1-2 s)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err
    assert "stopped by signal SIGTERM" in err
    assert list((tmp_path / "ckpt").glob("*.pt"))


def test_source_hash_skips_excluded_folders_and_files(tmp_path):
    """The workflow's training hash leaves out the analysis library and the cost estimate: a
    change there reruns no training job, a change anywhere else does."""
    from barfi.dataset import source_hash as cached

    source_hash = cached.__wrapped__     # the package's is cached per process; read afresh
    (tmp_path / "analysis").mkdir()
    files = {"train.py": "a = 1\n", "estimate.py": "b = 1\n", "analysis/report.py": "c = 1\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    exclude = ("analysis", "estimate.py")
    before = source_hash(tmp_path, exclude=exclude)
    (tmp_path / "estimate.py").write_text("b = 2\n")
    (tmp_path / "analysis" / "report.py").write_text("c = 2\n")
    assert source_hash(tmp_path, exclude=exclude) == before
    assert source_hash(tmp_path) != source_hash(tmp_path, exclude=exclude)
    (tmp_path / "train.py").write_text("a = 2\n")
    assert source_hash(tmp_path, exclude=exclude) != before
