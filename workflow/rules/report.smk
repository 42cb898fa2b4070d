# The report: every figure and table of the study into reports/ (a thin call into
# `python -m barfi.analysis report`), annotated for `snakemake --report reports/report.html`.
# reports/ is the rule's output directory: Snakemake empties it before the rule reruns, so it
# never holds figures of envs, aux rewards or methods that are no longer in the config.


rule report:
    input:
        aggregated=expand("data/aggregated/{env}.nc", env=ENVS),
        selection=expand("data/selection/{env}.nc", env=ENVS),
    output:
        report(
            directory("reports"),
            patterns=["{figure}.png", "{table}.csv"],
            category=report_category,
            subcategory=report_subcategory,
            labels=report_labels,
            caption="../report/report.rst",
        ),
    log:
        "logs/report.log",
    params:
        reps=config["report"]["reps"],
        band_reps=config["report"]["band_reps"],
        ema=config["report"]["ema"],
        seed=config["report"]["seed"],
        source=ANALYSIS_SOURCE,
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/barfi.yaml"
    shell:
        '"$BARFI_PYTHON" -m barfi.analysis report --aggregated {input.aggregated}'
        " --selection {input.selection} --out-dir {output}"
        " --reps {params.reps} --band-reps {params.band_reps} --ema {params.ema}"
        " --seed {params.seed} > {log} 2>&1"
