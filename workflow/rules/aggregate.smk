# Aggregation and selection, per env (thin calls into `python -m barfi.analysis`).
#
# selection.rule split (default): every configuration runs on the tuning seeds; the checkpoint
# select_tuning chooses the best configuration of each aux x method on them; only the chosen
# ones then run on the evaluation seeds; `select --rule split` records the choice and its
# evaluation-seed score in data/selection/{env}.nc.
# selection.rule single (the paper's): choose and report on the same (tuning) seeds.
#
# Aggregation has two stages, one rule: {stage} is ".tuning" (the tuning runs, rule split only)
# or empty (every run of the env). The two selections stay two rules: the one on the tuning
# seeds is a checkpoint (its choice decides which evaluation runs exist), the final one is not.


from barfi.study import write_tsv


wildcard_constraints:
    env="[A-Za-z0-9_-]+",
    stage=r"(\.tuning)?",


localrules:
    run_list,


rule run_list:
    input:
        stage_runs,
    output:
        "data/aggregated/{env}{stage}.runs.txt",
    log:
        "logs/aggregate/{env}{stage}.runs.log",
    run:
        write_tsv(output[0], [[path] for path in input])


rule aggregate:
    input:
        runs="data/aggregated/{env}{stage}.runs.txt",
        configs="data/configs/{env}.tsv",
    output:
        "data/aggregated/{env}{stage}.nc",
    log:
        "logs/aggregate/{env}{stage}.log",
    params:
        source=ANALYSIS_SOURCE,
    threads: 4
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/barfi.yaml"
    shell:
        '"$BARFI_PYTHON" -m barfi.analysis aggregate --out {output} --files-from {input.runs}'
        " --config-table {input.configs} --jobs {threads} > {log} 2>&1"


checkpoint select_tuning:
    input:
        "data/aggregated/{env}.tuning.nc",
    output:
        "data/selection/{env}.tuning.nc",
    log:
        "logs/select/{env}.tuning.log",
    params:
        seeds=lambda w: STUDY.seeds(w.env, "tuning"),
        last=config["selection"]["last"],
        source=ANALYSIS_SOURCE,
    conda:
        "../envs/barfi.yaml"
    shell:
        '"$BARFI_PYTHON" -m barfi.analysis select {input} --out {output}'
        " --tuning-seeds {params.seeds} --eval-seeds {params.seeds} --rule single"
        " --last {params.last} > {log} 2>&1"


rule select:
    input:
        "data/aggregated/{env}.nc",
    output:
        "data/selection/{env}.nc",
    log:
        "logs/select/{env}.log",
    params:
        tuning=lambda w: STUDY.seeds(w.env, "tuning"),
        evaluation=lambda w: STUDY.seeds(w.env, "evaluation" if SPLIT else "tuning"),
        rule=config["selection"]["rule"],
        last=config["selection"]["last"],
        source=ANALYSIS_SOURCE,
    conda:
        "../envs/barfi.yaml"
    shell:
        '"$BARFI_PYTHON" -m barfi.analysis select {input} --out {output}'
        " --tuning-seeds {params.tuning} --eval-seeds {params.evaluation}"
        " --rule {params.rule} --last {params.last} > {log} 2>&1"
