"""Analysis of BARFI sweeps: from run files to the paper's tables and figures.

    python -m barfi.analysis aggregate RUNS... --out AGG.nc        # aggregate.py
    python -m barfi.analysis select AGG.nc --out SEL.nc            # selection.py
    python -m barfi.analysis report --aggregated AGG.nc... --selection SEL.nc... --out-dir DIR

Modules (one idea each):
  io         run-file contract checks, fast h5py reading, atomic writes, input expansion
  aggregate  many run files of one env -> one chunked NetCDF cube, in bounded memory
  selection  best configuration per aux x method (published rule), tuning vs evaluation seeds
  stats      curve statistics (bootstrap band, s.e., EMA) and rliable interval estimates
  figures    matplotlib figures (Agg backend, colour-blind-safe, PNG + PDF)
  figures_sns  seaborn figures (sensitivity, aux return, cross-env overview)
  tables     Markdown / CSV / LaTeX tables
  report     the report directory: driver, learning curves, gamma_phi, r_phi, summary.json
  inputs     the report's datasets, opened and cross-checked; the index of written files
  results    final performance, probability of improvement, selection and divergence tables
  claims     claims as data (config `claims:`), evaluated into claims.md
  sensitivity, phimaps, overview   the builders of those figures
  readme     the report's README.md: what the study is, claims, index
"""
