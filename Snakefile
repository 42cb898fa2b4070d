# The BARFI study as a Snakemake workflow: train every grid point of the config on its seeds,
# merge the run files per env, select the best configuration of every env x aux x method, and
# rebuild every table and figure into reports/. See docs/pipeline.md.
#
#     snakemake --cores all                                   # config/config.yaml (quick grid)
#     snakemake --cores all --configfile config/paper.yaml    # the published grid
#     snakemake --profile profiles/slurm ...                  # on a SLURM cluster
#     snakemake --report reports/report.html                  # HTML report of the last run

from snakemake.utils import min_version

min_version("8.20")


# A config file given with --configfile stands alone (schema defaults fill what it leaves out);
# config/config.yaml is the default when none is given.
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/onstart.smk"


rule all:
    input:
        "data/grid.tsv",
        "reports",
    default_target: True


include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"
