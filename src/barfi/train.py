"""The lockstep training loop: a block of seeds of one configuration, trained in one process.

Every agent (seed) has its own parameters, optimiser state, buffer and random streams; the loop
steps all of them together so that numpy and torch work on whole batches. An agent whose episode
has ended is masked (its further steps are ignored); an agent whose parameters or losses become
NaN or infinite is marked `diverged` and its later episodes are recorded as NaN.

A run can be interrupted at any point and resumed: with a checkpoint directory the loop saves its
whole state (learner, random streams, records, counters) periodically and when it receives
SIGTERM, SIGUSR1 or SIGINT, and on start it resumes from a checkpoint of the same run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import xarray as xr

from barfi.aux_rewards import AUX_REWARDS
from barfi.checkpoint import Checkpointer
from barfi.config import RunConfig, block_configs
from barfi.dataset import build_dataset, now_iso, provenance
from barfi.envs import ENVS
from barfi.learners import EpisodeBatch, make_learner
from barfi.rng import BlockStreams
from barfi.stopping import stop_requests

log = logging.getLogger("barfi.train")

class Interrupted(RuntimeError):
    """Training stopped by a signal after saving a checkpoint; rerun to resume."""


class Progress:
    """One status line (episode, mean primary return, env steps/s), redrawn at most once a second.
    Silent unless the stream is a terminal, so logs and cluster outputs stay clean."""

    def __init__(self, total: int, label: str, stream=None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.label = total, label
        self._last = 0.0

    def update(self, episode: int, mean_return: float, steps_per_s: float, force: bool = False):
        now = time.monotonic()
        if not self.enabled or (now - self._last < 1.0 and not force):
            return
        self._last = now
        self.stream.write(f"\r{self.label} episode {episode}/{self.total}  "
                          f"return {mean_return:9.2f}  {steps_per_s:9.0f} steps/s ")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def run_identity(config: RunConfig | Sequence[RunConfig], seeds: Sequence[int]) -> str:
    """Everything that determines a block's numbers, as text (saved in its checkpoints); a
    block of one config has the same identity as before per-agent configs existed."""
    configs = block_configs(config, len(seeds))
    attrs = [c.to_attrs() for c in configs]
    ident = attrs[0] if all(a == attrs[0] for a in attrs) else attrs
    return json.dumps([ident, list(seeds)], sort_keys=True, default=str)


def run_key(config: RunConfig | Sequence[RunConfig], seeds: Sequence[int]) -> str:
    """Checkpoint key of a block: a hash of its identity."""
    return "block-" + hashlib.sha256(run_identity(config, seeds).encode()).hexdigest()[:16]


@dataclass
class BlockState:
    """What the loop has recorded so far; a checkpoint saves it with the learner and streams."""

    records: dict[str, np.ndarray]
    """per-episode records, name -> (B, episodes), NaN where not (yet) recorded"""
    status: np.ndarray
    """(B,) object: "completed" or "diverged" per seed"""
    next_episode: int = 0
    """index of the next episode to run"""
    elapsed: float = 0.0
    """seconds of training before the last checkpoint (a resumed run's clock starts there)"""
    started_at: str = field(default_factory=now_iso)
    """when the run first started"""
    steps_total: int = 0
    """env steps taken by every agent together"""

    @classmethod
    def fresh(cls, num_agents: int, episodes: int) -> "BlockState":
        records = {name: np.full((num_agents, episodes), np.nan)
                   for name in ("primary_return", "aux_return", "episode_length", "wall_time")}
        return cls(records, np.array(["completed"] * num_agents, dtype=object))

    @classmethod
    def restore(cls, saved: dict[str, Any], learner: Any, streams: BlockStreams) -> "BlockState":
        """The state of a checkpoint, whose learner and streams states are loaded into `learner`
        and `streams`; raises (KeyError, ValueError, ...) if the checkpoint does not fit."""
        state = cls(*(saved[f.name] for f in fields(cls)))
        learner.load_state_dict(saved["learner"])
        streams.set_state(saved["streams"])
        return state

    def snapshot(self, learner: Any, streams: BlockStreams) -> dict[str, Any]:
        """Everything a checkpoint saves."""
        return dict(learner=learner.state_dict(), streams=streams.get_state(),
                    **{f.name: getattr(self, f.name) for f in fields(self)})


def run_episode(env: Any, learner: Any, aux: Any, streams: BlockStreams, spec: Any
                ) -> EpisodeBatch:
    """One lockstep episode of every agent, padded to horizon + 1 steps. Past an agent's end
    every array is zero, so its record never depends on its block mates."""
    B, H = learner.num_agents, spec.horizon
    is_discrete = spec.n_actions is not None
    # Fresh arrays each episode: learners may keep an EpisodeBatch in a buffer.
    obs_buf = np.zeros((B, H + 1, spec.obs_dim))
    act_buf = np.zeros((B, H + 1), np.int64) if is_discrete else \
        np.zeros((B, H + 1, spec.action_dim))
    rp_buf = np.zeros((B, H + 1))
    raux_buf = np.zeros((B, H + 1))
    length = np.zeros(B, np.int64)
    terminated = np.zeros(B, bool)
    running = np.ones(B, bool)

    obs = env.reset(streams["env"])
    aux_noise = streams.uniform("aux", (H,))
    learner.begin_episode()
    obs_buf[:, 0] = obs
    partial = False            # some agents finished: the learner may skip their features
    for t in range(H):
        actions = learner.act(obs, t, running) if partial else learner.act(obs, t)
        if not is_discrete:
            # A diverged agent's NaN actions must not reach the simulator.
            actions = np.nan_to_num(actions, nan=0.0, posinf=0.0, neginf=0.0)
        next_obs, r_p, term, trunc, info = env.step(actions)
        r_aux = aux(obs, actions, next_obs, term, info, aux_noise[:, t])
        # Written for every agent; what finished agents wrote is cleared below.
        act_buf[:, t] = actions
        rp_buf[:, t] = r_p
        raux_buf[:, t] = r_aux
        obs_buf[:, t + 1] = next_obs
        length += running
        terminated |= running & term
        running &= ~(term | trunc)
        obs = next_obs
        live = np.count_nonzero(running)
        if live == 0:
            break
        partial = live < B
    steps = np.arange(H + 1)[None, :]
    mask = (steps < length[:, None]).astype(np.float64)
    obs_buf = np.where((steps <= length[:, None])[..., None], obs_buf, 0.0)
    act_buf = np.where(mask.reshape(mask.shape + (1,) * (act_buf.ndim - 2)) > 0,
                       act_buf, 0).astype(act_buf.dtype)
    return EpisodeBatch(obs=obs_buf, actions=act_buf, r_p=np.where(mask > 0, rp_buf, 0.0),
                        r_aux=np.where(mask > 0, raux_buf, 0.0), mask=mask,
                        terminated=terminated, length=length)


def record_episode(records: dict[str, np.ndarray], index: int, batch: EpisodeBatch,
                   metrics: dict[str, np.ndarray], elapsed: float, alive: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """Write episode `index` of the agents still alive into `records` (a learner's metric gets
    its record on first sight); returns this episode's values, (B,) each."""
    episodes = records["primary_return"].shape[1]
    values = {"primary_return": batch.r_p.sum(1), "aux_return": batch.r_aux.sum(1),
              "episode_length": batch.length.astype(np.float64),
              "wall_time": np.full(len(alive), elapsed)}
    for name, value in metrics.items():
        if name not in records:
            records[name] = np.full((len(alive), episodes), np.nan)
        values[name] = np.asarray(value, dtype=np.float64)
    for name, value in values.items():
        records[name][alive, index] = value[alive]
    return values


def mark_diverged(state: BlockState, index: int, seeds: Sequence[int], learner: Any,
                  values: dict[str, np.ndarray], metrics: dict[str, np.ndarray],
                  alive: np.ndarray) -> np.ndarray:
    """The agents that become non-finite (parameters or losses) at episode `index`: marked
    `diverged`, with their records from `index` on NaN. Returns them as a (B,) bool mask."""
    finite = learner.finite() & np.all(
        [np.isfinite(v) for k, v in values.items() if k in metrics] or [True], axis=0)
    newly = alive & ~finite
    for i in np.flatnonzero(newly):
        log.warning("seed %d diverged at episode %d (non-finite parameters or "
                    "losses); its later episodes are NaN", seeds[i], index)
        state.status[i] = "diverged"
        for arr in state.records.values():
            arr[i, index:] = np.nan
    return newly


def block_datasets(configs: Sequence[RunConfig], seeds: Sequence[int], state: BlockState,
                   learner: Any, device: str,
                   extra_attrs: dict[str, Any] | Sequence[dict[str, Any]] | None
                   ) -> list[xr.Dataset]:
    """One run dataset per seed: its records, the learner's final records and provenance."""
    finished_at = now_iso()
    final = learner.final_records()
    attrs = provenance(device)
    attrs.update(start_time=state.started_at, end_time=finished_at,
                 block_seeds=",".join(map(str, seeds)),
                 env_steps=int(state.steps_total), torch_threads=torch.get_num_threads())
    per_agent = (list(extra_attrs) if isinstance(extra_attrs, (list, tuple))
                 else [extra_attrs or {}] * len(seeds))
    datasets = []
    for i, seed in enumerate(seeds):
        per_episode = {name: arr[i] for name, arr in state.records.items()}
        final_i = {name: (dims, values[i]) for name, (dims, values) in final.items()}
        datasets.append(build_dataset(configs[i], seed, per_episode, final_i,
                                      {**attrs, **per_agent[i], "status": state.status[i]}))
    return datasets


def train(config: RunConfig | Sequence[RunConfig], seeds: Sequence[int], device: str = "cpu",
          checkpoint_dir: Path | str | None = None, checkpoint_every_s: float = 300.0,
          progress: bool | None = None,
          extra_attrs: dict[str, Any] | Sequence[dict[str, Any]] | None = None
          ) -> list[xr.Dataset]:
    """Train one configuration on a block of seeds in lockstep; one dataset per seed.
    `config` may be a list, one per seed, of configurations that differ only in per-agent
    hyperparameters (`barfi.config.block_configs`); each seed's numbers are those of its
    configuration run alone, up to float32 rounding below.

    The same block gives the same numbers. A seed run inside another block can differ by the
    rounding of torch's CPU sigmoid, which treats a tensor's last elements (past its vector
    chunks) differently: BARFI's gamma_phi, HalfCheetah's policy mean (README, "Determinism").
    Raises `Interrupted` after checkpointing when a stop signal arrives. `extra_attrs` (such as
    the workflow's `config_id`) are added to every dataset's attributes; a list gives one dict
    per seed.
    """
    seeds = list(seeds)
    configs = block_configs(config, len(seeds))
    config = configs[0]                  # the structural values the whole block shares
    spec = ENVS[config.env]
    aux = AUX_REWARDS[config.env][config.aux]
    streams = BlockStreams(seeds)
    learner = make_learner(configs, spec, streams, device)
    env = spec.make_batched(len(seeds), config.env_options)
    state = BlockState.fresh(len(seeds), config.hp.episodes)

    checkpointer = (Checkpointer(Path(checkpoint_dir), checkpoint_every_s,
                                 run_identity(configs, seeds)) if checkpoint_dir else None)
    key = run_key(configs, seeds)
    if checkpointer and (saved := checkpointer.load(key)) is not None:
        try:
            state = BlockState.restore(saved, learner, streams)
            log.info("resumed %s at episode %d from %s", key, state.next_episode,
                     checkpointer.path(key))
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            log.warning("ignoring checkpoint %s: its state does not fit this run (%s: %s); "
                        "starting afresh", checkpointer.path(key), type(exc).__name__, exc)
            streams = BlockStreams(seeds)      # the failed load may have changed both
            learner = make_learner(configs, spec, streams, device)

    progress_line = Progress(config.hp.episodes, f"{config.env}/{config.aux}/{config.method}",
                             enabled=progress)
    t0 = time.monotonic() - state.elapsed
    alive = state.status == "completed"
    with stop_requests() as stop:
        for index in range(state.next_episode, config.hp.episodes):
            batch = run_episode(env, learner, aux, streams, spec)
            state.steps_total += int(batch.length.sum())
            metrics = learner.end_episode(batch, index)
            elapsed = time.monotonic() - t0
            values = record_episode(state.records, index, batch, metrics, elapsed, alive)
            if config.hp.nan_guard:
                alive &= ~mark_diverged(state, index, seeds, learner, values, metrics, alive)
            progress_line.update(index + 1, float(np.nanmean(values["primary_return"])),
                                 state.steps_total / max(elapsed, 1e-9))
            if checkpointer and (stop["signal"] is not None or checkpointer.due()):
                state.next_episode, state.elapsed = index + 1, elapsed
                checkpointer.save(key, state.snapshot(learner, streams))
            if stop["signal"] is not None:
                progress_line.close()
                signum, stop["signal"] = stop["signal"], None  # consumed
                raise Interrupted(f"stopped by signal {signal.Signals(signum).name} "
                                  f"after episode {index + 1}; checkpoint "
                                  f"{checkpointer.path(key) if checkpointer else 'not kept'}")
            if not alive.any():
                log.warning("every seed of the block diverged; stopping at episode %d", index)
                break
    progress_line.close()
    return block_datasets(configs, seeds, state, learner, device, extra_attrs)


def run_block(config: RunConfig | Sequence[RunConfig], seeds: Sequence[int],
              out_paths: Sequence[Path | str],
              device: str = "cpu", checkpoint_dir: Path | str | None = None,
              checkpoint_every_s: float = 300.0, progress: bool | None = None,
              extra_attrs: dict[str, Any] | Sequence[dict[str, Any]] | None = None
              ) -> list[Path]:
    """Train a block and write one run file per seed (atomically); the checkpoint is removed
    only after every file is in place, so a kill at any moment loses at most the work since the
    last checkpoint."""
    from barfi.dataset import write_dataset

    for path in map(Path, out_paths):
        # Temporaries of a write that a kill interrupted (atomic_path names them like this).
        for stale in path.parent.glob(f".{path.name}.*.tmp*"):
            stale.unlink(missing_ok=True)
    datasets = train(config, seeds, device, checkpoint_dir, checkpoint_every_s, progress,
                     extra_attrs)
    paths = [write_dataset(ds, p) for ds, p in zip(datasets, out_paths)]
    if checkpoint_dir:
        Checkpointer(Path(checkpoint_dir)).clear(run_key(config, seeds))
    return paths

