# Before the first job: one line saying what the training about to run will cost, from the
# per-run costs measured on config/config.yaml (docs/pipeline.md, "Cost"). No rules here.

# Imported under its own name: the workflow's ENVS (common.smk) is the config's list of envs.
from barfi.envs import ENVS as ENV_SPECS

# CPU-seconds of one training job: a start-up (Python, torch, the env) plus, per seed, the
# episodes times the env's cost of one episode (`EnvSpec.episode_cpu_s`, measured on one idle
# core with blocks of 3 seeds; an env without a measurement costs as the costliest one). Larger
# blocks cost less per seed (lockstep), a loaded shared machine up to LOADED_FACTOR times more.
JOB_STARTUP_CPU_S = 2.5
LOADED_FACTOR = 1.8


def train_job_cpu_s(points):
    """`points`: the grid point of every agent of the job."""
    measured = [spec.episode_cpu_s for spec in ENV_SPECS.values() if spec.episode_cpu_s]
    return JOB_STARTUP_CPU_S + sum(
        p.run.hp.episodes * (ENV_SPECS[p.env].episode_cpu_s or max(measured)) for p in points)


def cost_line(dag, cores):
    """The line printed before the first job (also used by the tests)."""
    now = [STUDY.runs_of(j.output) for j in dag.needrun_jobs() if j.rule.name.startswith("train_")]
    selecting = {j.wildcards.env for j in dag.needrun_jobs() if j.rule.name == "select_tuning"}
    later = [[p] * n for p, n in STUDY.pending_evaluation_blocks(selecting)] if SPLIT else []
    cpu_s = sum(train_job_cpu_s(job) for job in now + later)
    wall_min = cpu_s / max(1, min(cores, len(now + later) or 1)) / 60
    text = (f"barfi: {len(now)} training jobs ({sum(map(len, now))} seed runs) to run now")
    if later:
        text += (f", up to {len(later)} more ({sum(map(len, later))} seed runs) on the "
                 "evaluation seeds after the selection")
    largest = max(map(len, now + later), default=0)
    bound = "at most about" if largest > 3 else "expected about"
    text = (f"{text}; {bound} {cpu_s:,.0f} CPU-seconds of training, {wall_min:,.1f} min "
            f"on {cores} idle cores (up to {LOADED_FACTOR}x on a loaded shared machine), "
            "plus aggregation and report")
    if largest > 3:   # the per-seed costs were measured in blocks of 3
        text += (f" (per-agent costs of blocks of 3; jobs here train up to {largest} agents, "
                 "cheaper per agent: `barfi estimate --configfile FILE` times them)")
    return text


onstart:
    try:
        print(cost_line(workflow.dag, workflow.resource_settings.cores), file=sys.stderr)
    except Exception as exc:  # an estimate must never stop the run
        print(f"barfi: no cost estimate ({type(exc).__name__}: {exc})", file=sys.stderr)
