"""Trackers: the time-series recorder (Parquet), field snapshots (.vti), and the progress bar.

Files are written so that an interruption never leaves a corrupt one. The time series goes to
``timeseries.parts/part-NNNNN.parquet`` while the run goes on (each part written aside and renamed into
place; after a kill, read the folder with ``pyarrow.dataset``); at the end the parts are joined into
``timeseries.parquet`` and the folder is removed.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from twin.sim.files import atomic_write
from twin.sim.observe import observe, observe_names, unit_of
from twin.sim.runner import RunInfo, Tracker
from twin.sim.twin import HallTwin, TwinState
from twin.sim.vtkxml import GHOST_ARRAY, ghost_cells, write_pvd, write_vti
from twin.thermal.airflow import cell_velocity_m_s

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.progress import TaskID

__all__ = ["FieldRecorder", "ProgressTracker", "TimeSeriesRecorder", "write_fields"]


class TimeSeriesRecorder(Tracker):
    """Per rack, per CRAH and hall-wide figures every ``interval_s`` of simulated time."""

    def __init__(self, out_dir: Path, *, interval_s: float = 10.0, flush_rows: int = 60) -> None:
        self.out_dir = Path(out_dir)
        self.interval_s = interval_s
        self.flush_rows = flush_rows
        self.path = self.out_dir / "timeseries.parquet"
        self.parts_dir = self.out_dir / "timeseries.parts"
        self._rows: list[list[np.ndarray]] = []  # per recorded time: the time, then one array per key
        self._parts: list[Path] = []
        self._last_time_s: float | None = None

    def start(self, twin: HallTwin, state: TwinState) -> None:
        import pyarrow as pa  # (here, not at the top: a steady run writes no time series and skips its import)

        obs = observe(twin, state)
        who_by_kind = observe_names(twin)
        self._keys = [key for key in obs if key != "hall.time_s"]
        fields = [pa.field("time_s", pa.float64(), metadata={b"unit": b"s"})]
        self._types = []  # one Arrow type per key: flags stay booleans and counts integers
        for key, value in obs.items():  # (items(): a TypedDict is indexed by literal keys only)
            if key == "hall.time_s":
                continue
            kind, quantity = key.split(".", 1)
            arrow_type = _arrow_type(value)
            self._types.append(arrow_type)
            per_unit = isinstance(value, np.ndarray) and value.ndim > 0
            names = [f"{kind}.{w}.{quantity}" for w in who_by_kind[kind]] if per_unit else [key]
            fields += [pa.field(n, arrow_type, metadata={b"unit": unit_of(quantity).encode()}) for n in names]
        meta = {b"hall": twin.hall.name.encode(), b"hall_file": str(twin.hall.path or "").encode(),
                b"dt_s": str(twin.dt_s).encode()}
        self.schema = pa.schema(fields, metadata=meta)
        self.parts_dir.mkdir(parents=True, exist_ok=True)

    def handle(self, twin: HallTwin, state: TwinState) -> None:
        if self._last_time_s is not None and state.time_s <= self._last_time_s:
            return  # the runner's final call at a time already recorded
        self._last_time_s = state.time_s
        obs: Mapping[str, object] = observe(twin, state)  # (read by the keys start() took)
        # Copies: the state's arrays are updated in place by the next step.
        self._rows.append([np.array(state.time_s, dtype=float, ndmin=1),
                           *(np.array(obs[k], ndmin=1, copy=True) for k in self._keys)])
        if len(self._rows) >= self.flush_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = [pa.array(np.concatenate([row[0] for row in self._rows]), type=pa.float64())]
        for j, arrow_type in enumerate(self._types, start=1):
            block = np.vstack([row[j] for row in self._rows])  # (rows, equipment)
            columns += [pa.array(block[:, i], type=arrow_type) for i in range(block.shape[1])]
        table = pa.Table.from_arrays(columns, schema=self.schema)
        part = self.parts_dir / f"part-{len(self._parts):05d}.parquet"
        atomic_write(part, lambda tmp: pq.write_table(table, tmp))
        self._parts.append(part)
        self._rows.clear()

    def finalize(self, twin: HallTwin, state: TwinState, info: RunInfo) -> None:
        import pyarrow.parquet as pq

        self._flush()

        def join(tmp: Path) -> None:
            with pq.ParquetWriter(tmp, self.schema) as writer:
                for part in self._parts:
                    writer.write_table(pq.read_table(part, schema=self.schema))

        atomic_write(self.path, join)
        shutil.rmtree(self.parts_dir, ignore_errors=True)


def _arrow_type(value: object) -> pa.DataType:
    """The column type of an observed quantity: bool for flags, int64 for counts, float64 otherwise."""
    import pyarrow as pa

    kind = np.asarray(value).dtype.kind
    return pa.bool_() if kind == "b" else pa.int64() if kind in "iu" else pa.float64()


def write_fields(path: Path, twin: HallTwin, state: TwinState) -> Path:
    """One snapshot of the 3D fields as a .vti: temperature, velocity, speed, solid mask, VTK's ghost array.

    Solid cells are NaN in the fields and HIDDENCELL in ``vtkGhostType``, so ParaView hides them itself
    (a cell-to-point conversion then no longer smears NaN into the air around the racks).
    """
    net = twin.net
    vel = cell_velocity_m_s(net, twin.face_flows_m3s(state))
    grid = twin.voxels.grid
    vel_grid = np.stack([net.to_grid(vel[:, a]) for a in range(3)], axis=-1).astype(np.float32)
    return write_vti(
        path, origin_m=grid.origin_m, spacing_m=grid.cell_m,
        cell_data={
            "t_c": net.to_grid(state.t_air_c).astype(np.float32),
            "speed_m_s": np.linalg.norm(vel_grid, axis=-1),
            "velocity_m_s": vel_grid,
            "solid": twin.voxels.solid.astype(np.uint8),
            GHOST_ARRAY: ghost_cells(twin.voxels.solid),
        },
    )


class FieldRecorder(Tracker):
    """Field snapshots every ``interval_s`` of simulated time and at the end, as fields/t_XXXXXXs.vti.

    After each snapshot ``fields/fields.pvd`` is rewritten (atomically) with every snapshot so far and
    its simulated time in seconds: the collection is current while the run goes on and after a kill. The
    snapshot is renamed into place first, so everything the collection lists exists and is complete; a
    kill between the two leaves the newest snapshot on disk but not yet listed.
    """

    def __init__(self, out_dir: Path, *, interval_s: float = 600.0) -> None:
        self.dir = Path(out_dir) / "fields"
        self.interval_s = interval_s
        self.paths: list[Path] = []
        self.pvd_path = self.dir / "fields.pvd"
        self._times_s: list[float] = []

    def handle(self, twin: HallTwin, state: TwinState) -> None:
        # Whole seconds in the name; fractions only when a time step below 1 s needs them.
        t = state.time_s
        stamp = f"{t:08.0f}" if abs(t - round(t)) < 1e-6 else f"{t:012.3f}"
        path = self.dir / f"t_{stamp}s.vti"
        if self.paths and self.paths[-1] == path:
            return
        self.paths.append(write_fields(path, twin, state))
        self._times_s.append(float(t))
        write_pvd(self.pvd_path, [(t_s, p.name) for t_s, p in zip(self._times_s, self.paths)])


class ProgressTracker(Tracker):
    """A rich progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, duration_s: float) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.interval_s = max(duration_s / 200.0, 1e-9)
        self.duration_s = duration_s
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(), transient=False, console=Console(stderr=True),
        )  # stderr: stdout is for results (--json)
        self._task: TaskID | None = None
        self._t0 = time.perf_counter()
        self._sim0 = 0.0

    @staticmethod
    def wanted() -> bool:
        return sys.stderr.isatty()

    def start(self, twin: HallTwin, state: TwinState) -> None:
        self._progress.start()
        self._sim0 = state.time_s
        self._task = self._progress.add_task("simulating", total=self.duration_s, info="")

    def handle(self, twin: HallTwin, state: TwinState) -> None:
        wall = time.perf_counter() - self._t0
        done = state.time_s - self._sim0
        rtf = done / wall if wall > 0 else 0.0
        if self._task is None:
            return  # not started
        inlet = float(state.t_intake_c.max()) if state.t_intake_c.size else float("nan")
        self._progress.update(self._task, completed=done,
                              info=f"t={done:,.0f} s  ×{rtf:,.0f} real time  max inlet {inlet:.1f} °C")

    def finalize(self, twin: HallTwin, state: TwinState, info: RunInfo) -> None:
        self._progress.stop()
