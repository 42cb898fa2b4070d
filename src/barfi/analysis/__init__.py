"""Analysis of BARFI sweeps: from run files to the paper's tables and figures.

    python -m barfi.analysis aggregate RUNS... --out AGG.nc        # aggregate.py
    python -m barfi.analysis select AGG.nc --out SEL.nc            # selection.py
    python -m barfi.analysis report --aggregated AGG.nc... --selection SEL.nc... --out-dir DIR

Modules (one idea each), computing apart from rendering as in rliable:
  io         run-file contract checks, fast h5py reading, atomic writes, input expansion
  aggregate  many run files of one env -> one chunked NetCDF cube, in bounded memory
  selection  best configuration per aux x method (published rule), tuning vs evaluation seeds
  inputs     the report's datasets, opened and cross-checked
  stats      curve statistics (bootstrap band, s.e., EMA) and rliable interval estimates
  results    computed once: final performance, intervals, probability of improvement,
             selection and divergence rows, the headline numbers (writes nothing)
  claims     claims as data (config `claims:`), evaluated into claims.md
  captions   the caption table of every report file (README index and `snakemake --report`)
  tables     Markdown / CSV / LaTeX writers
  report_tables  the report's tables, claims files and summary.json, rendered from `results`
  figures    matplotlib figures (Agg backend, colour-blind-safe, PNG + PDF)
  figures_sns  seaborn figures (sensitivity, aux return, cross-env overview)
  curves, sensitivity, phimaps, overview   the builders of the report's figures
  readme     the report's README.md: what the study is, claims, the index of written files
  report     the driver: checks the settings, runs the builders
"""
