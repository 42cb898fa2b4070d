# The report: every figure and table of the study into reports/ (a thin call into
# `python -m barfi.analysis report`), annotated for `snakemake --report reports/report.html`
# from the report's caption table (barfi.analysis.captions), which also captions its README.
# reports/ is the rule's output directory: Snakemake empties it before the rule reruns, so it
# never holds figures of envs, aux rewards or methods that are no longer in the config.
# The config's claims (`claims:`) are checked here before any job, written to data/claims.yaml
# by rule claims, and evaluated by the report into reports/claims.md.

import yaml

from barfi.analysis.captions import (
    html_captions,
    report_category,
    report_labels,
    report_subcategory,
)
from barfi.analysis.claims import parse_claims
from barfi.analysis.io import AnalysisError
from barfi.study import write_text

try:
    parse_claims(config.get("claims", []))
except AnalysisError as exc:
    config_error("claims", str(exc).removeprefix("claims"))


localrules:
    claims,


rule claims:
    output:
        "data/claims.yaml",
    log:
        "logs/claims.log",
    params:
        # A hash, not the claims: the same claims written in another key order are no change.
        claims=digest(config.get("claims", [])),
    run:
        claims = config.get("claims", [])
        write_text(output[0], yaml.safe_dump({"claims": claims}, sort_keys=False) + "\n")


rule report:
    input:
        aggregated=expand("data/aggregated/{env}.nc", env=ENVS),
        selection=expand("data/selection/{env}.nc", env=ENVS),
        claims="data/claims.yaml",
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
        title=config["report"]["title"],
        source=ANALYSIS_SOURCE,
        # read by ../report/report.rst (the HTML report's caption of each file)
        captions=html_captions(),
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/barfi.yaml"
    shell:
        '"$BARFI_PYTHON" -m barfi.analysis report --aggregated {input.aggregated}'
        " --selection {input.selection} --out-dir {output}"
        " --reps {params.reps} --band-reps {params.band_reps} --ema {params.ema}"
        " --seed {params.seed} --claims {input.claims} --title {params.title:q}"
        " > {log} 2>&1"
