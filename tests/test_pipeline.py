"""The Snakemake workflow and the DVC stage, end to end, on the tiny grid of config/ci.yaml.

Every test works in a copy of the working tree under pytest's tmp dir (never in the checkout),
with PYTHONPATH pointing at the copy's src/ so that the jobs run the copied code. The end-to-end
tests are marked `slow` but run by the default `pytest` (CI included); this file takes about
3-4 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from barfi.study import Study
from test_study import _with   # the bad-config cases are built as in tests/test_study.py

REPO = Path(__file__).resolve().parents[1]
SKIP_PARTS = {".git", ".snakemake", "data", "reports", "logs", "__pycache__", ".pytest_cache",
              ".venv", "build", "dist"}

pytestmark = pytest.mark.skipif(
    shutil.which("snakemake") is None or shutil.which("dvc") is None,
    reason="snakemake or dvc missing: pip install -e '.[pipeline]'")


# ---------------------------------------------------------------------------- helpers
def _source_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files of the checkout (the working tree as it is)."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        files = [f for f in out.splitlines() if f]
    except (OSError, subprocess.SubprocessError):
        files = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file()]
    return [f for f in files
            if not (set(Path(f).parts[:-1]) & SKIP_PARTS) and (REPO / f).is_file()
            and not f.endswith(".egg-info") and ".egg-info/" not in f]


def copy_tree(dest: Path, source: Path = REPO) -> Path:
    """Copy the working tree of the checkout (or of an earlier copy `source`, without the
    workflow's outputs) to `dest`."""
    if source == REPO:
        files = _source_files()
    else:
        files = [str(p.relative_to(source)) for p in source.rglob("*")
                 if p.is_file() and not (set(p.relative_to(source).parts[:-1]) & SKIP_PARTS)]
    dest.mkdir(parents=True, exist_ok=True)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, target)
    return dest


def env_for(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("SNAKEMAKE_PROFILE", None)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def without_installation_on_path(env: dict[str, str]) -> dict[str, str]:
    """`env` with no directory on PATH that holds this installation's interpreter or its
    `barfi` and `snakemake` commands: a venv that is not activated, Snakemake started by its
    full path (as schedulers and wrappers do)."""
    own = {str(Path(sys.executable).parent)}
    dirs = [d for d in env.get("PATH", "").split(os.pathsep)
            if d and d not in own and not any(shutil.which(c, path=d) for c in ("barfi",
                                                                               "snakemake"))]
    return {**env, "PATH": os.pathsep.join(dirs or ["/usr/bin", "/bin"])}


def run(cmd: list[str], cwd: Path, timeout: float = 600, bare_path: bool = False
        ) -> subprocess.CompletedProcess:
    env = env_for(cwd)
    return subprocess.run(cmd, cwd=cwd, env=without_installation_on_path(env) if bare_path else env,
                          capture_output=True, text=True, timeout=timeout)


def snakemake(cwd: Path, *args: str, timeout: float = 600, bare_path: bool = False
              ) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "snakemake", *args], cwd, timeout, bare_path)


