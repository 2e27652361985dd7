"""`twin sweep --scheduler` on a real Dask cluster: `dask scheduler` and `dask worker` processes on
loopback, the same rows as the local cluster's (one code path)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from tests.sim.runs import REPO, twin_main

pytestmark = pytest.mark.slow


def _stop(procs: list[subprocess.Popen]) -> None:
    """Stop the cluster's processes, workers before the scheduler (a kill after 20 s)."""
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def _start(*args: str, log) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def _start_scheduler(d, log) -> tuple[list[subprocess.Popen], object, str]:
    """A `dask scheduler` on loopback that writes its address to d/scheduler.json: its process (in a list the
    caller adds workers to and hands to :func:`_stop`), the file and the address. Stopped if it does not start."""
    sched_file = d / "scheduler.json"
    procs = [_start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--scheduler-file", str(sched_file), log=log)]
    deadline = time.monotonic() + 60
    while not sched_file.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    if not sched_file.is_file():
        _stop(procs)
        log.flush()
        raise AssertionError((d / "dask.log").read_text())
    return procs, sched_file, json.loads(sched_file.read_text())["address"]


def _start_worker(sched_file, log, *, nanny: bool = True) -> subprocess.Popen:
    """A single-thread `dask worker` joining through the scheduler file. Without a nanny the process is the worker
    itself, so killing it loses the worker (no nanny restarts it)."""
    return _start("worker", "--scheduler-file", str(sched_file), "--nthreads", "1", "--no-dashboard",
                  *(() if nanny else ("--no-nanny",)), "--host", "127.0.0.1", log=log)


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory):
    """A scheduler and two single-thread workers, each its own process, joined through a scheduler file."""
    d = tmp_path_factory.mktemp("dask")
    log = open(d / "dask.log", "wb")  # noqa: SIM115 - closed after the processes
    procs, sched_file, address = _start_scheduler(d, log)
    try:
        procs += [_start_worker(sched_file, log) for _ in range(2)]
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
        yield address
    finally:
        _stop(procs)
        log.close()


def test_sweep_through_dask_scheduler_equals_local(scheduler_address, client, tmp_path, capsys):
    """N-1 of tiny through `--scheduler tcp://127.0.0.1:…` on two `dask worker` processes: the rows equal
    those of the local two-worker cluster, bit for bit."""
    out = {}
    for name, address in (("remote", scheduler_address), ("local", client.scheduler.address)):
        proc = twin_main(capsys, "sweep", "tiny", "--n-1", "all", "--json", "--out", tmp_path / name, "--scheduler", address)
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout)
        assert summary["scheduler"] == address and summary["workers"] == 2
        out[name] = pq.read_table(tmp_path / name / "cases.parquet").drop(["wall_s"]).to_pylist()
    assert len(out["remote"]) == 14
    for remote, local in zip(out["remote"], out["local"]):
        assert remote.keys() == local.keys()
        for k, v in remote.items():
            same = v == local[k] or (isinstance(v, float) and math.isnan(v) and math.isnan(local[k]))
            assert same, (remote["case"], k, v, local[k])
