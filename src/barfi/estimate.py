"""`barfi estimate`: the cost of a workflow config's training jobs, before the sweep runs.

The config is loaded as the workflow loads it (`Study.from_config`: the JSON schema, its
defaults, the grid expansion) and its training jobs are enumerated as the workflow makes them:
the packs of the tuning seeds (grid points x seeds, `barfi.study.packs`), and (selection rule
split) one chosen configuration per env x aux x method on every block of its evaluation seeds.

Each distinct job shape is trained for a few episodes with the real trainer (`barfi.train.train`,
one torch thread, as a workflow job). A shape is (env, method, seeds in the block, every
hyperparameter and env option that is not a float): counts, switches and choices (batch and
buffer sizes, Neumann terms, delta, the solver, ...) change the work of an episode; rates and
weights do not. The first grid point of each shape is timed. A job's cost:

    start-up + episodes x (CPU-seconds per episode of the timed run)

with the grid point's own budget (`episodes`) and the measured CPU-seconds of `import barfi.train`
in a fresh interpreter as start-up. A method with a warm-up schedule (the BARFI family: no
inner learning until episode first_mul + inner_mul) is timed twice, as configured (its warm-up
episodes) and with first_mul = 0 (its learning episodes, counted from the first outer step on),
and each phase is scaled by its own episodes; the first_mul extra inner steps of the first call
are added as first_mul / inner_mul learning episodes.

Times are CPU-seconds of this process (of the child for the start-up), so other work on a shared
machine inflates them little: a shape's counted episodes cost the CPU-seconds of its timed run
less those of a second run of the uncounted first episodes alone. The wall time on N cores
assumes N idle cores and is at least the longest job. The first episodes are not the later
ones: a GridWorld or MountainCar agent that learns ends its episodes sooner, a CartPole agent
that learns lasts longer, up to the horizon.
So a second figure is given as a bound, every episode running to the env's horizon: the timed
CPU-seconds per loop step (the lockstep loop runs as long as the longest episode of the block)
times the horizon.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from barfi.params import ConfigError
from barfi.study import GridPoint, Study, write_text

NOTE = ("extrapolated from short runs of each job shape: 'CPU-h' scales the timed CPU-seconds "
        "per episode by each grid point's episodes (early episodes are longer than late ones in "
        "GridWorld and MountainCar, shorter in CartPole); 'CPU-h at horizon' assumes every "
        "episode runs to the env's horizon (an upper bound on episode length)")


@dataclass(frozen=True)
class Job:
    """One training job of the workflow: a pack of agents (tuning seeds) or one grid point on a
    block of seeds (evaluation seeds)."""

    point: GridPoint
    """the grid point (of a pack: its first, whose structure and budget the others share; of
    an evaluation job, a stand-in: the chosen one is not known yet)"""
    seeds: int
    """agents in the block (seed-runs of the job)"""
    stage: str
    """tuning or evaluation"""

    @property
    def shape(self) -> tuple:
        """What the work of an episode depends on: env, method, seeds in the block and every
        hyperparameter and env option that is not a float (the budget aside)."""
        run = self.point.run
        structural = tuple((f.name, getattr(obj, f.name)) for obj in (run.hp, run.env_options)
                           for f in fields(obj) if f.name != "episodes"
                           and not isinstance(getattr(obj, f.name), float))
        return (self.point.env, self.point.method, self.seeds, structural)


@dataclass(frozen=True)
class Timing:
    """A short run of one grid point on a block of seeds on this machine."""

    env: str
    method: str
    seeds: int
    aux: str
    """the aux reward of the grid point that was timed"""
    config_id: str
    """the grid point that was timed (the first of its shape)"""
    phase: str
    """whole (a method without warm-up), warm-up or learning (first_mul = 0)"""
    episodes: int
    """episodes trained"""
    counted: int
    """the last `counted` of them are timed (the first is a warm-up of torch, in a learning
    run the episodes up to the first outer step are left out)"""
    seconds_per_episode: float
    """CPU-seconds per counted episode of the whole block (one torch thread)"""
    cpu_per_wall: float
    """CPU-seconds per wall second during the run (below 1: the machine was busy)"""
    loop_steps_per_episode: float
    """mean over the counted episodes of the longest episode in the block"""
    horizon: int
    """the env's horizon (most loop steps an episode can take)"""

    def per_episode(self, at_horizon: bool) -> float:
        """CPU-seconds per episode, as timed or with every episode running to the horizon."""
        if not at_horizon:
            return self.seconds_per_episode
        return self.seconds_per_episode * self.horizon / max(self.loop_steps_per_episode, 1.0)


def load_study(configfile: str) -> Study:
    """The study of a workflow config file, loaded as the workflow loads it (a config file stands
    alone; the schema fills its defaults). Raises ConfigError naming what is wrong."""
    path = Path(configfile)
    try:
        config = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"--configfile {configfile!r} is not a readable file "
                          f"({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--configfile {configfile!r} is not YAML "
                          f"({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"--configfile {configfile!r} is not a workflow config; valid: a YAML "
                          "mapping (see config/config.yaml)")
    return Study.from_config(config)


