# Aggregation and selection, per env (thin calls into `python -m barfi.analysis`).
#
# selection.rule split (default): every configuration runs on the tuning seeds; the checkpoint
# select_tuning chooses the best configuration of each aux x method on them; only the chosen
# ones then run on the evaluation seeds; `select --rule split` records the choice and its
# evaluation-seed score in data/selection/{env}.nc.
# selection.rule single (the paper's): choose and report on the same (tuning) seeds.


wildcard_constraints:
    env="[A-Za-z0-9_-]+",


localrules:
    run_list_tuning,
    run_list,


rule run_list_tuning:
    input:
        lambda w: tuning_runs(w.env),
    output:
        "data/aggregated/{env}.tuning.runs.txt",
    log:
        "logs/aggregate/{env}.tuning.runs.log",
    run:
        write_lines(output[0], input)


rule aggregate_tuning:
    input:
        runs="data/aggregated/{env}.tuning.runs.txt",
        configs="data/configs/{env}.tsv",
    output:
        "data/aggregated/{env}.tuning.nc",
    log:
        "logs/aggregate/{env}.tuning.log",
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
        seeds=lambda w: seeds_arg(w.env, "tuning"),
        last=config["selection"]["last"],
        source=ANALYSIS_SOURCE,
    conda:
        "../envs/barfi.yaml"
    shell:
        '"$BARFI_PYTHON" -m barfi.analysis select {input} --out {output}'
        " --tuning-seeds {params.seeds} --eval-seeds {params.seeds} --rule single"
        " --last {params.last} > {log} 2>&1"


rule run_list:
    input:
        final_runs,
    output:
        "data/aggregated/{env}.runs.txt",
    log:
        "logs/aggregate/{env}.runs.log",
    run:
        write_lines(output[0], input)


rule aggregate:
    input:
        runs="data/aggregated/{env}.runs.txt",
        configs="data/configs/{env}.tsv",
    output:
        "data/aggregated/{env}.nc",
    log:
        "logs/aggregate/{env}.log",
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


rule select:
    input:
        "data/aggregated/{env}.nc",
    output:
        "data/selection/{env}.nc",
    log:
        "logs/select/{env}.log",
    params:
        tuning=lambda w: seeds_arg(w.env, "tuning"),
        evaluation=lambda w: seeds_arg(w.env, "evaluation" if SPLIT else "tuning"),
        rule=config["selection"]["rule"],
        last=config["selection"]["last"],
        source=ANALYSIS_SOURCE,
    conda:
        "../envs/barfi.yaml"
    shell:
        '"$BARFI_PYTHON" -m barfi.analysis select {input} --out {output}'
        " --tuning-seeds {params.tuning} --eval-seeds {params.evaluation}"
        " --rule {params.rule} --last {params.last} > {log} 2>&1"
