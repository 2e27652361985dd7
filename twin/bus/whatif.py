"""What-ifs of the live twin: the ``whatif`` command's work, off the solver's thread.

At the command the server forks its state (``state.copy()``, between two steps, so a step is never cut
in half) and hands the fork here. A background thread writes the fork as a checkpoint and runs the N-1
set from it exactly as ``twin sweep --n-1 SET --from CHECKPOINT`` does (:func:`twin.sweep.command.plan_sweep`
and the sweep engine: one code path), on the cluster given to ``twin serve --scheduler`` or on a
LocalCluster started at the first what-if and closed with the server. The solver's loop never waits:
it only takes finished event bodies from a queue between steps (:meth:`WhatIfRunner.take_events`) and
publishes them, because a ZeroMQ socket belongs to one thread.

One what-if runs at a time (a second one is refused while it runs): a what-if is a study of a moment,
and two at once would only halve each other's workers. A failed case is a row with its reason; a
cluster that cannot be reached or dies gives a ``failed`` event with the reason, never a dead server.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.sim.state import TwinState
from twin.sim.twin import HallTwin
from twin.sweep.cases import N1_SETS

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

__all__ = ["WHATIF_SETS", "WORKER_NICE", "WhatIfRunner", "WhatIfStart", "local_workers", "renice"]

log = logging.getLogger(__name__)

#: The N-1 sets a what-if may ask for: those of ``twin sweep --n-1``.
WHATIF_SETS = N1_SETS

#: Longest transient what-if, simulated seconds (a day: longer studies belong to ``twin sweep``).
WHATIF_MAX_DURATION_S = 86400.0

#: Niceness of the worker processes of the server's own LocalCluster: on a busy machine the live twin
#: comes first, and a what-if takes the CPU the twin leaves (a what-if may wait; the twin must not).
WORKER_NICE = 10

#: Finished what-ifs a snapshot carries to late joiners.
RECENT = 5

#: Columns of a case's row in the event, besides its name and status (NaN goes out as null).
_ROW_KEYS = ("max_inlet_rack", "max_inlet_c", "max_feed_load_fraction", "worst_load_name", "worst_load_fraction",
             "peak_inlet_c", "peak_inlet_rack", "time_to_27c_s", "time_to_32c_s", "min_battery_soc")


def local_workers() -> int:
    """Worker processes of a live twin's own LocalCluster: one per core but one, which the solver keeps."""
    return max(1, (os.cpu_count() or 1) - 1)


@dataclass(frozen=True)
class WhatIfStart:
    """An accepted what-if, as the command's reply tells it."""

    id: str
    set: str
    mode: str
    duration_s: float | None
    cases: int
    fork_time_s: float


