"""The one path every sweep takes: batches of cases as tasks on a dask.distributed cluster.

Without ``scheduler`` a :class:`~distributed.LocalCluster` starts here: one worker process per core,
one thread each (the solves are single-threaded by design, twin/thermal/threads.py; two threads in one
process would only fight over the GIL), BLAS limited to one thread. With ``scheduler`` (``tcp://host:8786``)
the same tasks go to an existing cluster (``dask scheduler`` / ``dask worker``, dask-jobqueue, Kubernetes).
A task runs one batch (:func:`twin.sweep.worker.run_batch`); each worker builds a hall once and keeps it,
so cases of one hall variant are batched together, large batches first and single cases last
(:func:`batches`): the ~ms of scheduling per task is negligible beside a batch's solves, and the workers
finish together.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from twin.sweep.cases import Case
from twin.sweep.worker import SweepJob, run_batch

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

__all__ = ["SweepRun", "batches", "local_cluster", "run_serial", "run_sweep"]

#: Environment of local workers: one thread in every numerical library (the cores are the workers').
_WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class SweepRun:
    """What a sweep returned: one row per finished case (in case order), and how it ran."""

    rows: list[dict]
    workers: int
    scheduler: str
    interrupted: bool = False
    pending: list[str] = field(default_factory=list)  # case names not finished (interrupted)


def batches(cases: list[Case], n_workers: int, *, most: int = 16) -> list[list[Case]]:
    """Cases grouped into batches, largest first (guided self-scheduling).

    Cases of one hall variant stay together (a worker builds each variant once). Each batch takes
    1/(2 × workers) of the cases still to batch, at most ``most`` (progress and Ctrl-C see finished
    batches) and at least one: the first batches are large, so a task's ~ms of scheduling stays negligible
    beside its solves, and the last are single cases, so the workers finish within about one case of each
    other. (Equal batches of 16, as before, left one of two workers with 64 of 100 cases while the other
    idled: at most ×1.56 from a second worker.)
    """
    by_variant: dict[tuple, list[Case]] = {}
    for c in cases:
        by_variant.setdefault(c.hall_changes(), []).append(c)
    remaining = len(cases)
    out = []
    for group in by_variant.values():
        i = 0
        while i < len(group):
            size = max(1, min(most, math.ceil(remaining / (2 * max(1, n_workers)))))
            out.append(group[i:i + size])
            i += len(out[-1])
            remaining -= len(out[-1])
    return out


def local_cluster(n_workers: int | None = None) -> tuple[Client, LocalCluster]:
    """A LocalCluster of ``n_workers`` single-threaded worker processes (default: one per core) and its client.

    Dask's Nanny would start each worker with ``MALLOC_TRIM_THRESHOLD_=65536`` and also write it into this
    process's environment (``distributed.nanny.pre-spawn-environ``); our workers are left with glibc's own
    malloc instead, which the solves need (twin/sweep/worker.py says why and measures it). Workers on
    other clusters fix it for themselves (:func:`twin.sweep.worker.prepare_process`).
    """
    import dask
    from distributed import Client, LocalCluster

    n = n_workers or os.cpu_count() or 1
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                               env=dict(_WORKER_ENV), silence_logs=40)
    return Client(cluster), cluster


def _client(scheduler: str | None, n_workers: int | None) -> tuple[Client, LocalCluster | None]:
    from distributed import Client

    if scheduler:
        return Client(scheduler, timeout="20s"), None
    return local_cluster(n_workers)


def run_sweep(job: SweepJob, cases: list[Case], *, scheduler: str | None = None, n_workers: int | None = None,
              on_row: Callable[[dict], None] | None = None, client: Client | None = None) -> SweepRun:
    """Run every case on the cluster and return their rows in case order.

    Args:
        job: the hall and options every case shares (sent to every worker once).
        cases: the cases.
        scheduler: a Dask scheduler's address; None starts a LocalCluster of ``n_workers`` processes
            (default: one per core).
        on_row: called with each finished row (progress, incremental writes), in completion order.
        client: an existing dask Client to use instead (kept open).
    """
    from distributed import as_completed

    own = client is None
    cluster = None
    if client is None:
        client, cluster = _client(scheduler, n_workers)
    order = {c.name: i for i, c in enumerate(cases)}
    rows: list[dict] = []
    interrupted = False
    futures = []
    try:
        n = len(client.scheduler_info()["workers"]) or 1
        job_future = client.scatter(job, broadcast=True, hash=False)
        parts = batches(cases, n)
        futures = [client.submit(run_batch, job_future, part, pure=False) for part in parts]
        batch_of = {f.key: part for f, part in zip(futures, parts)}
        try:
            for fut in as_completed(futures):
                try:
                    got = fut.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker fails its batch, not the sweep
                    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    got = [dict(c.inputs(), status="error", reason=reason) for c in batch_of[fut.key]]
                for row in got:
                    rows.append(row)
                    if on_row is not None:
                        on_row(row)
        except KeyboardInterrupt:
            interrupted = True
            client.cancel(futures)
        rpc = client.scheduler
        address = rpc.address if rpc is not None else None
        if address is None:
            raise RuntimeError("the Dask client has no scheduler address (is it closed?)")
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
    rows.sort(key=lambda r: order.get(r["case"], len(order)))
    done = {r["case"] for r in rows}
    return SweepRun(rows=rows, workers=n, scheduler=address, interrupted=interrupted,
                    pending=[c.name for c in cases if c.name not in done])


def run_serial(job: SweepJob, cases: Iterable[Case]) -> list[dict]:
    """The same cases one after another in this process (the reference a sweep must equal)."""
    return run_batch(job, list(cases))
