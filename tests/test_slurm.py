"""The workflow on a real SLURM cluster through profiles/slurm.

A session fixture brings up a one-node SLURM from Debian's packages with ci/slurm/cluster.sh
(munged, slurmctld, slurmd; accounting off, so `sacct` fails as on clusters without slurmdbd and
the profile's squeue status check is what makes the run finish), and stops every daemon it
started by PID at the end, checking that none is left.

- the tiny grid (config/ci.yaml) through the slurm profile gives the same run files and aggregated
  datasets as a local run (numbers identical; host, times and the like ignored);
- a training job requeued while it runs (what preemption in REQUEUE mode does: SIGTERM, back to
  the queue, started again) resumes from its checkpoint and ends with the numbers of an
  uninterrupted run.

Skipped, with the reason, where the machine cannot run a cluster: not root, SLURM or munge not
installed (`ci/slurm/cluster.sh install`), or a SLURM controller of someone else's already
answering. BARFI_REQUIRE_SLURM=1 (set by CI) turns each of those skips into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from test_faults import REPO, assert_same_data, is_barfi_train, run_snakemake, workflow_config

CLUSTER = REPO / "ci" / "slurm" / "cluster.sh"
PROFILE = REPO / "profiles" / "slurm"
DAEMONS = ("munged", "slurmctld", "slurmd")
# The first status check 5 s after submission instead of the profile's 20, to keep the test
# short; squeue stays the status command (the plugin would only fall back to sacct if MinJobAge,
# 300 s here, were below 3 x 5 s).
FAST = ["--slurm-init-seconds-before-status-checks", "5"]



def test_profile_settings():
    """What docs/cluster.md promises about profiles/slurm (no cluster needed)."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    # Where accounting is off, sacct fails and the plugin would wait forever: squeue, and a
    # first-check delay small enough that the plugin keeps squeue with SLURM's default
    # MinJobAge of 300 s (it falls back to sacct below 3 x the delay).
    assert profile["slurm-status-command"] == "squeue"
    assert 3 * int(profile["slurm-init-seconds-before-status-checks"]) <= 300
    assert profile["slurm-requeue"] is True and int(profile["retries"]) >= 1
    resources = profile["default-resources"]
    assert {"slurm_partition", "slurm_account", "runtime", "mem_mb"} <= set(resources)
    assert "--signal=USR1@" in resources["slurm_extra"]
    assert "attempt" in str(resources["runtime"]) and "attempt" in str(resources["mem_mb"])
    # Every key is commented: above it, past any keys sharing the comment, a comment line.
    lines = (PROFILE / "config.yaml").read_text().splitlines()
    for key in profile:
        i = next(n for n, line in enumerate(lines) if line.startswith(f"{key}:"))
        while i > 0 and lines[i - 1] and not lines[i - 1].startswith("#"):
            i -= 1
        assert i > 0 and lines[i - 1].startswith("#"), f"{key} has no comment"
    for key in profile["default-resources"]:
        i = next(n for n, line in enumerate(lines) if line.startswith(f"  {key}:"))
        assert lines[i - 1].lstrip().startswith("#"), f"default-resources: {key} has no comment"


