# Training: one job per grid point x seed block. The job runs `barfi train --config` on the
# grid point's JSON file, for the whole block in lockstep (one process, one core), and writes
# one run file per seed. Checkpoints go to data/checkpoints/ and are never declared outputs, so
# Snakemake's cleanup of incomplete outputs cannot delete them and a rerun resumes.
#
# Snakemake rules have fixed output lists, so one rule is defined per (env, seed block); the
# wildcard constraints restrict it to the aux rewards whose seeds contain that block (within an
# env x aux the blocks partition the seeds, so no two rules can make the same file).

import re

from barfi.config import METHODS
from barfi.study import alternation, block_label, train_rule_name, write_text, write_tsv


localrules:
    config_table,
    env_config_table,
    grid_point,


# The tables' params are a hash of their rows: a change reruns the rule (and prints 16 hex
# digits, not the whole grid).
rule config_table:
    output:
        configs=report("data/configs.tsv", category="Configuration", caption="../report/configs.rst"),
        grid=report("data/grid.tsv", category="Configuration", caption="../report/grid.rst"),
    params:
        rows=digest(STUDY.config_table_rows(), STUDY.grid_table_rows()),
    log:
        "logs/config_table.log",
    run:
        write_tsv(output.configs, STUDY.config_table_rows())
        write_tsv(output.grid, STUDY.grid_table_rows())


# One env's configurations: what its aggregation checks the run files against, so a change to
# another env does not re-aggregate this one.
rule env_config_table:
    output:
        "data/configs/{env}.tsv",
    params:
        rows=lambda w: digest(STUDY.config_table_rows(w.env)),
    log:
        "logs/config_table/{env}.log",
    run:
        write_tsv(output[0], STUDY.config_table_rows(wildcards.env))


# One grid point's configuration, the input of its training jobs. Its content is fixed by its
# path (the config id hashes the overrides), so it is written once and never reruns a job.
rule grid_point:
    output:
        "data/configs/{env}/{aux}/{method}/{config_id}.json",
    wildcard_constraints:
        config_id="[0-9a-f]{8}",
    params:
        point=point_json,
    log:
        "logs/config_table/{env}/{aux}/{method}/{config_id}.log",
    run:
        write_text(output[0], params.point)


for (_env, _block), _auxes in STUDY.train_rule_groups().items():
    _label = block_label(_block)

    rule:
        name:
            train_rule_name(_env, _block)
        wildcard_constraints:
            env=re.escape(_env),
            aux=alternation(_auxes),
            method=alternation(METHODS),
            config_id="[0-9a-f]{8}",
        input:
            "data/configs/{env}/{aux}/{method}/{config_id}.json",
        output:
            [f"data/runs/{{env}}/{{aux}}/{{method}}/{{config_id}}/seed-{s}.nc" for s in _block],
        log:
            f"logs/train/{{env}}/{{aux}}/{{method}}/{{config_id}}/{_label}.log",
        benchmark:
            f"logs/train/{{env}}/{{aux}}/{{method}}/{{config_id}}/{_label}.benchmark.tsv"
        params:
            seeds=_label.removeprefix("seeds-").replace("_", ","),
            device=lambda w: "cuda" if cell_of(w).resources.gpu > 0 else "cpu",
            out_dir=lambda w, output: os.path.dirname(output[0]),
            checkpoint_dir=lambda w: f"data/checkpoints/{w.env}/{w.aux}/{w.method}/{w.config_id}",
            checkpoint_every=config["train"]["checkpoint_every"],
            # Training source hash: a code change reruns the jobs (a params change triggers).
            source=TRAIN_SOURCE,
        threads: 1
        resources:
            runtime=train_resource("runtime"),
            mem_mb=train_resource("mem_mb"),
            gpu=train_resource("gpu"),
            **gpu_model_resource(_env, _auxes),
        conda:
            "../envs/barfi.yaml"
        shell:
            '"$BARFI_PYTHON" -m barfi train --config {input}'
            " --seeds {params.seeds} --out-dir {params.out_dir}"
            " --device {params.device} --threads {threads}"
            " --checkpoint-dir {params.checkpoint_dir}"
            " --checkpoint-every {params.checkpoint_every} --quiet >> {log} 2>&1"
