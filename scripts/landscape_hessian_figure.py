"""Snakemake adapter: the Hessian spectra at the scan centres of one landscape study."""

from pathlib import Path

import pandas as pd

from qnnscope.logs import job_log
from qnnscope.plots import landscapes as plots

log = job_log(snakemake.log[0])
table, name = pd.read_parquet(snakemake.input.table), snakemake.params.name
rows = table[table["name"] == name]
if rows.empty:
    raise ValueError(f"landscape study {name!r} has no rows in {snakemake.input.table}; studies: "
                     f"{', '.join(map(str, table['name'].unique()))}")
for path in plots.save(plots.hessian_spectra(rows), Path(snakemake.output.png).with_suffix("")):
    log.info("wrote %s", path)
