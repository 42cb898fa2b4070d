rule report:
    input:
        aggregated=expand("data/aggregated/{env}.nc", env=ENVS),
        selection=expand("data/selection/{env}.nc", env=ENVS),
    output:
        readme="reports/README.md",
        summary="reports/summary.json",
    log:
        "logs/report.log",
    params:
        source=ANALYSIS_SOURCE,
    conda:
        "../envs/barfi.yaml"
    shell:
        "python -m barfi.analysis report --aggregated {input.aggregated}"
        " --selection {input.selection} --out-dir $(dirname {output.readme}) > {log} 2>&1"
