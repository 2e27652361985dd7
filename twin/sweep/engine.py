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
import time
from asyncio import CancelledError
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from twin.sweep.cases import Case
from twin.sweep.worker import SweepJob, run_batch

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

__all__ = ["DEFAULT_CLUSTER_TIMEOUT_S", "SweepRun", "batches", "local_cluster", "run_serial", "run_sweep"]

#: Environment of local workers: one thread in every numerical library (the cores are the workers').
_WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class SweepRun:
    """What a sweep returned: one row per finished case (in case order), and how it ran."""

    rows: list[dict]
    workers: int
    scheduler: str
    interrupted: bool = False
    pending: list[str] = field(default_factory=list)  # case names not finished (interrupted, lost)
    lost: str = ""  # why the cluster could not finish the sweep ("" when it could)


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


#: How often a running sweep looks at its cluster while no batch finishes, s.
_POLL_S = 2.0
#: How long a sweep waits for a cluster with no worker (or no scheduler) before it gives up, s (default of
#: ``--cluster-timeout``): long enough for a nanny, Kubernetes or a batch queue to bring a worker back.
DEFAULT_CLUSTER_TIMEOUT_S = 60.0


def run_sweep(job: SweepJob, cases: list[Case], *, scheduler: str | None = None, n_workers: int | None = None,
              on_row: Callable[[dict], None] | None = None, client: Client | None = None,
              cluster_timeout_s: float = DEFAULT_CLUSTER_TIMEOUT_S) -> SweepRun:
    """Run every case on the cluster and return their rows in case order.

    Args:
        job: the hall and options every case shares (sent to every worker once).
        cases: the cases.
        scheduler: a Dask scheduler's address; None starts a LocalCluster of ``n_workers`` processes
            (default: one per core).
        on_row: called with each finished row (progress, incremental writes), in completion order.
        client: an existing dask Client to use instead (kept open).
        cluster_timeout_s: give up when the cluster has had no worker, or the client no scheduler, for this
            long: the rows finished so far are returned with ``lost`` saying what happened (Dask itself
            would wait for a worker forever).
    """
    from distributed import as_completed

    own = client is None
    cluster = None
    if client is None:
        client, cluster = _client(scheduler, n_workers)
    order = {c.name: i for i, c in enumerate(cases)}
    rows: list[dict] = []
    interrupted = False
    lost = ""
    futures = []
    address = None
    try:
        rpc = client.scheduler
        address = rpc.address if rpc is not None else None
        if address is None:
            raise RuntimeError("the Dask client has no scheduler address (is it closed?)")
        n = len(client.scheduler_info()["workers"]) or 1
        # The job travels with every batch (≈ 70 kB for reference.toml, < 1 ms to pickle) rather than scattered
        # once: a task that holds all it needs waits for a new worker when the cluster loses its workers, where
        # a task on scattered data would be cancelled with that data.
        parts = batches(cases, n)
        futures = [client.submit(run_batch, job, part, pure=False) for part in parts]
        batch_of = {f.key: part for f, part in zip(futures, parts)}
        done = as_completed(futures)
        watch = _ClusterWatch(client, address, cluster_timeout_s)
        try:
            while not done.is_empty():
                # Wait for finished batches a poll at a time, so that a cluster that lost its workers is seen.
                ready = done.next_batch(block=False) if done.has_ready() else []
                if not ready:
                    lost = watch.check()
                    if lost:
                        _cancel(client, futures)
                        break
                    time.sleep(0.05 if watch.healthy else _POLL_S)
                    continue
                watch.seen_alive()
                for fut in ready:
                    try:
                        got = _fetch(fut, watch)
                    # A lost worker fails its batch, not the sweep. CancelledError is not an Exception; it is
                    # not ours (we stop reading before we cancel): e.g. the scheduler went.
                    except _ClusterLost as exc:
                        lost = str(exc)
                        break
                    except (CancelledError, Exception) as exc:  # noqa: BLE001
                        got = [dict(c.inputs(), status="error", reason=_batch_failure(exc)) for c in batch_of[fut.key]]
                    for row in got:
                        rows.append(row)
                        if on_row is not None:
                            on_row(row)
                if lost:
                    _cancel(client, futures)
                    break
        except KeyboardInterrupt:
            interrupted = True
            _cancel(client, futures)
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
    rows.sort(key=lambda r: order.get(r["case"], len(order)))
    finished = {r["case"] for r in rows}
    return SweepRun(rows=rows, workers=n, scheduler=address or "", interrupted=interrupted,
                    pending=[c.name for c in cases if c.name not in finished], lost=lost)


class _ClusterLost(Exception):
    """A finished batch's rows cannot be fetched: the cluster lost them and has no worker to make them again."""


def _fetch(fut: Future, watch: _ClusterWatch) -> list[dict]:
    """A finished batch's rows. A batch can finish and its worker die before the rows are fetched; Dask then
    marks them lost and ``result()`` waits for a worker to compute them again, forever if none comes. So wait a
    poll at a time and give up as the sweep does when the cluster stays without workers."""
    while True:
        try:
            return fut.result(timeout=_POLL_S)
        except TimeoutError:
            if fut.status == "error":  # the batch's own TimeoutError, not our wait's
                raise
            said = watch.check()
            if said:
                raise _ClusterLost(said) from None


def _batch_failure(exc: BaseException) -> str:
    """The reason a failed batch gives each of its cases: one line."""
    said = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, CancelledError):
        return f"cancelled: {said}".rstrip(": ")
    return f"{type(exc).__name__}: {said}"


def _cancel(client: Client, futures: list) -> None:
    """Cancel what is left; a cluster that is gone cannot be told, and there is nothing more to do then."""
    try:
        client.cancel(futures)
    except (OSError, TimeoutError, RuntimeError):  # the scheduler's connection is closed
        pass


class _ClusterWatch:
    """Whether a sweep's cluster can still finish it: a scheduler the client is connected to, with workers.

    Checked only while no batch finishes (a finished batch proves the cluster alive). A cluster found
    without workers or scheduler gets ``timeout_s`` to recover (a nanny restarts a killed worker in
    seconds; a batch system may take longer) before :meth:`check` returns why it gave up.
    """

    def __init__(self, client: Client, address: str, timeout_s: float) -> None:
        self.client, self.address, self.timeout_s = client, address, timeout_s
        self.last_check = time.monotonic()
        self.trouble_since: float | None = None
        self.healthy = True

    def seen_alive(self) -> None:
        self.trouble_since = None
        self.healthy = True

    def check(self) -> str:
        now = time.monotonic()
        if self.healthy and now - self.last_check < _POLL_S:
            return ""
        self.last_check = now
        trouble = self._trouble()
        if not trouble:
            self.seen_alive()
            return ""
        self.healthy = False
        if self.trouble_since is None:
            self.trouble_since = now
        if now - self.trouble_since < self.timeout_s:
            return ""
        return f"{trouble} for {self.timeout_s:g} s (--cluster-timeout)"

    def _trouble(self) -> str:
        if self.client.status != "running":
            return f"the connection to the Dask scheduler at {self.address} is lost"
        try:
            workers = self.client.scheduler_info()["workers"]
        except (OSError, TimeoutError) as exc:
            return f"the Dask scheduler at {self.address} does not answer ({type(exc).__name__})"
        if not workers:
            return f"the Dask cluster at {self.address} has had no worker"
        return ""


def run_serial(job: SweepJob, cases: Iterable[Case]) -> list[dict]:
    """The same cases one after another in this process (the reference a sweep must equal)."""
    return run_batch(job, list(cases))
