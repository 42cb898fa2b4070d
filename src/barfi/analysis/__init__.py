"""Analysis of BARFI sweeps: from run files to the paper's tables and figures.

    python -m barfi.analysis aggregate RUNS... --out AGG.nc        # aggregate.py
    python -m barfi.analysis select AGG.nc --out SEL.nc            # selection.py
    python -m barfi.analysis report --aggregated AGG.nc... --selection SEL.nc... --out-dir DIR

Modules (one idea each):
  io         run-file contract checks, fast h5py reading, atomic writes, input expansion
  aggregate  many run files of one env -> one chunked NetCDF cube, in bounded memory
  selection  best configuration per aux x method (published rule), tuning vs evaluation seeds
  stats      curve statistics (bootstrap band, s.e., EMA) and rliable interval estimates
  figures    the figures (Agg backend, colour-blind-safe, PNG + PDF)
  tables     Markdown / CSV / LaTeX tables
  report     the report directory: figures, tables, summary.json, README.md index
  synthetic  synthetic run files in the training format (tests, benchmarks)
"""
