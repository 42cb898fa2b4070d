"""Faults: training processes SIGKILLed at random points lose nothing.

- `barfi train` SIGKILLed several times at random points and restarted with the same
  --checkpoint-dir ends with exactly the dataset of an uninterrupted run.
- A sweep of >= 20 tiny runs through the workflow, with a killer thread SIGKILLing random
  `barfi train` processes several times: rerunning the workflow completes, and every run file and
  aggregated dataset equals those of an undisturbed sweep.

The kill schedule is random; its seed is printed (set BARFI_FAULT_SEED to replay one).
Helpers here are also used by tests/test_slurm.py.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import xarray as xr
import yaml

REPO = Path(__file__).resolve().parents[1]

# What says when and where a run happened rather than what it computed: dropped before
# comparing (as attributes, variables or coordinates, at any level). The commit and source hash
# are here because a working tree edited while the test runs changes them without changing the
# numbers (a change that did change them would show in the numbers).
CIRCUMSTANTIAL = {"start_time", "end_time", "host", "wall_time", "torch_threads", "env_steps",
                  "block_seeds", "created", "created_at", "git_commit", "source_hash"}


def fault_seed() -> int:
    seed = int(os.environ.get("BARFI_FAULT_SEED", time.time_ns() % 2**31))
    print(f"kill schedule seed: BARFI_FAULT_SEED={seed}")
    return seed


# ---------------------------------------------------------------- comparing datasets

def numbers(ds: xr.Dataset) -> xr.Dataset:
    """A dataset without its circumstantial variables and attributes."""
    ds = ds.drop_vars([n for n in ds.variables if n in CIRCUMSTANTIAL])
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in CIRCUMSTANTIAL}
    for var in ds.variables.values():
        var.attrs = {k: v for k, v in var.attrs.items() if k not in CIRCUMSTANTIAL}
    return ds


def is_temporary(path: Path) -> bool:
    """A temporary file of an atomic write (hidden, `.tmp` in its name): a SIGKILL between
    writing and renaming it leaves one behind, and it must never pass for a run file."""
    return path.name.startswith(".") and ".tmp" in path.name


def nc_files(root: Path, under: str = "data") -> dict[str, Path]:
    """Every NetCDF file under root/under but temporaries, by path relative to root."""
    return {str(p.relative_to(root)): p for p in sorted((root / under).rglob("*.nc"))
            if not is_temporary(p)}


def assert_same_numbers(a: Path, b: Path) -> None:
    with xr.open_dataset(a, engine="h5netcdf") as da, xr.open_dataset(b, engine="h5netcdf") as db:
        da, db = numbers(da.load()), numbers(db.load())
    try:
        xr.testing.assert_identical(da, db)
    except AssertionError as exc:
        raise AssertionError(f"{a} and {b} differ:\n{exc}") from None


def assert_same_data(root_a: Path, root_b: Path) -> int:
    """The two working directories hold the same set of .nc files under data/, with identical
    numbers; returns how many files were compared."""
    fa, fb = nc_files(root_a), nc_files(root_b)
    assert sorted(fa) == sorted(fb), (sorted(set(fa) ^ set(fb)))
    assert fa, f"no .nc file under {root_a}/data"
    for rel in fa:
        assert_same_numbers(fa[rel], fb[rel])
    return len(fa)


# ---------------------------------------------------------------- running the workflow

def workflow_config(tmp: Path, **changes) -> Path:
    """config/ci.yaml with top-level sections updated by `changes` (dicts are merged one level
    deep), written to tmp/config.yaml."""
    config = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_cmd(workdir: Path, configfile: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(configfile), "--nocolor", *args]


def run_snakemake(workdir: Path, configfile: Path, *args: str, timeout: float = 600,
                  check: bool = True, env: dict | None = None,
                  on_start=None) -> subprocess.CompletedProcess:
    """Run Snakemake on the project's workflow in `workdir`; its log goes to workdir/*.log."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"snakemake-{time.strftime('%H%M%S')}-{time.monotonic_ns() % 10**6}.log"
    with open(log, "w") as out:
        # cwd too, not only --directory: the SLURM plugin puts its logs relative to the cwd.
        proc = subprocess.Popen(snakemake_cmd(workdir, configfile, *args), stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=workdir,
                                start_new_session=True)
        if on_start:
            on_start(proc)
        try:
            rc = proc.wait(timeout=timeout)
        except BaseException as exc:  # a time-out, or the test run interrupted
            # SIGTERM lets Snakemake cancel its jobs (scancel on SLURM) before it exits.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
            raise AssertionError(f"snakemake ran over {timeout} s; log: {log}\n"
                                 + log.read_text()[-4000:]) from None
    text = log.read_text()
    if check and rc != 0:
        raise AssertionError(f"snakemake exited {rc}; log: {log}\n{text[-6000:]}")
    return subprocess.CompletedProcess(proc.args, rc, text, "")


# ---------------------------------------------------------------- killing training processes