def enumerate_jobs(study: Study) -> list[Job]:
    """Every training job of the study, in the order the workflow knows them: the tuning blocks
    (what `snakemake -n` lists), then the evaluation blocks the selection will add."""
    jobs = [Job(pk.points[0], len(pk.agents), "tuning") for pk in study.tuning_packs()]
    jobs += [Job(p, n, "evaluation") for p, n in study.pending_evaluation_blocks(study.envs)]
    return jobs


def warmup_episodes(hp) -> int:
    """Episodes before inner learning starts (0 for a method without a warm-up schedule)."""
    if not hasattr(hp, "first_mul"):
        return 0
    return min(hp.episodes, hp.first_mul + hp.inner_mul)


def train_cpu(config, seeds: int):
    """Train `config` on seeds 1..`seeds` with one torch thread, as a workflow job: (CPU-seconds
    of this process over the call, wall seconds, the datasets)."""
    import torch

    from barfi.train import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # one core per job, as the workflow's training rule
    try:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        datasets = train(config, list(range(1, seeds + 1)), progress=False)
        return time.process_time() - cpu0, time.perf_counter() - wall0, datasets
    finally:
        torch.set_num_threads(threads)


def time_run(point: GridPoint, seeds: int, episodes: int, skip: int, phase: str,
             extra: dict[str, Any]) -> Timing:
    """Train `point` (with `extra` overrides) on `seeds` seeds for `episodes` episodes and time
    the episodes after the first `skip`. CPU time, not wall time, so that other work on a shared
    machine does not inflate it: the CPU-seconds of the counted episodes are those of the whole
    run less those of a second run of the first `skip` episodes alone (the same work, the same
    seeds). Splitting one run's CPU time by the wall time of its episodes instead would credit
    the counted episodes with the others' CPU whenever the machine's load changed during the
    run (on a busy machine this once put a BARFI shape at nearly 4x its cost)."""
    import numpy as np

    from barfi.config import resolve_config
    from barfi.envs import ENVS

    def config(n: int):
        return resolve_config(point.env, point.aux, point.method,
                              {**point.overrides, **extra, "episodes": n})

    cpu_skip, _, _ = train_cpu(config(skip), seeds)
    cpu_all, wall_all, datasets = train_cpu(config(episodes), seeds)
    counted = episodes - skip
    cpu_counted = cpu_all - cpu_skip
    if cpu_counted <= 0:   # timer noise on a tiny run: fall back to the episodes' share
        cpu_counted = cpu_all * counted / episodes
    longest = np.max([ds["episode_length"].values for ds in datasets], axis=0)
    return Timing(point.env, point.method, seeds, point.aux, point.config_id, phase, episodes,
                  counted, cpu_counted / counted, cpu_all / wall_all,
                  float(np.mean(longest[skip:])), ENVS[point.env].horizon)