def dvc(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], cwd, timeout)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run: rule -> number of jobs."""
    counts, in_table = {}, False
    for line in output.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            m = re.match(r"^(\S+)\s+(\d+)$", line.strip())
            if m and m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
            elif line.strip().startswith("total"):
                break
    return counts


def train_jobs(counts: dict[str, int]) -> int:
    return sum(n for rule, n in counts.items() if rule.startswith("train_"))


def ci_config() -> dict:
    return yaml.safe_load((REPO / "config" / "ci.yaml").read_text())


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A fresh copy of the working tree, shared by the quick tests (they write nothing)."""
    return copy_tree(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """config/ci.yaml run for real through the local profile in a copy of the tree, with
    nothing of this installation on PATH (the jobs must run the workflow's interpreter)."""
    root = copy_tree(tmp_path_factory.mktemp("ci_run"))
    proc = snakemake(root, "--profile", "profiles/local", "--cores", "2",
                     "--configfile", "config/ci.yaml", bare_path=True)
    return root, proc


# ---------------------------------------------------------------------------- quick tests
def test_lint(tree):
    for config in ("config/ci.yaml", "config/config.yaml"):
        proc = snakemake(tree, "--lint", "--configfile", config, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Congratulations" in proc.stdout + proc.stderr
        assert "Lints for" not in proc.stdout + proc.stderr


def test_dry_run_ci(tree):
    proc = snakemake(tree, "-n", "--configfile", "config/ci.yaml", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = job_counts(proc.stdout)
    cfg = ci_config()["envs"]["gridworld"]
    n_configs = 2 + 1 + 2            # reinforce x2, actor-critic, barfi x2 (config/ci.yaml)
    assert len(cfg["aux"]) == 2 and set(cfg["methods"]) == {"reinforce", "actor-critic", "barfi"}
    # Before the selection checkpoint only the tuning jobs are known: per aux reward one pack
    # per method (block_size 4 = 2 configurations x 2 tuning seeds).
    assert train_jobs(counts) == len(cfg["aux"]) * 3
    assert counts.get("grid_point") == len(cfg["aux"]) * n_configs
    for rule in ("config_table", "select_tuning", "select", "report", "all"):
        assert counts.get(rule) == 1, (rule, counts)
    # One aggregate rule, two stages: the tuning runs (split) and every run.
    assert counts.get("aggregate") == 2 and counts.get("run_list") == 2, counts
    assert not (tree / "data" / "runs").exists()
    # The shell line of a training job: its grid points' files, the tuning seeds, the folder
    # of their run files, a checkpoint directory outside the outputs.
    proc = snakemake(tree, "-n", "-p", "--configfile", "config/ci.yaml", timeout=120)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "barfi train" in ln]
    assert lines and all("--seeds 1-2 --runs-dir data/runs/gridworld/" in ln
                         and "--checkpoint-dir data/checkpoints/" in ln
                         and "--set" not in ln for ln in lines)
    reinforce = Study.from_config(ci_config()).cell("gridworld", "none").points["reinforce"]
    assert sorted(reinforce) == ["21c5ea45", "8acabae8"]
    assert any("--config data/configs/gridworld/none/reinforce/21c5ea45.json --config "
               "data/configs/gridworld/none/reinforce/8acabae8.json" in ln
               or "--config data/configs/gridworld/none/reinforce/8acabae8.json --config "
               "data/configs/gridworld/none/reinforce/21c5ea45.json" in ln for ln in lines)
    # The published single-set rule: no selection checkpoint, no evaluation runs.
    cfg = ci_config()
    cfg["selection"]["rule"] = "single"
    (tree / "single.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tree, "-n", "--configfile", "single.yaml", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = job_counts(proc.stdout)
    assert "select_tuning" not in counts and counts.get("aggregate") == 1, counts
    assert train_jobs(counts) == len(cfg["envs"]["gridworld"]["aux"]) * 3
    assert "The run involves checkpoint jobs" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("config", ["config/config.yaml", "config/paper.yaml",
                                    "config/reproduce.yaml"])
def test_shipped_configs_are_valid(tree, config):
    """Every grid point of the default and the published config passes resolve_config (the
    grid is expanded and checked when the workflow is parsed; only the tables are built)."""
    proc = snakemake(tree, "data/grid.tsv", "-n", "--configfile", config, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# A few of the bad-config cases of tests/test_study.py, end to end: one from the schema, one
# from the grid expansion, one from the claims (checked by the report rules).
GW = "envs.gridworld"
BAD_CONFIGS = {
    "unknown hyperparameter": (_with(ci_config(), f"{GW}.methods.barfi.lambda_gama", [1, 2]),
                               f"{GW}.methods.barfi.lambda_gama",
                               "unknown hyperparameter 'lambda_gama'"),
    "negative seed": (_with(ci_config(), "seeds.tuning", -1), "seeds.tuning",
                      "less than the minimum of 0"),
    "claim on an unknown method": (_with(ci_config(), "claims.0.method", "barfy"), "claims",
                                   "(barfi-near-best-misaligned).method: unknown method"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_rejected_before_any_job(tmp_path, case):
    cfg, key, message = BAD_CONFIGS[case]
    root = tmp_path
    shutil.copy2(REPO / "Snakefile", root / "Snakefile")
    shutil.copytree(REPO / "workflow", root / "workflow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "bad.yaml").write_text(yaml.safe_dump(cfg))
    proc = run([sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "bad.yaml"],
               root, timeout=120)
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("barfi config error at ")]
    assert len(errors) == 1, proc.stdout + proc.stderr
    assert errors[0].startswith(f"barfi config error at {key}: "), errors[0]
    assert message in errors[0], errors[0]
    assert not (root / "data").exists() and not (root / "logs").exists()


def test_nested_config_override_has_its_yaml_type(tmp_path):
    """`--config 'seeds={tuning: 5-6, block_size: 1}'`: nested values typed as in a config file
    (Snakemake alone reads them all as strings), and a bad one named in one line."""
    root = copy_tree(tmp_path / "tree")
    proc = snakemake(root, "data/grid.tsv", "--cores", "1", "--configfile", "config/ci.yaml",
                     "--config", "seeds={tuning: 5-6, evaluation: 7, block_size: 1}", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = (root / "data" / "grid.tsv").read_text().splitlines()
    assert rows[1].split("\t")[4:6] == ["5-6", "7"], rows[1]
    # A grid point's file: what its training jobs read (`barfi train --config`).
    point = "data/configs/gridworld/none/barfi/9c6109c1.json"
    proc = snakemake(root, point, "--cores", "1", "--configfile", "config/ci.yaml", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((root / point).read_text()) == {
        "env": "gridworld", "aux": "none", "method": "barfi", "config_id": "9c6109c1",
        "overrides": {"episodes": 30, "first_mul": 3, "lambda_gamma": 1.0}}
    proc = snakemake(root, "data/configs/gridworld/none/barfi/00000000.json", "--cores", "1",
                     "--configfile", "config/ci.yaml", timeout=120)
    assert proc.returncode != 0 and "is not a grid point of this config" in proc.stderr
    bad = snakemake(root, "-n", "--configfile", "config/ci.yaml",
                    "--config", "selection={last: many}", timeout=120)
    errors = [ln for ln in (bad.stdout + bad.stderr).splitlines() if ln.startswith("barfi config")]
    assert bad.returncode != 0 and errors == [
        "barfi config error at selection.last: 'many' is not of type 'integer'"], bad.stderr


# ---------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_ci_grid_end_to_end(ci_run):
    root, proc = ci_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    bare = without_installation_on_path(env_for(root))["PATH"]
    assert shutil.which("barfi", path=bare) is None and shutil.which("snakemake", path=bare) is None
    # The cost, before the first job: 2 aux x 3 methods tuning packs now (20 runs), 2 aux x 3
    # methods evaluation blocks after the selection; 2.5 s start-up per job + 30 episodes x 3.8
    # ms per run.
    cost = [ln for ln in proc.stderr.splitlines() if ln.startswith("barfi: ")]
    assert cost and cost[0].startswith(
        "barfi: 6 training jobs (20 seed runs) to run now, up to 6 more (12 seed runs) on the "
        "evaluation seeds after the selection; at most about 34 CPU-seconds of training"), cost
    assert "jobs here train up to 4 agents" in cost[0], cost
    assert proc.stderr.index(cost[0]) < proc.stderr.index("rule train_"), "printed before a job"
    import xarray as xr

    cfg = ci_config()
    runs = sorted((root / "data" / "runs").rglob("seed-*.nc"))
    # tuning: 2 aux x 5 configs x 2 seeds; evaluation: 2 aux x 3 methods (chosen config) x 2
    assert len(runs) == 2 * 5 * 2 + 2 * 3 * 2
    assert not list((root / "data" / "runs").rglob("*.tmp*"))
    # Every run records its config id (read by the aggregation), the name of its directory.
    for path in runs:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            assert ds.attrs["config_id"] == path.parent.name, path
    # The choice recorded in the selection, and its evaluation runs on disk.
    with xr.open_dataset(root / "data" / "selection" / "gridworld.nc", engine="h5netcdf") as sel:
        assert sel.attrs["rule"] == "split"
        assert sel.attrs["tuning_seeds"] == "1-2" and sel.attrs["eval_seeds"] == "3-4"
        best = sel["best_config"].transpose("aux", "method").values
        for i, aux in enumerate(sel["aux"].values):
            for j, method in enumerate(sel["method"].values):
                cid = str(best[i, j])
                base = root / "data" / "runs" / "gridworld" / str(aux) / str(method)
                assert (base / cid / "seed-3.nc").is_file() and (base / cid / "seed-4.nc").is_file()
                others = [d for d in base.iterdir() if d.name != cid]
                assert all(not (d / "seed-3.nc").exists() for d in others)
        assert int(sel["n_eval_runs"].min()) == 2
    with xr.open_dataset(root / "data" / "aggregated" / "gridworld.nc", engine="h5netcdf") as agg:
        assert set(agg["aux"].values) == set(cfg["envs"]["gridworld"]["aux"])
        assert agg.sizes["seed"] == 4 and agg.sizes["episode"] == 30
    # Config tables.
    configs = (root / "data" / "configs.tsv").read_text().splitlines()
    assert configs[0].startswith("config_id\t") and len(configs) == 1 + 5
    # The env's own table (what its aggregation checks): here the only env, so the same rows.
    assert (root / "data" / "configs" / "gridworld.tsv").read_text().splitlines() == configs
    grid = (root / "data" / "grid.tsv").read_text().splitlines()
    assert len(grid) == 1 + 2 * 5
    # The report.
    reports = root / "reports"
    summary = json.loads((reports / "summary.json").read_text())
    assert summary
    readme = (reports / "README.md").read_text()
    for stem in ("curves_gridworld_none_bootstrap", "curves_gridworld_center-bonus_se-ema",
                 "gamma-phi_gridworld", "sensitivity_gridworld_barfi", "phi-maps_gridworld_none"):
        assert (reports / f"{stem}.png").is_file() and (reports / f"{stem}.pdf").is_file()
        assert stem in readme
    claims = (reports / "claims.md").read_text()        # the config's claim, evaluated
    assert "## barfi-near-best-misaligned: " in claims and "| gridworld | center-bonus |" in claims
    assert "barfi-near-best-misaligned" in readme and "A quick grid" in readme
    for table in ("summary", "probability_of_improvement", "selected_configs"):
        for ext in ("md", "csv", "tex"):
            assert (reports / f"{table}.{ext}").is_file()
    # Checkpoints are not outputs and are cleared after a completed block.
    assert not list((root / "data").glob("checkpoints/**/*.pt"))
    # Nothing left to do.
    again = snakemake(root, "-n", "--configfile", "config/ci.yaml", timeout=120)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.fixture(scope="module")
def html_report(ci_run) -> Path:
    """`snakemake --report` of the CI run."""
    root, proc = ci_run
    assert proc.returncode == 0
    out = snakemake(root, "--configfile", "config/ci.yaml", "--report", "reports/report.html",
                    timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return root / "reports" / "report.html"


@pytest.mark.slow
def test_html_report(html_report):
    html = html_report.read_text(errors="replace")
    for category in ("Learning curves", "Tables", "Configuration", "GridWorld phi maps"):
        assert category in html


def _browser() -> str:
    """Debian's chromium, which Playwright drives (its own browser download cannot be fetched on
    these machines); BARFI_REQUIRE_BROWSER=1 (set by CI) turns its absence into a failure."""
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright missing: pip install -e '.[test]'"
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if reason is None and path is None:
        reason = "no chromium on PATH: apt-get install chromium"
    if reason is None:
        return path
    if os.environ.get("BARFI_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test cannot run: {reason} (BARFI_REQUIRE_BROWSER=1)")
    pytest.skip(f"browser test cannot run: {reason}")


# Every image result of the report, decoded by the browser: [path, width, height].
DECODE_IMAGES = """async () => Promise.all(Object.entries(results)
    .filter(([, r]) => r.mime_type.startsWith("image/"))
    .map(([path, r]) => new Promise(done => {
        const img = new Image();
        img.onload = () => done([path, img.naturalWidth, img.naturalHeight]);
        img.onerror = () => done([path, 0, 0]);
        img.src = r.data_uri;
    })))"""


@pytest.mark.slow
def test_html_report_gallery_in_a_browser(html_report):
    """The HTML report opened in a real headless browser: the app renders without a script
    error, its results menu has every category of the report's captions, each category opens
    on its figures, and every figure embedded in it decodes as an image."""
    from playwright.sync_api import sync_playwright

    executable = _browser()
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(html_report.as_uri())
            categories = page.evaluate("() => categories")
            menu = page.inner_text("body")          # rendered text, not the script sources
            for category in ("Learning curves", "GridWorld phi maps", "Sensitivity", "Tables"):
                assert category in categories and category in menu, (category, menu[:500])
            page.get_by_text("Learning curves", exact=True).click()
            page.wait_for_timeout(500)
            listed = page.inner_text("body")
            curves = [Path(f).stem for f in categories["Learning curves"]["gridworld"]]
            assert curves and all(c.removeprefix("curves_gridworld_") in listed for c in curves)
            images = page.evaluate(DECODE_IMAGES)
        finally:
            browser.close()
    assert not errors, errors
    pngs = sorted(f"reports/{p.name}" for p in html_report.parent.glob("*.png"))
    assert sorted(path for path, _, _ in images) == pngs and len(pngs) >= 10
    assert all(width > 100 and height > 100 for _, width, height in images), images


@pytest.mark.slow
def test_changes_rerun_exactly_the_affected_jobs(ci_run):
    """A hyperparameter change reruns its grid points only; an analysis-code change reruns no
    training; a training-code change reruns every training job."""
    root, proc = ci_run
    assert proc.returncode == 0
    # A new lambda_gamma value: one new configuration x 2 aux rewards. It reruns the packs
    # that changed (barfi's, whose 3 configurations x 2 seeds no longer fit one block of 4),
    # and no other training job.
    cfg = ci_config()
    cfg["envs"]["gridworld"]["methods"]["barfi"]["lambda_gamma"] = [0.25, 1, 2]
    (root / "changed.yaml").write_text(yaml.safe_dump(cfg))
    dry = snakemake(root, "-n", "--configfile", "changed.yaml")
    counts = job_counts(dry.stdout)
    old = {pk.pack_id for pk in Study.from_config(ci_config()).tuning_packs()}
    changed = [pk for pk in Study.from_config(cfg).tuning_packs() if pk.pack_id not in old]
    assert changed and {pk.method for pk in changed} == {"barfi"}
    assert train_jobs(counts) == len(changed), counts
    assert counts.get("grid_point") == 2, counts
    assert counts.get("aggregate") == 2, counts          # the tuning stage, then the final one
    # The config tables rerun, saying so in a line of hashes, not the whole grid.
    reasons = [ln for ln in (dry.stdout + dry.stderr).splitlines() if "Params have changed" in ln]
    assert len(reasons) == 2 and all(len(ln) < 250 for ln in reasons), reasons
    # A new env: its training and analysis only; gridworld's aggregation and selection stay.
    cfg = ci_config()
    cfg["envs"]["mountaincar"] = {"aux": ["velocity"], "fixed": {"episodes": 12},
                                  "methods": {"reinforce": None}}
    (root / "two-envs.yaml").write_text(yaml.safe_dump(cfg))
    counts = job_counts(snakemake(root, "-n", "--configfile", "two-envs.yaml").stdout)
    assert train_jobs(counts) == 1, counts
    for rule in ("env_config_table", "select_tuning", "select"):
        assert counts.get(rule) == 1, (rule, counts)
    assert counts.get("aggregate") == 2, counts          # both stages of the new env
    # Analysis code: aggregation, selection and report rerun, no training.
    analysis = root / "src" / "barfi" / "analysis" / "stats.py"
    original = analysis.read_text()
    try:
        analysis.write_text(original + "\n# changed\n")
        counts = job_counts(snakemake(root, "-n", "--configfile", "config/ci.yaml").stdout)
        assert train_jobs(counts) == 0, counts
        assert counts.get("aggregate") == 2 and counts.get("report") == 1, counts
    finally:
        analysis.write_text(original)
    # Training code: every training job. The dry run lists the tuning blocks; the evaluation
    # blocks join the DAG when the selection checkpoint has run again on the new tuning runs.
    learner = root / "src" / "barfi" / "envs" / "gridworld.py"
    original = learner.read_text()
    try:
        learner.write_text(original + "\n# changed\n")
        counts = job_counts(snakemake(root, "-n", "--configfile", "config/ci.yaml").stdout)
        assert train_jobs(counts) == 2 * 3, counts
        assert counts.get("select_tuning") == 1, counts
    finally:
        learner.write_text(original)
    counts = job_counts(snakemake(root, "-n", "--configfile", "config/ci.yaml").stdout)
    assert train_jobs(counts) == 0


def test_retrain_check_finds_equal_and_altered_run_files(ci_run, tmp_path):
    """results/reproduce/retrain_check.py retrains whole training jobs of a study: the CI
    run's BARFI pack and evaluation block come out equal; a copy of the study with one altered
    value is reported, naming the file and the variable; an unknown cell is one line, exit
    status 2."""
    import xarray as xr

    root, proc = ci_run
    assert proc.returncode == 0
    script = [sys.executable, str(REPO / "results" / "reproduce" / "retrain_check.py")]
    cell = "gridworld/center-bonus/barfi"
    ok = subprocess.run(script + ["--study", str(root), "--cell", cell, "--jobs", "9"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    # 2 configurations x 2 tuning seeds in one pack, then the chosen one's block of 2
    # evaluation seeds: two jobs, 6 run files, each retrained as it ran.
    assert len(lines) == 2 and all(ln.startswith(cell) and ln.endswith(": equal") for ln in lines)
    assert sorted(int(re.search(r"(\d+) run files", ln).group(1)) for ln in lines) == [2, 4]

    study = tmp_path / "study"
    for part in ("runs", "configs"):
        shutil.copytree(root / "data" / part / cell, study / "data" / part / cell)
    victim = sorted((study / "data" / "runs" / cell).rglob("seed-*.nc"))[0]
    with xr.open_dataset(victim, engine="h5netcdf") as ds:
        altered = ds.load()
    altered["primary_return"][0] += 1.0
    altered.to_netcdf(victim, engine="h5netcdf")
    bad = subprocess.run(script + ["--study", str(study), "--cell", cell, "--jobs", "9"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"{victim}: differs in primary_return" in bad.stdout.splitlines()

    unknown = subprocess.run(script + ["--study", str(root), "--cell", "gridworld/distance/barfi"],
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert "no run files" in unknown.stderr and cell in unknown.stderr


@pytest.mark.slow
def test_dvc_repro_and_status(ci_run, tmp_path):
    """`dvc repro` in a fresh git repository of the working tree (config/ci.yaml as the
    config), on the run store of the real run: then `dvc status` is clean, a second
    `dvc repro` does nothing (and runs no Snakemake job), and a modified source file makes the
    stage dirty."""
    src_root, proc = ci_run
    assert proc.returncode == 0
    root = copy_tree(tmp_path / "clone", source=src_root)   # the code that made the run store
    shutil.copy2(root / "config" / "ci.yaml", root / "config" / "config.yaml")
    git = ["git", "-c", "user.email=test@example.org", "-c", "user.name=test"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run(git + cmd, cwd=root, check=True, capture_output=True, timeout=60)
    assert not subprocess.run(["git", "ls-files", "data/runs", "reports"], cwd=root,
                              capture_output=True, text=True).stdout.strip()
    # The run store of the real run (and Snakemake's records of it): training is not redone.
    shutil.copytree(src_root / "data", root / "data", dirs_exist_ok=True)
    shutil.copytree(src_root / ".snakemake" / "metadata", root / ".snakemake" / "metadata")

    first = dvc(root, "repro", "study")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert (root / "dvc.lock").is_file() and (root / "reports" / "report.html").is_file()
    assert "rule train_" not in first.stdout + first.stderr      # the run store was reused
    status = dvc(root, "status", "study")
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout + status.stderr
    second = dvc(root, "repro", "study")
    assert second.returncode == 0 and "didn't change, skipping" in second.stdout, second.stdout
    assert "Building DAG" not in second.stdout + second.stderr   # Snakemake did not even start
    metrics = dvc(root, "metrics", "show")
    assert metrics.returncode == 0 and "results/study/summary.json" in metrics.stdout
    # The documented comparison with a committed run: commit the lock and the headline metrics,
    # then a rerun of the same study differs in nothing.
    subprocess.run(git + ["add", "dvc.lock", "results/study/summary.json"], cwd=root, check=True,
                   capture_output=True, timeout=60)
    subprocess.run(git + ["commit", "-q", "-m", "results"], cwd=root, check=True,
                   capture_output=True, timeout=60)
    diff = dvc(root, "metrics", "diff")
    assert diff.returncode == 0 and "results/study/summary.json" not in diff.stdout, diff.stdout
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    assert "config/config.yaml" in lock["stages"]["study"]["params"]
    # A modified source file: the stage is dirty.
    source = root / "src" / "barfi" / "envs" / "gridworld.py"
    source.write_text(source.read_text() + "\n# changed\n")
    status = dvc(root, "status", "study")
    assert "changed deps" in status.stdout and "src/barfi" in status.stdout, status.stdout
