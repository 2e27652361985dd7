"""`twin export RUN --csv`: a run's time series as CSV for spreadsheets, units in the header.

The Parquet file stays the reference (typed columns, units in the field metadata); the CSV carries the
same columns in the same order, each header ``name [unit]`` (e.g. ``rack.A01.t_inlet_c [degC]``), flags
as ``true``/``false``. A run still going on, or killed, has only ``timeseries.parts/``: it is read too.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from twin.model.load import HallError
from twin.sim.files import atomic_write

__all__ = ["read_timeseries", "write_timeseries_csv"]


def read_timeseries(run_dir: Path) -> pa.Table:
    """The run's time series: ``timeseries.parquet``, else the parts written so far; HallError if neither."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    run_dir = Path(run_dir)
    final, parts = run_dir / "timeseries.parquet", run_dir / "timeseries.parts"
    if final.is_file():
        return pq.read_table(final)
    if parts.is_dir() and any(parts.glob("part-*.parquet")):
        dataset = ds.dataset(parts, format="parquet")  # '.'-prefixed files (half-written parts) are skipped
        return dataset.to_table().sort_by("time_s")
    raise HallError(f"{run_dir}: no time series (timeseries.parquet or timeseries.parts/); "
                    f"give the output folder of `twin run`")


def write_timeseries_csv(run_dir: Path, out: Path | None = None) -> Path:
    """Write the run's time series as CSV (default ``RUN/timeseries.csv``), atomically; returns the path."""
    import pyarrow.csv as pacsv

    table = read_timeseries(run_dir)
    headers = []
    for field in table.schema:
        unit = (field.metadata or {}).get(b"unit", b"").decode()
        headers.append(f"{field.name} [{unit}]" if unit else field.name)
    table = table.rename_columns(headers)
    out = Path(out) if out is not None else Path(run_dir) / "timeseries.csv"
    return atomic_write(out, lambda tmp: pacsv.write_csv(table, tmp))
