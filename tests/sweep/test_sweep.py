"""Sweeps on a real two-worker LocalCluster: the same rows as serial single runs, N-1 physics, the
outputs read back, one-line errors of cases files."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.halls import hall_from, two_crah_dict
from tests.sim.runs import TINY, twin_main
from twin.sweep.cases import CasesError, load_cases, n_minus_1
from twin.sweep.command import job_for
from twin.sweep.engine import run_sweep
from twin.sweep.worker import clear_cache, run_case

pytestmark = pytest.mark.slow  # uses the package's two-worker LocalCluster (conftest.py)


@pytest.fixture(scope="module")
def two_crah():
    return hall_from(two_crah_dict())


def _numbers(row: dict) -> dict:
    return {k: v for k, v in row.items() if isinstance(v, float) and k != "wall_s"}


def test_cluster_sweep_equals_serial_single_runs(client, two_crah):
    """N-1 of every kind on two worker processes gives the rows of fresh serial runs, to 1e-9."""
    job = job_for(two_crah, airflow=None)
    cases = n_minus_1(two_crah, "all")
    run = run_sweep(job, cases, client=client)
    assert run.workers == 2 and not run.pending
    assert [r["case"] for r in run.rows] == [c.name for c in cases]
    for case, row in zip(cases, run.rows):
        clear_cache()  # a single run: the hall built for this case alone
        ref = run_case(job, case)
        assert row["status"] == ref["status"] and row.get("reason") == ref.get("reason"), case.name
        np.testing.assert_allclose(row["rack_inlet_c"], ref["rack_inlet_c"], rtol=0, atol=1e-9)
        a, b = _numbers(row), _numbers(ref)
        assert a.keys() == b.keys()
        for k in a:
            assert (math.isnan(a[k]) and math.isnan(b[k])) or abs(a[k] - b[k]) <= 1e-9 * max(1.0, abs(b[k])), k


def test_n_minus_1_physics(client, two_crah):
    """A 2N chain keeps every rack powered after any single power failure, the surviving UPS then carries
    the whole IT load (its output at least the two outputs of normal operation less losses), and losing a
    CRAH of an N+1 pair warms the inlets."""
    job = job_for(two_crah, airflow=None)
    rows = {r["case"]: r for r in run_sweep(job, n_minus_1(two_crah, "all"), client=client).rows}
    base = rows["base"]
    assert base["status"] == "ok"
    for name, r in rows.items():
        if r["kind"] in ("ups", "pdu", "feed"):
            assert r["racks_dark"] == 0, name
            assert r["it_kw"] == pytest.approx(base["it_kw"], rel=1e-12)
    # Both UPSs share the load in normal operation; alone, one carries all of it (≈ twice its share).
    assert rows["without UPS-A"]["max_ups_load_fraction"] > 1.8 * base["max_ups_load_fraction"] * 0.97
    for crah in ("CRAH-01", "CRAH-02"):
        assert rows[f"without {crah}"]["max_inlet_c"] > base["max_inlet_c"]


def test_transient_cases_report_heat_up_times(client):
    """Losing the only CRAH of tiny for 10 min: the worst inlet passes 27 then 32 °C, the peak over the run
    is at least the final hottest inlet, and the cluster's numbers equal a serial run's."""
    from twin.model.load import load_hall

    hall = load_hall(TINY)
    job = job_for(hall, airflow=None)
    cases = n_minus_1(hall, "crah", duration_s=600.0)
    rows = run_sweep(job, cases, client=client).rows
    failed = rows[1]
    assert 0 < failed["time_to_27c_s"] < failed["time_to_32c_s"] <= 600.0
    assert failed["peak_inlet_c"] >= failed["max_inlet_c"] - 1e-12
    assert failed["status"] == "fail" and "reaches" in failed["reason"]
    assert math.isnan(rows[0]["time_to_27c_s"])  # normal operation stays below 27 °C
    clear_cache()
    ref = run_case(job, cases[1])
    assert failed["time_to_27c_s"] == ref["time_to_27c_s"]
    assert abs(failed["peak_inlet_c"] - ref["peak_inlet_c"]) < 1e-9


def test_cli_sweep_writes_parquet_and_report(client, tmp_path, capsys):
    """`twin sweep tiny --n-1 all --json` through the test cluster's scheduler: exit 0, the summary on
    stdout, cases.parquet with units read back, a self-contained report.html with the verdict."""
    out = tmp_path / "sw"
    proc = twin_main(capsys, "sweep", "tiny", "--n-1", "all", "--json", "--out", out,
                     "--scheduler", client.scheduler.address)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["cases"] == 14 and summary["counts"]["error"] == 1
    assert summary["verdicts"][0].startswith("N-1 cooling: fails: without CRAH-01, no steady state")
    table = pq.read_table(out / "cases.parquet")
    assert table.num_rows == 14
    assert table.schema.field("max_inlet_c").metadata[b"unit"] == "°C".encode()
    assert table.schema.field("max_pdu_load_fraction").metadata[b"unit"] == b"1"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert summary["verdicts"][0].split(":")[0] in page and "<svg" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched


@pytest.mark.parametrize(("text", "expected"), [
    ("[grid]\nsupply_setpoint_c = [18.0, 40.0]\n", "grid.supply_setpoint_c: "),
    ("[grid]\nload_scale = [{ target = 'Q', values = [1.0] }]\n", "grid.load_scale[0].target: 'Q' is neither"),
    ("[[cases]]\ncrahs_out = ['CRAH-9']\n", "cases[0].crahs_out[0]: no CRAH named 'CRAH-9'; CRAHs: CRAH-01"),
    ("[[cases]]\nsetpoint = 20\n", "cases[0].setpoint"),
    ("[sweep]\nmode = 'transient'\n[[cases]]\n", "sweep"),
    ("[sweep]\nname = 'x'\n", "give a [grid] or at least one [[cases]]"),
    ("[[cases]]\ncontainment_leakage = 0.1\n", "the hall has no [[containment]]"),
])
def test_cases_file_errors_are_one_line(tmp_path, text, expected):
    """Bad cases files: one line naming the file, the key path and what is allowed."""
    from twin.model.load import load_hall

    path = tmp_path / "cases.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CasesError) as err:
        load_cases(path, load_hall(TINY))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path)) and expected in msg, msg


def test_cases_file_grid_and_list(tmp_path):
    """A grid is the product of its lists; listed cases follow with their names."""
    from twin.model.load import load_hall

    path = tmp_path / "cases.toml"
    path.write_text("[grid]\nsupply_setpoint_c = [18.0, 20.0, 22.0]\n"
                    "load_scale = [{ target = 'A', values = [1.0, 1.5] }]\n"
                    "[[cases]]\nname = 'A03 at 12 kW'\nrack_load_kw = [{ target = 'A03', it_kw = 12.0 }]\n",
                    encoding="utf-8")
    cases = load_cases(path, load_hall(TINY))
    assert len(cases) == 7 and cases[-1].name == "A03 at 12 kW"
    assert {(c.supply_setpoint_c, c.load_scale) for c in cases[:6]} == {
        (sp, (("A", f),)) for sp in (18.0, 20.0, 22.0) for f in (1.0, 1.5)}


def test_cli_errors_are_one_line(tmp_path, capsys):
    """A bad cases file, or power failures asked of a hall without a power chain: exit 2, one line naming
    the file and key path, no traceback, before any cluster starts."""
    cases = tmp_path / "cases.toml"
    cases.write_text("[grid]\noutdoor_temp_c = [25.0, 70.0]\n", encoding="utf-8")
    proc = twin_main(capsys, "sweep", "tiny", "--cases", cases)  # error lines: in process
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"twin sweep: error: {cases}: grid.outdoor_temp_c") and "-40 and 55" in line
    text = TINY.read_text(encoding="utf-8")
    no_power = tmp_path / "no-power.toml"
    no_power.write_text(text[:text.index("[[power.rack_feeds]]")] + text[text.index("[[crahs]]"):text.index(
        "# --- Power chain")], encoding="utf-8")
    proc = twin_main(capsys, "sweep", no_power, "--n-1", "ups")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert "has no [power] section" in line and str(no_power) in line


def test_tile_fraction_cases_build_their_own_hall(tmp_path):
    """A case that closes tiles down builds and caches its own hall (tiles at the new open fraction; the
    air takes other paths, so the inlets change), while the base case (same worker cache) is unchanged."""
    from twin.model.load import load_hall
    from twin.sweep import worker

    hall = load_hall(TINY)
    path = tmp_path / "tiles.toml"
    path.write_text("[[cases]]\nname = 'base'\n[[cases]]\ntile_open_fraction = [{ target = 'cold-aisle', "
                    "open_fraction = 0.05 }]\n", encoding="utf-8")
    cases = load_cases(path, hall)
    job = job_for(hall, airflow=None)
    clear_cache()
    base, closed, base_again = run_case(job, cases[0]), run_case(job, cases[1]), run_case(job, cases[0])
    assert closed["status"] != "error", closed.get("reason")
    assert max(abs(a - b) for a, b in zip(closed["rack_inlet_c"], base["rack_inlet_c"])) > 1e-3
    fractions = sorted(e[0].hall.spec.tiles[0].open_fraction for e in worker._CACHE.values())
    assert fractions == [0.05, 0.25]
    assert base_again["rack_inlet_c"] == base["rack_inlet_c"]