class WhatIfRunner:
    """Runs one what-if at a time in a background thread and queues its events for the loop to publish.

    Args:
        twin: the live twin (its hall and options; read only).
        save_checkpoint: the checkpoint writer (``twin.sim.checkpoint.save_checkpoint``).
        scheduler: a Dask scheduler's address; None starts a LocalCluster at the first what-if.
        n_workers: that LocalCluster's worker processes (default :func:`local_workers`).
        out_dir: where each what-if leaves its fork, cases.parquet and report.html (``OUT/whatif/ID``);
            None keeps only the event (the fork goes to a temporary folder, removed afterwards).
        connect_timeout_s: how long to try to reach ``scheduler`` before the what-if fails.
        load_limit: fraction of a rating above which a load is a warning (as ``twin sweep``'s).
    """

    def __init__(self, twin: HallTwin, *, save_checkpoint: Callable[..., Path], scheduler: str | None = None,
                 n_workers: int | None = None, out_dir: Path | None = None, connect_timeout_s: float = 20.0,
                 load_limit: float | None = None) -> None:
        from twin.sweep.worker import DEFAULT_LOAD_LIMIT

        self.twin = twin
        self._save_checkpoint = save_checkpoint
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.out_dir = out_dir
        self.connect_timeout_s = connect_timeout_s
        self.load_limit = DEFAULT_LOAD_LIMIT if load_limit is None else load_limit
        self.running: WhatIfStart | None = None
        self.recent: deque[dict] = deque(maxlen=RECENT)  # final events, oldest first
        self.version = 0  # changes with what a snapshot carries (running, recent)
        self._events: queue.Queue[dict] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None
        self._closing = False

    # --- the loop's side ------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.running is not None

    def plan(self, kinds: str, duration_s: float | None) -> int:
        """How many cases the set has for this hall; CasesError (one line) when the hall has none."""
        from twin.sweep.cases import n_minus_1

        return len(n_minus_1(self.twin.hall, kinds, duration_s=duration_s))

    def start(self, wid: str, kinds: str, duration_s: float | None, fork: TwinState) -> WhatIfStart:
        """Run the set from ``fork`` (a copy of the live state, now the what-if's own) in the background."""
        if self.running is not None:
            raise RuntimeError(f"what-if {self.running.id} is still running")
        n = self.plan(kinds, duration_s)
        start = WhatIfStart(wid, kinds, "steady" if duration_s is None else "transient", duration_s, n,
                            float(fork.time_s))
        self.running = start
        self.version += 1
        self._events.put(self._body(start, "running"))
        self._thread = threading.Thread(target=self._work, args=(start, fork), name=f"whatif-{wid}", daemon=True)
        self._thread.start()
        return start

    def take_events(self) -> list[dict]:
        """Event bodies to publish, oldest first (called by the loop between steps; never blocks)."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def snapshot(self) -> list[dict]:
        """What a late joiner needs: the last finished what-ifs and the running one, oldest first."""
        out = list(self.recent)
        if self.running is not None:
            out.append(self._body(self.running, "running"))
        return out

    def close(self, timeout_s: float = 15.0) -> None:
        """Stop: close the cluster's client (a running what-if fails), wait for the thread, close the cluster."""
        self._closing = True
        thread = self._thread
        with self._lock:
            self._close_cluster()
        if thread is not None:
            thread.join(timeout_s)
        with self._lock:
            self._close_cluster()

    # --- the background thread ------------------------------------------------------------------

    def _work(self, start: WhatIfStart, fork: TwinState) -> None:
        t0 = time.perf_counter()
        tmp = None
        try:
            if self.out_dir is not None:
                folder = self.out_dir / "whatif" / start.id
            else:
                folder = tmp = Path(tempfile.mkdtemp(prefix=f"twin-whatif-{start.id[:8]}-"))
            folder.mkdir(parents=True, exist_ok=True)
            body = self._run(start, fork, folder)
        except Exception as exc:  # noqa: BLE001 - any failure is the what-if's result, never the server's end
            reason = str(exc).splitlines()[0] if str(exc) else ""
            reason = f"{type(exc).__name__}: {reason}" if not isinstance(exc, ValueError) or not reason else reason
            log.warning("what-if %s failed: %s", start.id, reason)
            body = {**self._body(start, "failed"), "reason": reason}
            self._drop_client_if_broken()
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        body["elapsed_s"] = round(time.perf_counter() - t0, 3)
        self.recent.append(body)
        self.running = None
        self.version += 1
        self._events.put(body)

    def _run(self, start: WhatIfStart, fork: TwinState, folder: Path) -> dict:
        from twin.sweep.command import plan_sweep, run_and_write
        from twin.sweep.engine import run_sweep
        from twin.sweep.report import summarize, worst_first

        hall = self.twin.hall
        checkpoint = self._save_checkpoint(folder / "fork.npz", self.twin, fork,
                                           meta={"whatif": start.id, "set": start.set})
        job, cases, title, mode = plan_sweep(hall, n_1=start.set, duration_s=start.duration_s,
                                             checkpoint=checkpoint, load_limit=self.load_limit)
        title = f"What-if at t = {start.fork_time_s:,.0f} s: {title}"
        client = self._dask()
        report = parquet = None
        if self.out_dir is not None:
            summary, rows, _ = run_and_write(hall, hall.path or Path(hall.name), job, cases, out_dir=folder,
                                             title=title, scheduler=None, workers=None, resume=False,
                                             as_json=True, mode=mode, client=client,
                                             extra_meta={"whatif": start.id, "fork_time_s": start.fork_time_s})
            parquet, report = summary["outputs"]
        else:
            run = run_sweep(job, cases, client=client)
            rows = run.rows
            summary = summarize(rows, title=title, meta={"workers": run.workers, "scheduler": run.scheduler})
        return {**self._body(start, "done"), "title": title, "verdict": summary["verdict"],
                "counts": summary["counts"], "workers": summary.get("workers"),
                "scheduler": summary.get("scheduler"), "report": report, "parquet": parquet,
                "rows": [_row(r) for r in worst_first(rows)]}

    def _dask(self) -> Client:
        """The cluster's client: connected (or the LocalCluster started) at the first what-if, then kept.
        Made outside the lock, so that a shutdown never waits for a scheduler that does not answer."""
        with self._lock:
            if self._closing:
                raise RuntimeError("the server is shutting down")
            if self._client is not None:
                return self._client
        from distributed import Client

        cluster = None
        if self.scheduler:
            client = Client(self.scheduler, timeout=f"{self.connect_timeout_s:g}s")
        else:
            # The sweep's own LocalCluster: without it, Dask's Nanny would also write MALLOC_TRIM_THRESHOLD_
            # into this process's environment, the live solver's (twin/sweep/engine.local_cluster).
            from twin.sweep.engine import local_cluster

            n = self.n_workers or local_workers()
            log.info("what-if: starting a local Dask cluster of %d worker processes", n)
            client, cluster = local_cluster(n)
            for pid in client.run(os.getpid).values():
                renice(pid, WORKER_NICE)
        with self._lock:
            self._client, self._cluster = client, cluster
            # Read again: close() may have run while the cluster started (mypy narrowed it above).
            if self._closing:
                self._close_cluster()  # type: ignore[unreachable]
                raise RuntimeError("the server is shutting down")
        return client

    def _drop_client_if_broken(self) -> None:
        """After a failure: forget a client that lost its scheduler, so that the next what-if reconnects."""
        with self._lock:
            if self._client is not None and self._client.status != "running":
                self._close_cluster()

    def _close_cluster(self) -> None:
        for part in (self._client, self._cluster):
            if part is not None:
                try:
                    part.close()
                except Exception as exc:  # noqa: BLE001 - closing what already died
                    log.debug("closing the what-if cluster: %s", exc)
        self._client = self._cluster = None

    @staticmethod
    def _body(start: WhatIfStart, state: str) -> dict[str, Any]:
        return {"type": "whatif", "id": start.id, "state": state, "set": start.set, "mode": start.mode,
                "duration_s": start.duration_s, "cases_total": start.cases, "fork_time_s": start.fork_time_s}


def renice(pid: int, nice: int) -> None:
    """Lower the priority of process ``pid`` (every thread of it: Linux nices threads one by one) to at
    least ``nice``. Best effort: a platform or process that refuses keeps its priority."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))
        except (OSError, AttributeError) as exc:
            log.debug("renice %d: %s", tid, exc)


def _row(r: dict) -> dict:
    """A case's row in the event: name, status, reason, worst rack and its inlet, loads, elapsed time."""
    out: dict[str, Any] = {"case": r.get("case"), "status": r.get("status"), "reason": r.get("reason") or ""}
    for k in _ROW_KEYS:
        if k in r:
            v = r[k]
            out[k] = None if isinstance(v, float) and not math.isfinite(v) else v
    wall = r.get("wall_s")
    out["elapsed_s"] = round(float(wall), 3) if isinstance(wall, (int, float)) else None
    return out
