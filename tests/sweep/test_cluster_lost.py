"""A sweep whose Dask cluster dies mid-run: real `dask scheduler` and `dask worker` processes on loopback,
the worker killed (SIGKILL) after its first batch. The sweep stops after --cluster-timeout instead of waiting
for a worker forever, keeps the finished cases in --out, says so in one line, and --resume on a new worker
runs exactly the rest."""

from __future__ import annotations

import json
import subprocess
import time

import pyarrow.parquet as pq
import pytest

from tests.sim.runs import twin_command
from tests.sweep.test_scheduler import _start_scheduler, _start_worker, _stop

pytestmark = pytest.mark.slow


def _finished_batches(dask_scheduler) -> int:
    """Runs on the scheduler: the sweep's batches whose results it holds."""
    return sum(1 for key, ts in dask_scheduler.tasks.items() if "run_batch" in str(key) and ts.state == "memory")


def test_sweep_survives_its_cluster_dying_and_resumes(tmp_path):
    """12 transient cases of tiny on one `dask worker --no-nanny`, killed once a batch is done: exit 1, one
    stderr line naming the lost cluster, the kept count and --resume, no traceback; cases.parquet holds the
    finished rows; `--resume` with a new worker runs the others only and ends with all 12."""
    from distributed import Client

    log = open(tmp_path / "dask.log", "wb")  # noqa: SIM115 - closed after the processes
    procs, sched_file, address = _start_scheduler(tmp_path, log)

    def worker() -> subprocess.Popen:
        procs.append(_start_worker(sched_file, log, nanny=False))
        return procs[-1]

    cases = tmp_path / "cases.toml"
    setpoints = ", ".join(f"{18.0 + 0.5 * i:.1f}" for i in range(12))
    cases.write_text(f'[sweep]\nmode = "transient"\nduration = "30min"\n[grid]\nsupply_setpoint_c = [{setpoints}]\n',
                     encoding="utf-8")
    out = tmp_path / "sw"
    try:
        first = worker()
        with Client(address, timeout="30s") as watcher:
            watcher.wait_for_workers(1, timeout=60)
            argv = twin_command("sweep", "tiny", "--cases", cases, "--json", "--out", out, "--scheduler", address,
                                "--cluster-timeout", "3")
            sweep = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            # One worker: batches of 6, 3, 2, 1 cases (≈ 0.65 s of CPU each). Kill the worker once the first
            # batch is done and the sweep has had a second to fetch its rows (a row still on the worker when it
            # dies would be solved again by the next worker, as Dask does with lost results).
            deadline = time.monotonic() + 180
            while watcher.run_on_scheduler(_finished_batches) < 1 and time.monotonic() < deadline:
                assert sweep.poll() is None, sweep.communicate()
                time.sleep(0.1)
            time.sleep(1.0)
            first.kill()
            first.wait(timeout=20)
            stdout, stderr = sweep.communicate(timeout=120)
        assert sweep.returncode == 1, stderr
        assert "Traceback" not in stderr
        line = stderr.strip().splitlines()[-1]
        summary = json.loads(stdout)
        kept = summary["cases"]  # the finished cases; the others are pending
        assert 6 <= kept < 12 and kept + len(summary["pending"]) == 12, summary
        assert line.startswith("twin sweep: error: the Dask cluster at " + address + " has had no worker for 3 s")
        assert f"{kept} of 12 cases finished and are kept in {out / 'cases.parquet'}" in line
        assert "--resume" in line and f"the other {12 - kept}" in line
        rows = pq.read_table(out / "cases.parquet").to_pylist()
        assert len(rows) == kept and all(r["status"] != "error" for r in rows)
        assert {r["case"] for r in rows}.isdisjoint(summary["pending"])

        worker()
        resumed = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        again = json.loads(resumed.stdout)
        assert again["resumed"] == kept and again["cases"] == 12 and not again["pending"] and not again["lost"]
        final = pq.read_table(out / "cases.parquet").to_pylist()
        assert len(final) == 12 and all(r["status"] != "error" for r in final)
        # The kept rows are the same rows, not solved again.
        before = {r["case"]: r["wall_s"] for r in rows}
        assert all(r["wall_s"] == before[r["case"]] for r in final if r["case"] in before)
    finally:
        _stop(procs)
        log.close()


def _rows() -> list[dict]:
    return [{"case": "c0", "status": "ok"}]


def test_rows_lost_with_their_worker_after_the_batch_finished_end_the_wait(tmp_path):
    """A batch finishes and its only worker dies before the sweep fetched its rows (a busy machine: the sweep
    was slow to read them). Dask marks the rows lost and ``result()`` would wait for a worker to compute them
    again, forever; the sweep's fetch gives up once the cluster has had no worker for the cluster timeout."""
    from distributed import Client

    from twin.sweep.engine import _ClusterLost, _ClusterWatch, _fetch

    log = open(tmp_path / "dask.log", "wb")  # noqa: SIM115 - closed after the processes
    procs, sched_file, address = _start_scheduler(tmp_path, log)
    try:
        worker = _start_worker(sched_file, log, nanny=False)
        procs.append(worker)
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
            fut = client.submit(_rows, pure=False)
            deadline = time.monotonic() + 60
            while fut.status != "finished" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert fut.status == "finished"
            worker.kill()
            worker.wait(timeout=20)
            # The premise: Dask's own wait for these rows does not end while no worker comes.
            with pytest.raises(TimeoutError):
                fut.result(timeout=3)
            t0 = time.monotonic()
            with pytest.raises(_ClusterLost, match="has had no worker for 1 s"):
                _fetch(fut, _ClusterWatch(client, address, 1.0))
            # Two polls of 2 s at most to see the trouble, then the 1 s timeout; far below forever.
            assert time.monotonic() - t0 < 30
    finally:
        _stop(procs)
        log.close()
