# Training. Tuning seeds: one job per pack, a block of agents (grid points of one env x aux x
# method that differ only in per-agent hyperparameters, times seeds; barfi.study.packs) trained
# in lockstep by one process on one core, writing one run file per agent. Evaluation seeds: one
# job per block of seeds of the configuration the selection chose. Checkpoints go to
# data/checkpoints/ and are never declared outputs, so Snakemake's cleanup of incomplete outputs
# cannot delete them and a rerun resumes.
#
# Snakemake rules have fixed output lists, so each pack is a rule of its own (its run files
# listed, no wildcards), and one evaluation rule is defined per (env, seed block); its wildcard
# constraints restrict it to the aux rewards whose evaluation seeds contain that block (tuning
# and evaluation seeds are disjoint, so no two rules can make the same file).

import re

from barfi.config import METHODS
from barfi.study import (alternation, block_label, pack_rule_name, point_path, seed_ranges,
                         train_rule_name, write_tsv)


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
# path (the config id hashes the overrides), so it is written once and never reruns a job. A
# shell command, not `run:`: Snakemake runs a local `run:` job in a new Snakemake process that
# parses the whole workflow again (seconds per grid point on the published grid).
rule grid_point:
    output:
        "data/configs/{env}/{aux}/{method}/{config_id}.json",
    wildcard_constraints:
        config_id="[0-9a-f]{8}",
    params:
        point=point_json,
    log:
        "logs/config_table/{env}/{aux}/{method}/{config_id}.log",
    conda:
        "../envs/barfi.yaml"
    shell:
        "printf '%s' {params.point:q} > {output}.tmp && mv -f {output}.tmp {output}"


for _pack in STUDY.tuning_packs():
    _cell = STUDY.cell(_pack.env, _pack.aux)
    _method_dir = f"{_pack.env}/{_pack.aux}/{_pack.method}"

    rule:
        name:
            pack_rule_name(_pack.env, _pack.pack_id)
        input:
            [point_path(_pack.env, _pack.aux, _pack.method, c) for c in _pack.config_ids],
        output:
            _pack.outputs,
        log:
            f"logs/train/{_method_dir}/pack-{_pack.pack_id}.log",
        benchmark:
            f"logs/train/{_method_dir}/pack-{_pack.pack_id}.benchmark.tsv"
        params:
            configs=lambda w, input: " ".join(f"--config {path}" for path in input),
            seeds=seed_ranges(_pack.seeds),
            # data/runs/E/A/M: the run files are <config_id>/seed-N.nc below it
            runs_dir=lambda w, output: os.path.dirname(os.path.dirname(output[0])),
            device="cuda" if _cell.resources.gpu > 0 else "cpu",
            **train_params(f"data/checkpoints/{_method_dir}/pack-{_pack.pack_id}"),
        threads: 1
        resources:
            **pack_resources(_cell.resources),
        conda:
            "../envs/barfi.yaml"
        shell:
            '"$BARFI_PYTHON" -m barfi train {params.configs}'
            " --seeds {params.seeds} --runs-dir {params.runs_dir}"
            " --device {params.device} --threads {threads}"
            " --checkpoint-dir {params.checkpoint_dir}"
            " --checkpoint-every {params.checkpoint_every} --quiet >> {log} 2>&1"


for (_env, _block), _auxes in STUDY.evaluation_rule_groups().items():
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
            **train_params(
                lambda w: f"data/checkpoints/{w.env}/{w.aux}/{w.method}/{w.config_id}"),
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
