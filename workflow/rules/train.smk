# Training: one job per grid point x seed block. The job runs `barfi train` on the whole block
# in lockstep (one process, one core) and writes one run file per seed. Checkpoints go to
# data/checkpoints/ and are never declared outputs, so Snakemake's cleanup of incomplete outputs
# cannot delete them and a rerun resumes.
#
# Snakemake rules have fixed output lists, so one rule is defined per (env, seed block); the
# wildcard constraints restrict it to the aux rewards whose seeds contain that block (within an
# env x aux the blocks partition the seeds, so no two rules can make the same file).


localrules:
    config_table,
    env_config_table,


# The tables' params are a hash of their rows: a change reruns the rule (and prints 16 hex
# digits, not the whole grid).
rule config_table:
    output:
        configs=report("data/configs.tsv", category="Configuration", caption="../report/configs.rst"),
        grid=report("data/grid.tsv", category="Configuration", caption="../report/grid.rst"),
    params:
        rows=rows_digest(config_table_rows(CELLS), grid_table_rows()),
    log:
        "logs/config_table.log",
    run:
        write_tsv(output.configs, config_table_rows(CELLS))
        write_tsv(output.grid, grid_table_rows())


# One env's configurations: what its aggregation checks the run files against, so a change to
# another env does not re-aggregate this one.
rule env_config_table:
    output:
        "data/configs/{env}.tsv",
    params:
        rows=lambda w: rows_digest(env_config_rows(w.env)),
    log:
        "logs/config_table/{env}.log",
    run:
        write_tsv(output[0], env_config_rows(wildcards.env))


for (_env, _block), _auxes in train_rule_groups(CELLS).items():
    _label = block_label(_block)

    rule:
        name:
            train_rule_name(_env, _block)
        wildcard_constraints:
            env=re.escape(_env),
            aux=alternation(_auxes),
            method=alternation(METHODS),
            config_id="[0-9a-f]{8}",
        output:
            [f"data/runs/{{env}}/{{aux}}/{{method}}/{{config_id}}/seed-{s}.nc" for s in _block],
        log:
            f"logs/train/{{env}}/{{aux}}/{{method}}/{{config_id}}/{_label}.log",
        benchmark:
            f"logs/train/{{env}}/{{aux}}/{{method}}/{{config_id}}/{_label}.benchmark.tsv"
        params:
            seeds=seed_arg(_block),
            sets=lambda w: set_args(overrides_of(w)),
            device=lambda w: "cuda" if cell_of(w).resources["gpu"] > 0 else "cpu",
            out_dir=lambda w, output: os.path.dirname(output[0]),
            checkpoint_dir=lambda w: f"data/checkpoints/{w.env}/{w.aux}/{w.method}/{w.config_id}",
            checkpoint_every=config["train"]["checkpoint_every"],
            # Training source hash: a code change reruns the jobs (a params change triggers).
            source=TRAIN_SOURCE,
        threads: 1
        resources:
            # Scaled by the attempt: a job retried after a time or memory limit asks for more.
            runtime=lambda w, attempt: cell_of(w).resources["runtime"] * attempt,
            mem_mb=lambda w, attempt: cell_of(w).resources["mem_mb"] * attempt,
            gpu=lambda w: cell_of(w).resources["gpu"],
            **gpu_model_resource(_env, _auxes),
        conda:
            "../envs/barfi.yaml"
        shell:
            '"$BARFI_PYTHON" -m barfi train --env {wildcards.env} --aux {wildcards.aux}'
            " --method {wildcards.method}"
            " --seeds {params.seeds} --out-dir {params.out_dir} {params.sets}"
            " --device {params.device} --threads {threads}"
            " --checkpoint-dir {params.checkpoint_dir}"
            " --checkpoint-every {params.checkpoint_every} --quiet >> {log} 2>&1"
