"""What a sweep's worker process does for speed, checked by counting instead of timing: the built hall
is reused (one build per worker and hall variant), the worker's malloc reuses memory as a plain
process's does (page faults of a solve-sized temporary), and a case past its time limit is stopped and
reported while the sweep goes on."""

from __future__ import annotations

import dataclasses
import json
import math
import resource
import uuid

import numpy as np
import pytest

from tests.halls import hall_from, two_crah_dict
from tests.sim.runs import twin_main
from twin.sweep.bench import grid_cases
from twin.sweep.cases import Case
from twin.sweep.command import job_for
from twin.sweep.engine import run_sweep
from twin.sweep.worker import clear_cache, process_stats, run_batch, run_case

pytestmark = pytest.mark.slow  # uses the package's two-worker LocalCluster (conftest.py)


@pytest.fixture(scope="module")
def two_crah():
    return hall_from(two_crah_dict())


def _fresh_job(hall, **options):
    """A job whose key no worker has seen, so its counters start at zero whatever ran before."""
    job = job_for(hall, airflow=None, **options)
    return dataclasses.replace(job, key=f"{job.key}:{uuid.uuid4().hex}")


def test_hall_is_built_once_per_worker_and_variant(client, two_crah):
    """24 cases of two hall variants (tile fractions change the grid's faces) on two workers: every case
    ran once, and no worker built a variant twice, so at most 2 × 2 builds for 24 cases."""
    job = _fresh_job(two_crah)
    grid = grid_cases(4, 3)
    cases = grid + [Case(f"{c.name}, tiles 0.4", kind="grid", supply_setpoint_c=c.supply_setpoint_c,
                         load_scale=c.load_scale, tile_open_fraction=(("*", 0.4),)) for c in grid]
    run = run_sweep(job, cases, client=client)
    assert [r["status"] != "error" for r in run.rows] == [True] * len(cases)
    stats = client.run(process_stats)
    assert len(stats) == 2
    assert sum(s["cases"].get(job.key, 0) for s in stats.values()) == len(cases)
    builds = [s["builds"].get(job.key, 0) for s in stats.values()]
    assert all(b <= 2 for b in builds) and 2 <= sum(builds) <= 4, builds


def _faults_of_temporaries() -> int:
    """Minor page faults of 40 steps that each make two 1 MiB temporaries and drop them, as a solve's
    vector operations do on a grid of 10⁵ cells (above glibc's initial 128 KiB mmap threshold)."""
    x = np.ones(1 << 17)
    y = x * 2.0  # the first ones may map fresh memory: not counted
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        y = x * 2.0 + y * 0.5
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_workers_allocate_without_faulting_in_every_temporary(client, two_crah):
    """Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536: glibc then maps every large temporary
    afresh and faults its pages in (each case ran 2-3x slower in a worker than in a process). Once a batch
    has run on a worker, its temporaries reuse heap memory: 80 of 1 MiB fault in far fewer than the
    80 × 256 pages of fresh maps."""
    envs = client.run(lambda: __import__("os").environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert set(envs.values()) == {"65536"}  # Dask's default is what the workers started with
    client.run(run_batch, _fresh_job(two_crah), [Case("base")])  # a batch on every worker
    faults = client.run(_faults_of_temporaries)
    assert all(f < 80 * 256 // 4 for f in faults.values()), faults
    assert all("undone" in s["malloc"] for s in client.run(process_stats).values())


def _timeout_cases() -> list[Case]:
    return [Case("a day of CRAH-01 out", kind="list", crahs_out=("CRAH-01",), duration_s=86400.0),
            Case("a minute of CRAH-01 out", kind="list", crahs_out=("CRAH-01",), duration_s=60.0),
            Case("steady without CRAH-02", kind="list", crahs_out=("CRAH-02",))]


def test_case_past_its_time_limit_is_reported_and_the_batch_goes_on(two_crah):
    """In one batch, a day-long transient case (~10⁵ steps) stops at its 4 s limit and is an error saying
    so; the cases after it run on a rebuilt hall and equal fresh single runs to 1e-9."""
    job = _fresh_job(two_crah, case_timeout_s=4.0)
    # Compile the transient kernels first (numba, ~1 s where its disk cache is cold), so that the
    # minute-long case measures itself on a loaded machine.
    run_case(dataclasses.replace(job, case_timeout_s=None), _timeout_cases()[1])
    clear_cache()
    long_row, *rows = run_batch(job, _timeout_cases())
    assert long_row["status"] == "error" and long_row["reason"].startswith("timed out")
    assert "4 s" in long_row["reason"] and "--case-timeout" in long_row["reason"]
    assert 4.0 <= long_row["wall_s"] < 30.0
    # Built for the warm-up, after clear_cache, and after the timeout dropped the interrupted hall.
    assert process_stats()["builds"][job.key] == 3
    for case, row in zip(_timeout_cases()[1:], rows):
        clear_cache()
        ref = run_case(job, case)
        assert row["status"] == ref["status"] != "error", case.name
        np.testing.assert_allclose(row["rack_inlet_c"], ref["rack_inlet_c"], rtol=0, atol=1e-9)
    assert rows[0]["time_to_27c_s"] > 0 or math.isnan(rows[0]["time_to_27c_s"])


def test_sweep_case_timeout_from_the_command_line(client, tmp_path, capsys):
    """``twin sweep --duration 1d --case-timeout 2`` on the cluster: both day-long cases stop at 2 s and are
    errors naming the limit, the sweep still finishes (exit 0) with its summary, parquet and report."""
    cases = tmp_path / "cases.toml"
    cases.write_text('[grid]\nsupply_setpoint_c = [18.0, 20.0]\n', encoding="utf-8")
    out = tmp_path / "sw"
    proc = twin_main(capsys, "sweep", "tiny", "--cases", cases, "--duration", "1d", "--case-timeout", "2", "--json",
                     "--out", out, "--scheduler", client.scheduler.address)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["cases"] == 2 and summary["counts"]["error"] == 2
    import pyarrow.parquet as pq

    rows = pq.read_table(out / "cases.parquet").to_pylist()
    assert [r["status"] for r in rows] == ["error", "error"]
    assert all("limit of 2 s" in r["reason"] and 2.0 <= r["wall_s"] < 30.0 for r in rows)
    assert (out / "report.html").is_file()


def test_case_timeout_must_be_a_duration(capsys):
    """A bad --case-timeout is one line naming the option and what is allowed (in process)."""
    proc = twin_main(capsys, "sweep", "tiny", "--n-1", "crah", "--case-timeout", "soon")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--case-timeout" in proc.stderr.splitlines()[-1] and "duration" in proc.stderr.splitlines()[-1]
