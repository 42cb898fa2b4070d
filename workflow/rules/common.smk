# The study of the config: loaded, validated and expanded into grid points by barfi.study
# before any rule is defined (a bad config stops the workflow before any job, with one line
# naming the key), plus the input functions of the rules. No rules in this file.
#
# Grid point = (env, aux, method, config_id); config_id = 8 hex digits hashing the point's
# resolved hyperparameter overrides. Run files: data/runs/{env}/{aux}/{method}/{config_id}/
# seed-{seed}.nc; a job's configuration: data/configs/{env}/{aux}/{method}/{config_id}.json.

import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import update_config

import barfi
from barfi.study import Study, StudyError, digest, source_hash


# The interpreter of every job, "$BARFI_PYTHON" in the shell commands: the one running this
# workflow (whose environment has barfi, as the import above proves), by full path, so jobs need
# no activated venv and nothing on PATH; on SLURM the job's Snakemake runs under the same path
# and sets it again. With --sdm conda, the job environment's python. (An environment variable,
# not a param: a param would rerun every job on a machine whose venv lives elsewhere.)
os.environ.update(BARFI_PYTHON=(
    "python" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else sys.executable))


def config_error(where, message):
    """Stop the workflow (before any job) with one line naming the config key."""
    sys.exit(str(StudyError(where, message)))


def reparse_config_args(config):
    """Snakemake reads a nested `--config` value (`selection={last: 200}`) with YAML's
    BaseLoader, which makes every scalar in it a string ('200' is not of type 'integer'). Apply
    each `--config key=value` again, its value read as ordinary YAML."""
    for entry in workflow.config_settings.config_args or ():
        key, sep, raw = entry.partition("=")
        if sep and raw:
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                config_error(key, f"--config value {raw!r} is not YAML ({exc.problem})")
            update_config(config, {key: value})


reparse_config_args(config)
try:
    STUDY = Study.from_config(config, Path(workflow.basedir, "workflow/schemas/config.schema.yaml"))
except StudyError as exc:
    sys.exit(str(exc))
ENVS = STUDY.envs
SPLIT = STUDY.split

# Params of the jobs, so that a code change reruns exactly the jobs it affects (Snakemake
# ignores package code otherwise): training = the package minus the analysis library and the
# cost estimate (which no training job runs); the analysis = the analysis library plus the
# package's shared modules (the estimate aside again).
PKG_DIR = Path(barfi.__file__).resolve().parent
NOT_IN_JOBS = ("estimate.py",)    # package modules that no workflow job runs
TRAIN_SOURCE = source_hash(PKG_DIR, exclude=("analysis", *NOT_IN_JOBS))
ANALYSIS_SOURCE = "{}-{}".format(
    source_hash(PKG_DIR / "analysis"),
    source_hash(PKG_DIR, exclude=("analysis", "envs", "learners", "hypergrad", *NOT_IN_JOBS)),
)


def cell_of(w):
    return STUDY.cell(w.env, w.aux)


def point_json(w):
    """The text of the grid point file of the wildcards (an error if not a grid point)."""
    try:
        return STUDY.point(w.env, w.aux, w.method, w.config_id).to_json()
    except KeyError as exc:
        raise WorkflowError(exc.args[0]) from None


def train_resource(key):
    """A resource of the job's env x aux reward, scaled by the attempt for time and memory (a
    job retried after a limit asks for more)."""
    if key in ("runtime", "mem_mb"):
        return lambda w, attempt: getattr(cell_of(w).resources, key) * attempt
    return lambda w: getattr(cell_of(w).resources, key)


def train_params(checkpoint_dir):
    """The params every training rule shares."""
    return dict(
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=config["train"]["checkpoint_every"],
        # Training source hash: a code change reruns the jobs (a params change triggers).
        source=TRAIN_SOURCE,
    )


def pack_resources(resources):
    """The resources of a pack's job (its env x aux reward's), time and memory scaled by the
    attempt as in `train_resource`."""
    scaled = {key: (lambda w, attempt, v=getattr(resources, key): v * attempt)
              for key in ("runtime", "mem_mb")}
    model = {"gpu_model": resources.gpu_model} if resources.gpu_model else {}
    return {**scaled, "gpu": resources.gpu, **model}


def gpu_model_resource(env, auxes):
    """{'gpu_model': ...} where an aux reward of the rule asks for a GPU model, else {}."""
    if all(STUDY.cell(env, a).resources.gpu_model == "" for a in auxes):
        return {}
    return {"gpu_model": train_resource("gpu_model")}


def chosen_configs(selection_file):
    """{(aux, method): config_id} chosen in a selection file of barfi.analysis."""
    from barfi.analysis.selection import open_selection

    with open_selection(selection_file) as sel:
        best = sel["best_config"].transpose("aux", "method").values
        return {(str(a), str(m)): str(best[i, j])
                for i, a in enumerate(sel["aux"].values)
                for j, m in enumerate(sel["method"].values) if str(best[i, j])}


def stage_runs(w):
    """Run files of an aggregate. Stage .tuning: every configuration on the tuning seeds. The
    final stage: the same and (rule split) the chosen configuration of each aux x method on the
    evaluation seeds."""
    runs = STUDY.tuning_runs(w.env)
    if w.stage == "" and SPLIT:
        selection = checkpoints.select_tuning.get(env=w.env).output[0]
        runs += STUDY.evaluation_runs(w.env, chosen_configs(selection))
    return runs