def is_barfi_train(proc: psutil.Process) -> bool:
    """A Python process running `barfi train` (the console script or `-m barfi.cli train`), not
    a shell or wrapper whose command line merely mentions it."""
    try:
        argv = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    if not argv or not Path(argv[0]).name.startswith("python"):
        return False
    for i, arg in enumerate(argv[1:-1], start=1):
        if (Path(arg).name == "barfi" or (arg == "barfi.cli" and argv[i - 1] == "-m")) \
                and argv[i + 1] == "train":
            return True
    return False


def checkpoint_written_since(proc: psutil.Process) -> bool:
    """The process has written a checkpoint into its --checkpoint-dir since it started, i.e. it
    is inside its training loop."""
    try:
        argv, cwd, started = proc.cmdline(), proc.cwd(), proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    if "--checkpoint-dir" not in argv:
        return False
    directory = Path(cwd) / argv[argv.index("--checkpoint-dir") + 1]
    try:
        return any(p.stat().st_mtime >= started for p in directory.glob("*.pt"))
    except FileNotFoundError:
        return False


class Killer(threading.Thread):
    """SIGKILLs `barfi train` processes that descend from the watched process (never anybody
    else's), until it has killed `kills` of them. Each new process is, at random, spared (with
    probability 1 - p), or killed at a random age in [min_age, max_age] seconds (anywhere: in
    the imports, the loop or the writing of its files), or killed a random 0-0.5 s after its
    first checkpoint (surely inside the training loop)."""

    def __init__(self, rng: random.Random, kills: int, min_age: float = 0.5,
                 max_age: float = 6.0, p: float = 0.6):
        super().__init__(daemon=True)
        self.rng, self.target, self.min_age, self.max_age, self.p = rng, kills, min_age, max_age, p
        self.root_pid: int | None = None
        self.killed: list[str] = []
        # pid -> ("age", seconds) | ("checkpoint", delay, first seen) | None (spared)
        self.plan: dict[int, tuple | None] = {}
        self._halt = threading.Event()

    def watch(self, proc: subprocess.Popen) -> None:
        self.root_pid = proc.pid

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def run(self) -> None:
        while not self._halt.is_set() and len(self.killed) < self.target:
            if self.root_pid is not None:
                self._tick()
            self._halt.wait(0.02)

    def _decide(self) -> tuple | None:
        if self.rng.random() >= self.p:
            return None
        if self.rng.random() < 0.5:
            return ("age", self.rng.uniform(self.min_age, self.max_age))
        return ("checkpoint", self.rng.uniform(0.0, 0.5), None)

    def _tick(self) -> None:
        try:
            children = psutil.Process(self.root_pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        now = time.time()
        for child in children:
            if child.pid not in self.plan and not is_barfi_train(child):
                continue
            plan = self.plan.setdefault(child.pid, self._decide())
            if plan is None:
                continue
            try:
                age = now - child.create_time()
                if plan[0] == "age":
                    due, what = age >= plan[1], f"at age {age:.1f} s"
                else:
                    seen = plan[2]
                    if seen is None and checkpoint_written_since(child):
                        seen = now
                        self.plan[child.pid] = plan = ("checkpoint", plan[1], seen)
                    due = seen is not None and now - seen >= plan[1]
                    what = f"{plan[1]:.2f} s after its first checkpoint (age {age:.1f} s)"
                if due:
                    child.send_signal(signal.SIGKILL)
                    self.plan[child.pid] = None
                    self.killed.append(f"SIGKILL {what}: {' '.join(child.cmdline()[3:11])}")
                    if len(self.killed) >= self.target:
                        return
            except psutil.NoSuchProcess:
                self.plan[child.pid] = None


# ---------------------------------------------------------------- the tests

def _train_cmd(out_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "barfi.cli", "train", "--env", "gridworld",
            "--aux", "center-bonus", "--method", "barfi", "--seeds", "1-2",
            "--set", "episodes=400", "--out-dir", str(out_dir), "--quiet", *extra]


def test_sigkill_at_random_points_then_resume_gives_the_same_dataset(tmp_path):
    rng = random.Random(fault_seed())
    start = time.monotonic()
    reference = subprocess.run(_train_cmd(tmp_path / "ref"), capture_output=True, text=True,
                               timeout=600)
    duration = time.monotonic() - start
    assert reference.returncode == 0, reference.stderr

    ckpt = tmp_path / "ckpt"
    cmd = _train_cmd(tmp_path / "out", "--checkpoint-dir", str(ckpt), "--checkpoint-every", "0.1")
    kills, resumed, log = 0, 0, []
    def newest_checkpoint() -> int:
        return max((p.stat().st_mtime_ns for p in ckpt.glob("*.pt")), default=0)

    for attempt in range(12):
        before = newest_checkpoint()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        if kills < 3:
            # A random point after this process's training is under way (it has written a
            # checkpoint, so the kill lands in the loop rather than in the imports); or, once,
            # anywhere from the start.
            if kills == 0 and rng.random() < 0.5:
                delay, waited = rng.uniform(0.0, duration), "start"
            else:
                deadline = time.monotonic() + 300
                while (newest_checkpoint() <= before and proc.poll() is None
                       and time.monotonic() < deadline):
                    time.sleep(0.02)
                delay, waited = rng.uniform(0.0, 1.5), "first checkpoint of this process"
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                log.append(f"attempt {attempt}: SIGKILL {delay:.2f} s after the {waited}")
        _, err = proc.communicate(timeout=600)
        resumed += "resumed" in err
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err
    else:
        pytest.fail("the run never completed:\n" + "\n".join(log))
    print("\n".join(log))
    print(f"survived {kills} SIGKILLs of barfi train ({resumed} restarts resumed from a checkpoint)")
    assert kills >= 2, "the run ended before it could be killed twice; make it longer"
    assert resumed >= 1, "no restart resumed from a checkpoint"
    assert not list(ckpt.glob("*.pt")), "checkpoint left after the run files were written"
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    leftovers = [n for n in names if is_temporary(Path(n))]
    assert sorted(set(names) - set(leftovers)) == ["seed-1.nc", "seed-2.nc"], names
    if leftovers:  # a kill between writing and renaming a run file; hidden, never a run file
        print(f"temporary files left by a kill during a write: {leftovers}")
    for seed in (1, 2):
        assert_same_numbers(tmp_path / "ref" / f"seed-{seed}.nc",
                            tmp_path / "out" / f"seed-{seed}.nc")


@pytest.mark.slow
def test_sweep_survives_random_sigkills(tmp_path):
    """>= 20 runs; a killer SIGKILLs several training jobs at random points; rerunning the
    workflow completes with the data of an undisturbed sweep."""
    rng = random.Random(fault_seed())
    # config/ci.yaml's grid (10 configurations x 2 tuning seeds, packed into blocks of at most 4
    # agents: 20 runs in 6 training jobs), with more episodes and frequent checkpoints so that kills land inside
    # training loops as well as elsewhere.
    config = workflow_config(
        tmp_path,
        train={"checkpoint_every": 0.2},
    )
    grid = yaml.safe_load(config.read_text())
    for env in grid["envs"].values():
        env.setdefault("fixed", {})["episodes"] = 300
    config.write_text(yaml.safe_dump(grid, sort_keys=False))
    # The tuning half of the workflow: 6 training jobs (20 runs) and their aggregation. (Going
    # on through
    # the selection checkpoint would double the time; `--until` past a checkpoint also trips
    # Snakemake's "out of jobs ready" error.)
    targets = ["data/aggregated/gridworld.tuning.nc"]
    cores = ["--cores", "2"]

    clean = tmp_path / "clean"
    start = time.monotonic()
    run_snakemake(clean, config, *cores, *targets)
    clean_s = time.monotonic() - start
    runs = list((clean / "data" / "runs").rglob("*.nc"))
    assert len(runs) >= 20, f"only {len(runs)} runs; the fault sweep needs at least 20"
    # Kill ages are drawn within the shortest job's lifetime as measured in the clean pass, so
    # that on a faster machine or with faster code the jobs still live long enough to be killed.
    lifetimes = [float(b.read_text().splitlines()[1].split("\t")[0])
                 for b in (clean / "logs").rglob("*.benchmark.tsv")]
    assert lifetimes, "no benchmark files from the clean pass"

    faulty = tmp_path / "faulty"
    killer = Killer(rng, kills=6, min_age=0.3, max_age=max(0.5, 0.9 * min(lifetimes)), p=0.8)
    killer.start()
    passes, start = [], time.monotonic()
    try:
        for _ in range(8):
            result = run_snakemake(faulty, config, *cores, *targets, "--keep-going",
                                   "--rerun-incomplete", check=False, on_start=killer.watch)
            passes.append(result.returncode)
            if result.returncode == 0:
                break
    finally:
        killer.stop()
    faulty_s = time.monotonic() - start
    assert passes and passes[-1] == 0, f"the workflow never completed: exit codes {passes}"

    print("\n".join(killer.killed))
    resumed = sum("resumed" in p.read_text() for p in (faulty / "logs").rglob("*.log"))
    print(f"survived {len(killer.killed)} SIGKILLs of barfi train in a sweep of {len(runs)} runs: "
          f"{len(passes)} workflow passes, {resumed} training logs show a resume; "
          f"undisturbed {clean_s:.0f} s, disturbed {faulty_s:.0f} s")
    assert len(killer.killed) >= 3, "fewer than 3 kills happened; the jobs are too short"
    assert not list(faulty.rglob("*.pt")), "checkpoints left after every run file was written"
    leftovers = [str(p.relative_to(faulty)) for p in (faulty / "data").rglob("*")
                 if p.is_file() and is_temporary(p)]
    if leftovers:  # harmless (hidden, never listed as runs), but worth seeing
        print(f"temporary files left by kills during a write: {leftovers}")
    compared = assert_same_data(clean, faulty)
    print(f"{compared} datasets identical to the undisturbed sweep")