def test_profile_dry_run_from_repository_root(tmp_path):
    """`snakemake --profile profiles/slurm` as documented, from the repository root: the profile
    parses, its settings are valid options of the installed plugin, the DAG builds."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "--dry-run",
         "--configfile", "config/ci.yaml", "--directory", str(tmp_path), "--quiet", "rules"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "BARFI_SLURM_PARTITION": "somewhere", "BARFI_SLURM_ACCOUNT": "someone"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "train_" in result.stdout + result.stderr


def cannot_run(reason: str):
    if os.environ.get("BARFI_REQUIRE_SLURM") == "1":
        pytest.fail(f"SLURM test cannot run: {reason} (BARFI_REQUIRE_SLURM=1)")
    pytest.skip(f"SLURM test cannot run: {reason}")


def sh(*cmd: str, timeout: float = 60, check: bool = True, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    if os.geteuid() != 0:
        cannot_run("needs root (it writes /etc/slurm/slurm.conf and runs the SLURM daemons)")
    missing = [p for p in ("/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged")
               if not os.access(p, os.X_OK)]
    missing += [b for b in ("sbatch", "squeue", "sinfo", "scontrol") if not shutil.which(b)]
    if missing:
        cannot_run(f"{', '.join(missing)} not installed (Debian: `ci/slurm/cluster.sh install`, "
                   "i.e. apt-get install slurm-wlm munge)")
    running = [p.pid for p in psutil.process_iter(["name"])
               if p.info["name"] in ("slurmctld", "slurmd")]
    if running or sh("timeout", "5", "sinfo", "-h", check=False).returncode == 0:
        cannot_run(f"a SLURM cluster already runs on this machine (daemon pids {running}); not "
                   "starting another or touching that one")

    # SLURM_CI_STATE (PID files, daemon output) lets a caller such as .ci/run stop the daemons
    # with `ci/slurm/cluster.sh down` even if this process dies before its teardown.
    state = Path(os.environ.get("SLURM_CI_STATE") or tmp_path_factory.mktemp("slurm-state"))
    state.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SLURM_CI_STATE": str(state)}
    start = time.monotonic()
    up = subprocess.run(["bash", str(CLUSTER), "up"], capture_output=True, text=True, env=env,
                        timeout=300)
    pids = {name: int((state / f"{name}.pid").read_text())
            for name in DAEMONS if (state / f"{name}.pid").exists()}
    try:
        assert up.returncode == 0, f"cluster.sh up failed:\n{up.stdout}\n{up.stderr}"
        print(f"\nSLURM up in {time.monotonic() - start:.1f} s, daemons {pids}")
        yield {"state": state, "pids": pids}
    finally:
        down = subprocess.run(["bash", str(CLUSTER), "down"], capture_output=True, text=True,
                              env=env, timeout=300)
        left = [f"{name} (pid {pid})" for name, pid in pids.items() if alive(pid)]
        assert down.returncode == 0, f"cluster.sh down failed:\n{down.stdout}\n{down.stderr}"
        assert not left, f"daemons still running after cluster.sh down: {left}"


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_cluster_runs_a_job(slurm_cluster, tmp_path):
    assert set(slurm_cluster["pids"]) == set(DAEMONS)
    assert all(alive(pid) for pid in slurm_cluster["pids"].values())
    assert "idle" in sh("sinfo", "-h", "-N", "-o", "%t").stdout
    job = sh("sbatch", "--parsable", "-t", "1", "--mem", "100", "-o", str(tmp_path / "out"),
             "--wrap", "echo hello from $SLURM_JOB_ID", cwd=tmp_path).stdout.strip()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = sh("squeue", "-h", "--states=all", "-j", job, "-o", "%T").stdout.strip()
        if state == "COMPLETED":
            break
        time.sleep(0.5)
    assert state == "COMPLETED"
    assert (tmp_path / "out").read_text().strip() == f"hello from {job}"
    # Accounting is off here, as on clusters without slurmdbd: sacct fails, which is why the
    # profile checks job status with squeue.
    assert sh("sacct", "-X", "-n", check=False).returncode != 0


@pytest.mark.slow
def test_tiny_grid_through_slurm_profile_equals_local_run(slurm_cluster, tmp_path):
    config = workflow_config(tmp_path)
    start = time.monotonic()
    run_snakemake(tmp_path / "local", config, "--cores", "2", timeout=900)
    local_s = time.monotonic() - start
    start = time.monotonic()
    # --max-threads: the test node has only os.cpu_count() CPUs, and a job asking for more
    # (the aggregation asks for 4 threads) would stay pending for ever.
    result = run_snakemake(tmp_path / "slurm", config, "--profile", str(PROFILE), *FAST,
                           "--max-threads", str(os.cpu_count()), timeout=900)
    slurm_s = time.monotonic() - start
    submitted = result.stdout.count("has been submitted with SLURM jobid")
    assert submitted >= 10, f"only {submitted} jobs went through SLURM:\n{result.stdout[-3000:]}"
    assert "Falling back to 'sacct'" not in result.stdout, "the plugin fell back to sacct"
    compared = assert_same_data(tmp_path / "local", tmp_path / "slurm")
    print(f"{submitted} SLURM jobs, {compared} datasets identical to the local run; "
          f"local {local_s:.0f} s, SLURM {slurm_s:.0f} s")


def _long_training_config(tmp_path: Path) -> Path:
    """One training job (a pack: two configurations x two seeds) that runs long enough (about 2 s of CPU for the imports,
    then about 20 s of training on the machine we measured) to be interrupted in the middle. No periodic checkpoint: a resume can only come from the checkpoint that
    `barfi train` writes when SLURM signals it."""
    return workflow_config(
        tmp_path,
        seeds={"tuning": "1-2", "evaluation": "3-4", "block_size": 4},
        train={"checkpoint_every": 100000},
        envs={"gridworld": {"aux": ["center-bonus"], "fixed": {"episodes": 4000},
                            "methods": {"reinforce": {"actor_lr": [1.0e-3, 5.0e-3]}}}},
    )


def _train_rules(workdir: Path, config: Path) -> list[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(workdir), "--configfile", str(config), "--list-rules"],
        capture_output=True, text=True, cwd=workdir, timeout=120)
    rules = [r.strip() for r in listed.stdout.splitlines() if r.strip().startswith("train_")]
    assert rules, f"no train_* rule listed:\n{listed.stdout}\n{listed.stderr}"
    return rules


def _training_process(workdir: Path) -> psutil.Process | None:
    for proc in psutil.process_iter():
        try:
            if is_barfi_train(proc) and Path(proc.cwd()) == workdir:
                return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def _when_training(workdir: Path, proc: subprocess.Popen, cpu_s: float, deadline: float):
    """The `barfi train` process in workdir once it has used cpu_s seconds of CPU (past its
    imports, inside the training loop, whatever the machine's load), or None."""
    while time.monotonic() < deadline and proc.poll() is None:
        train = _training_process(workdir)
        try:
            if train and sum(train.cpu_times()[:2]) >= cpu_s:
                return train
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    return None


def _our_job() -> str:
    jobs = sh("squeue", "-h", "-o", "%i %T").stdout.strip().splitlines()
    running = [line.split()[0] for line in jobs if line.endswith(" RUNNING")]
    assert len(running) == 1, jobs
    return running[0]


def _requeue(job: str, deadline: float, events: list[str]) -> None:
    """What preemption in REQUEUE mode does: SIGTERM to the job's processes, back to the queue
    under the same id. Then let it start again at once (SLURM holds a requeued job ~2 min)."""
    sh("scontrol", "requeue", job)
    while time.monotonic() < deadline:
        state = sh("squeue", "-h", "-j", job, "-o", "%T %r").stdout.strip()
        if not events or events[-1] != state:
            events.append(state)
        if state.startswith("PENDING"):
            sh("scontrol", "update", f"jobid={job}", "starttime=now")
            return
        time.sleep(0.2)


def _warn(job: str, deadline: float, events: list[str]) -> None:
    """What `--signal=USR1@120` does before the time limit: SIGUSR1 to the job's steps."""
    sh("scancel", "--signal=USR1", job)
    events.append("SIGUSR1 sent")


@pytest.mark.slow
@pytest.mark.parametrize("interrupt", ["requeue", "usr1"])
def test_interrupted_training_job_resumes_from_its_checkpoint(slurm_cluster, tmp_path, interrupt):
    """requeue: the job is requeued (preemption), SIGTERMed, started again and resumes.
    usr1: the job gets the pre-time-limit SIGUSR1, checkpoints and exits 75, the job fails, and
    the profile's retries resubmit it, which resumes. Either way the run files equal those of an
    uninterrupted local run."""
    config = _long_training_config(tmp_path)
    workdir = tmp_path / "slurm"
    workdir.mkdir()
    until = ["--until", *_train_rules(workdir, config)]
    events: list[str] = []
    errors: list[BaseException] = []

    def interrupt_once(proc):
        try:
            deadline = time.monotonic() + 300
            train = _when_training(workdir, proc, cpu_s=4.0, deadline=deadline)
            if train is None:
                return
            job = _our_job()
            events.append(f"job {job}: barfi train pid {train.pid} at "
                          f"{sum(train.cpu_times()[:2]):.1f} s CPU")
            (_requeue if interrupt == "requeue" else _warn)(job, deadline, events)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    def watch(proc):
        threading.Thread(target=interrupt_once, args=(proc,), daemon=True).start()

    start = time.monotonic()
    result = run_snakemake(workdir, config, "--profile", str(PROFILE), *FAST, *until,
                           timeout=900, on_start=watch)
    slurm_s = time.monotonic() - start
    print(" -> ".join(events))
    assert not errors, errors
    assert len(events) >= 2, "the job finished before it could be interrupted"
    slurm_logs = "".join(p.read_text() for p in (workdir / "logs" / "slurm").rglob("*.log"))
    if interrupt == "requeue":
        assert "DUE TO JOB REQUEUE" in slurm_logs, slurm_logs[-3000:]
    else:
        assert result.stdout.count("has been submitted with SLURM jobid") == 2, result.stdout
    # Snakemake deletes a job's log before running it, so the train log is the last attempt's.
    logs = "".join(p.read_text() for p in (workdir / "logs" / "train").rglob("*.log"))
    assert "resumed" in logs, f"the job did not resume from its checkpoint:\n{logs}"
    print([line for line in logs.splitlines() if "resumed" in line][0])
    assert not list(workdir.rglob("*.pt")), "checkpoint left behind"

    run_snakemake(tmp_path / "local", config, "--cores", "2", *until, timeout=900)
    compared = assert_same_data(tmp_path / "local", workdir)
    print(f"{interrupt}: resumed, {compared} run files identical to an uninterrupted local run; "
          f"SLURM run {slurm_s:.0f} s")