def time_shape(job: Job, episodes: int) -> dict[str, Timing]:
    """The timings of a job's shape: {'whole': ...} or {'warm-up': ..., 'learning': ...}."""
    hp = job.point.run.hp
    if not hasattr(hp, "first_mul"):
        return {"whole": time_run(job.point, job.seeds, episodes, 1, "whole", {})}
    timings = {}
    if warmup_episodes(hp) >= 2:
        n = min(episodes, warmup_episodes(hp))
        timings["warm-up"] = time_run(job.point, job.seeds, n, 1, "warm-up", {})
    # With first_mul = 0 the first call with inner steps is at the first multiple of delta
    # past inner_mul; count whole update periods after it.
    first_call = hp.delta * (hp.inner_mul // hp.delta + 1)
    counted = hp.delta * -(-(episodes - 1) // hp.delta)
    timings["learning"] = time_run(job.point, job.seeds, first_call + counted, first_call,
                                   "learning", {"first_mul": 0})
    return timings


def job_seconds(job: Job, timings: dict[str, Timing], startup: float, at_horizon: bool) -> float:
    """CPU-seconds of one job from the timings of its shape."""
    hp = job.point.run.hp
    if "whole" in timings:
        return startup + hp.episodes * timings["whole"].per_episode(at_horizon)
    warm = warmup_episodes(hp)
    learning = timings["learning"].per_episode(at_horizon)
    first_steps = hp.first_mul / hp.inner_mul if getattr(hp, "first_steps", True) else 0.0
    cost = (hp.episodes - warm + (first_steps if hp.episodes > warm else 0.0)) * learning
    if warm:
        cost += warm * timings.get("warm-up", timings["learning"]).per_episode(at_horizon)
    return startup + cost


def startup_seconds() -> float:
    """CPU-seconds a fresh interpreter takes to import the trainer (each job pays it once)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", "import barfi.train"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def summarise(jobs: list[Job], timings: dict[tuple, dict[str, Timing]], startup: float,
              cores: int) -> dict[str, Any]:
    """Per env and in total: jobs, seed-runs, CPU-hours (both estimates), and the wall time;
    CPU-hours per env and method (which methods a sweep's cost is)."""
    envs: dict[str, dict[str, Any]] = {}
    methods: dict[str, dict[str, float]] = {}
    longest_job = 0.0
    for job in jobs:
        cost = job_seconds(job, timings[job.shape], startup, at_horizon=False)
        bound = job_seconds(job, timings[job.shape], startup, at_horizon=True)
        longest_job = max(longest_job, cost)
        row = envs.setdefault(job.point.env, dict(jobs=0, tuning_jobs=0, evaluation_jobs=0,
                                                  seed_runs=0, cpu_hours=0.0,
                                                  cpu_hours_at_horizon=0.0))
        row["jobs"] += 1
        row[f"{job.stage}_jobs"] += 1
        row["seed_runs"] += job.seeds
        row["cpu_hours"] += cost / 3600
        row["cpu_hours_at_horizon"] += bound / 3600
        per_method = methods.setdefault(job.point.env, {})
        per_method[job.point.method] = per_method.get(job.point.method, 0.0) + cost / 3600
    total = {key: sum(row[key] for row in envs.values()) for key in next(iter(envs.values()))}
    # Jobs are single-threaded and indivisible: no schedule beats the longest job.
    wall = max(total["cpu_hours"] / cores, longest_job / 3600)
    wall_bound = total["cpu_hours_at_horizon"] / cores
    return dict(envs=envs, methods=methods, total=total, cores=cores, startup_seconds=startup,
                wall_hours=wall, wall_hours_at_horizon=max(wall_bound, wall),
                timings=[asdict(t) for shape in timings.values() for t in shape.values()],
                note=NOTE)


def format_table(summary: dict[str, Any], configfile: str) -> str:
    """The summary as a text table."""
    head = f"{'env':14s} {'jobs':>8s} {'seed-runs':>10s} {'CPU-h':>10s} {'CPU-h at horizon':>17s}"
    lines = [f"barfi estimate: {configfile}", head, "-" * len(head)]
    rows = [*summary["envs"].items(), ("total", summary["total"])]
    for name, row in rows:
        if name == "total":
            lines.append("-" * len(head))
        lines.append(f"{name:14s} {row['jobs']:8d} {row['seed_runs']:10d} "
                     f"{_hours(row['cpu_hours']):>10s} {_hours(row['cpu_hours_at_horizon']):>17s}")
    lines.append(f"wall time on {summary['cores']} cores: {_hours(summary['wall_hours'])} h "
                 f"(at horizon {_hours(summary['wall_hours_at_horizon'])} h); start-up "
                 f"{summary['startup_seconds']:.1f} s per job included")
    lines.append(f"note: {summary['note']}")
    return "\n".join(lines)


def _hours(value: float) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.3f}"


def check_json_target(path: str) -> None:
    """A --json path must be a file in a writable directory (checked before any timing)."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"--json {path!r} is a directory; valid: a file path")
    existing = target.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--json {path!r} is not in a writable directory")


def estimate(configfile: str, cores: int | None = None, episodes: int = 20,
             json_path: str | None = None, log=None) -> dict[str, Any]:
    """Load, enumerate, time each job shape, summarise; print the table, write --json."""
    cores = (os.cpu_count() or 1) if cores is None else cores
    if cores < 1:
        raise ConfigError(f"--cores {cores} is out of range; valid: >= 1")
    if episodes < 2:
        raise ConfigError(f"--episodes {episodes} is out of range; valid: >= 2 (the first "
                          "episode is a warm-up and is not counted)")
    if json_path is not None:
        check_json_target(json_path)
    study = load_study(configfile)
    jobs = enumerate_jobs(study)
    time_run(jobs[0].point, 1, 2, 1, "whole", {})   # torch's first calls are slow, in any shape
    timings: dict[tuple, dict[str, Timing]] = {}
    for job in jobs:
        if job.shape not in timings:
            timings[job.shape] = time_shape(job, episodes)
            for t in timings[job.shape].values() if log is not None else ():
                log(f"timed {t.env}/{t.method} x{t.seeds} seeds ({t.aux}/{t.config_id}, "
                    f"{t.phase}): {t.seconds_per_episode:.4f} CPU-s per episode, "
                    f"{t.loop_steps_per_episode:.0f} of {t.horizon} loop steps, "
                    f"{t.cpu_per_wall:.2f} CPU/wall")
    summary = summarise(jobs, timings, startup_seconds(), cores)
    summary.update(configfile=configfile, timing_episodes=episodes)
    if json_path is not None:
        write_text(json_path, json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return summary
