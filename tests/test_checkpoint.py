"""Checkpoints hold data only: a resumed run gives the numbers of an uninterrupted one, and a
checkpoint that is truncated, belongs to another configuration or holds a pickled object is
ignored with a warning (never executed), the run starting afresh."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import xarray as xr

from barfi.checkpoint import Checkpointer, decode, encode
from barfi.config import resolve_config
from barfi.train import run_identity, run_key, train

SEEDS = [1, 2]


def numbers(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.drop_vars("wall_time")
    ds.attrs = {k: v for k, v in ds.attrs.items()
                if k not in {"start_time", "end_time", "host", "git_commit", "source_hash"}}
    return ds


def config(method="barfi", **overrides):
    return resolve_config("gridworld", "center-bonus", method,
                          {"episodes": 12, "first_mul": 2, **overrides}
                          if method == "barfi" else {"episodes": 12, **overrides})


class _Marker:
    """Unpickling this writes a file: proof of code execution if the file appears."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_encode_round_trip_is_exact():
    state = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.array(["x", "y"], object),
             "n": np.float64(0.1), "u": np.array([2**63 + 5], np.uint64), 3: (1, [2.5, None]),
             "t": torch.arange(3), "g": np.random.default_rng(4).bit_generator.state}
    back = decode(encode(state))
    np.testing.assert_array_equal(back["a"], state["a"])
    assert back["a"].dtype == np.float32 and back["s"].tolist() == ["x", "y"]
    assert type(back["n"]) is np.float64 and back["n"] == state["n"]
    assert back["u"][0] == 2**63 + 5 and back[3] == (1, [2.5, None]) and back["g"] == state["g"]
    with pytest.raises(TypeError, match="plain types only"):
        encode({"x": object()})


@pytest.mark.parametrize("method", ["barfi", "actor-critic"])
def test_resume_from_a_checkpoint_gives_the_same_numbers(tmp_path, method, monkeypatch):
    """Every episode checkpointed; the run stopped half-way by losing its last states, then
    resumed from a weights_only checkpoint, ends with the numbers of an uninterrupted run."""
    cfg = config(method)
    reference = train(cfg, SEEDS)
    saved = {}
    real_save = Checkpointer.save

    def save(self, key, state):
        if state["next_episode"] <= 6:
            real_save(self, key, state)
            saved["episode"] = state["next_episode"]

    monkeypatch.setattr(Checkpointer, "save", save)
    train(cfg, SEEDS, checkpoint_dir=tmp_path, checkpoint_every_s=1e-9)
    monkeypatch.setattr(Checkpointer, "save", real_save)
    assert saved["episode"] == 6
    payload = torch.load(tmp_path / f"{run_key(cfg, SEEDS)}.pt", weights_only=True)
    assert payload["state"]["next_episode"] == 6
    resumed = train(cfg, SEEDS, checkpoint_dir=tmp_path)
    for ref, res in zip(reference, resumed):
        xr.testing.assert_identical(numbers(ref), numbers(res))


def _write_bad(kind, path, tmp_path):
    cfg = config()
    if kind == "truncated":
        Checkpointer(tmp_path / "good", identity=run_identity(cfg, SEEDS)).save(
            "k", {"x": np.zeros(1000)})
        data = (tmp_path / "good" / "k.pt").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "other config":
        other = config(lambda_gamma=0.5)
        Checkpointer(tmp_path / "other", identity=run_identity(other, SEEDS)).save(
            "k", {"next_episode": 6})
        path.write_bytes((tmp_path / "other" / "k.pt").read_bytes())
    elif kind == "pickled object":
        torch.save({"format": "barfi-checkpoint-2", "state": _Marker(tmp_path / "executed")},
                   path)
    elif kind == "wrong state":
        Checkpointer(path.parent, identity=run_identity(cfg, SEEDS)).save(
            run_key(cfg, SEEDS), {"next_episode": 6, "records": {}, "status": [],
                                  "elapsed": 0.0, "started_at": "", "steps_total": 0,
                                  "learner": {"nonsense": 1}, "streams": {}})


@pytest.mark.parametrize("kind", ["truncated", "other config", "pickled object", "wrong state"])
def test_unusable_checkpoint_is_ignored_with_a_warning(tmp_path, caplog, kind):
    cfg = config()
    reference = train(cfg, SEEDS)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    path = ckpt / f"{run_key(cfg, SEEDS)}.pt"
    _write_bad(kind, path, tmp_path)
    assert path.exists()
    with caplog.at_level(logging.WARNING, logger="barfi.train"):
        fresh = train(cfg, SEEDS, checkpoint_dir=ckpt, checkpoint_every_s=1e9)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("ignoring checkpoint" in w and "starting afresh" in w for w in warnings), warnings
    assert not (tmp_path / "executed").exists(), "loading a checkpoint ran pickled code"
    for ref, res in zip(reference, fresh):
        xr.testing.assert_identical(numbers(ref), numbers(res))
