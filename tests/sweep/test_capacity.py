"""Capacity per rack on a small hall where the answers can be checked: a rack whose feed rating binds
(computed by hand from the PSU curve), one whose cooling binds (checked with independent steady solves
just below and just above it), stranded capacity as their difference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.halls import hall_from, two_crah_dict
from tests.sim.runs import twin_main
from twin.model.power import PSU_CURVES
from twin.sim.twin import HallTwin, NoSteadyState
from twin.sweep.capacity import TOL_KW, capacity_cases, power_capacity, stranded
from twin.sweep.command import job_for
from twin.sweep.engine import run_sweep

pytestmark = pytest.mark.slow  # uses the package's two-worker LocalCluster (conftest.py)

#: Rack feed rating: 80 % of it is exactly what a 5 kW-nominal rack (PSUs rated 2 × 5 kW) draws at 10 kW
#: of IT through one feed: PSUs at full load (80 PLUS Titanium: 91 %), power factor 0.98.
_ETA_FULL = PSU_CURVES["titanium"][1][-1]
_FEED_KVA = 10.0 / _ETA_FULL / 0.98 / 0.8


@pytest.fixture(scope="module")
def hall():
    """Two CRAHs (N+1) at 16 °C supply, six racks (4, 5, 5, 5, 5, 4 kW), UPSs and PDUs far above the load."""
    d = two_crah_dict()
    for c in d["crahs"]:
        c.update(supply_setpoint_c=16.0, inlet_temp_setpoint_c=19.0)
    d["rows"][0]["it_kw"] = [4.0, 5.0, 5.0, 5.0, 5.0, 4.0]
    for part in (*d["power"]["pdus"], *d["power"]["ups"]):
        part["rated_kva"] = 200.0
    d["power"]["rack_feeds"][0]["rated_kva"] = _FEED_KVA
    return hall_from(d)


def test_power_capacity_feed_rating_by_hand(hall):
    """A 5 kW rack can take 5 kW more: then one feed carries 10 kW of IT at full PSU load, 80 % of its rating."""
    by_rack = {p["rack"]: p for p in power_capacity(hall, limit=0.8)}
    for name in ("A02", "A03", "A04", "A05"):
        assert by_rack[name]["power_kw"] == pytest.approx(5.0, abs=TOL_KW)
        assert by_rack[name]["power_kw"] <= 5.0 + 1e-9  # the safe end of the bracket
        assert f"{name} feed" in by_rack[name]["power_binding"]
    # A 4 kW rack's PSUs are rated 8 kW: past full load their loss continues the curve's last segment
    # (50 % → 100 %: loss per rated W from 0.5·(1/0.96 − 1) to L₁ = 1/0.91 − 1, slope s), so the feed's limit,
    # P = 10 kW / 0.91 of real power, is reached at IT = (P − 8 kW·(L₁ − s)) / (1 + s).
    loss_half, loss_full = 0.5 * (1 / 0.96 - 1), 1 / _ETA_FULL - 1
    slope = (loss_full - loss_half) / 0.5
    it_kw = (10.0 / _ETA_FULL - 8.0 * (loss_full - slope)) / (1 + slope)
    assert by_rack["A01"]["power_kw"] == pytest.approx(it_kw - 4.0, abs=TOL_KW)


def _max_inlet(hall, rack: str, extra_kw: float, crah_out: str | None) -> float:
    """Hottest rack inlet of an independent steady solve (inf: no steady state)."""
    twin = HallTwin(hall)
    s = twin.initial_state()
    if crah_out:
        k = twin.crahs.names.index(crah_out)
        s.crah_tripped[k], s.crah_running[k] = True, False
    s.rack_it_w = s.rack_it_w.copy()
    s.rack_it_w[twin.racks.names.index(rack)] += extra_kw * 1e3
    try:
        return float(twin.steady(s).t_intake_c.max())
    except NoSteadyState:
        return math.inf


def test_capacity_cooling_and_power_bind_and_strand(client, hall):
    """On the cluster: A01 is bound by cooling (an inlet reaches 27 °C just above its capacity, not at it),
    A03 by its feed; stranded power and cooling are each rack's difference, summed per row."""
    job = job_for(hall, airflow=None)
    rows = run_sweep(job, capacity_cases(hall, ["CRAH-01", "CRAH-02"]), client=client).rows
    assert all(r["status"] == "ok" for r in rows), [r.get("reason") for r in rows]
    power = {p["rack"]: p for p in power_capacity(hall, limit=0.8)}
    racks = []
    for r in hall.racks:
        mine = [x for x in rows if x["rack"] == r.name]
        worst = min(mine, key=lambda x: x["cooling_kw"])
        racks.append({"rack": r.name, **power[r.name], "cooling_kw": worst["cooling_kw"],
                      "cooling_binding": worst["cooling_binding"], "crahs_out": worst["crahs_out"]})
    by = {r["rack"]: r for r in racks}
    agg = stranded(racks, hall)
    a01, a03 = by["A01"], by["A03"]
    assert a01["bound_by"] == "cooling" and a03["bound_by"] == "power"
    assert a01["cooling_binding"].startswith("without CRAH-") and "inlet 27 °C" in a01["cooling_binding"]
    crah = a01["crahs_out"]
    assert _max_inlet(hall, "A01", a01["cooling_kw"], crah) <= 27.0
    assert _max_inlet(hall, "A01", a01["cooling_kw"] + TOL_KW, crah) > 27.0
    assert a01["stranded_power_kw"] == pytest.approx(a01["power_kw"] - a01["cooling_kw"])
    assert a03["stranded_cooling_kw"] == pytest.approx(a03["cooling_kw"] - a03["power_kw"])
    row = agg["rows"][0]
    assert row["stranded_power_kw"] == pytest.approx(sum(r["stranded_power_kw"] for r in racks))
    assert agg["total"]["usable_kw"] == pytest.approx(sum(min(r["power_kw"], r["cooling_kw"]) for r in racks))


def test_cli_capacity_tiny_strands_all_power(client, tmp_path, capsys):
    """Tiny has one CRAH: without it there is no steady state, so no rack has cooling under N-1 and all the
    power its chain could give (at a 90 % limit) is stranded; outputs written and read back."""
    import pyarrow.parquet as pq

    out = tmp_path / "cap"
    proc = twin_main(capsys, "capacity", "tiny", "--json", "--load-limit", "0.9", "--out", out,
                     "--scheduler", client.scheduler.address)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    racks = s["racks"]
    assert len(racks) == 4 and all(r["cooling_kw"] == 0.0 for r in racks)
    assert all("without CRAH-01" in r["cooling_binding"] and "no steady state" in r["cooling_binding"]
               for r in racks)
    assert all(r["power_kw"] > 0 for r in racks)
    total = s["capacity"]["total"]
    assert total["stranded_power_kw"] == pytest.approx(sum(r["power_kw"] for r in racks))
    assert total["usable_kw"] == 0.0
    table = pq.read_table(out / "capacity.parquet")
    assert table.schema.field("power_kw").metadata[b"unit"] == b"kW"
    np.testing.assert_allclose(table.column("power_kw").to_numpy(), [r["power_kw"] for r in racks])
    assert "Stranded capacity per row" in (out / "report.html").read_text(encoding="utf-8")


def test_cli_capacity_case_timeout_stops_each_search(client, tmp_path, capsys):
    """`twin capacity tiny --case-timeout 0.001`: every rack's cooling search (several steady solves) is
    stopped at its limit and reported with it; the command still ends (exit 0) with each rack's power
    capacity, no cooling capacity claimed for a search that did not finish, and its outputs."""
    import pyarrow.parquet as pq

    from tests.halls import TINY
    from twin.model.load import load_hall
    from twin.sweep.cases import Case
    from twin.sweep.worker import run_batch

    # Each worker solves tiny once first, so that the limit stops solves, not numba loading its kernels.
    client.run(run_batch, job_for(load_hall(TINY), airflow=None), [Case("warm-up", kind="grid")])
    out = tmp_path / "cap"
    proc = twin_main(capsys, "capacity", "tiny", "--json", "--case-timeout", "0.001", "--load-limit", "0.9", "--out", out,
                     "--scheduler", client.scheduler.address)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["case_timeout_s"] == 0.001 and s["counts"]["error"] == s["cases"] == 4
    racks = s["racks"]
    assert all(r["cooling_kw"] == 0.0 and r["power_kw"] > 0 for r in racks)
    assert all("limit of 0.001 s (--case-timeout)" in r["cooling_binding"] for r in racks)
    rows = pq.read_table(out / "cases.parquet").to_pylist()
    assert [r["kind"] for r in rows] == ["capacity"] * 4
    assert all(r["status"] == "error" and r["reason"].startswith("timed out") and r["wall_s"] < 30.0 for r in rows)


def test_capacity_case_timeout_must_be_a_duration(capsys):
    """A bad --case-timeout on twin capacity is one line naming the option and what is allowed (in process)."""
    proc = twin_main(capsys, "capacity", "tiny", "--case-timeout", "soon")
    last = proc.stderr.splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--case-timeout" in last and "duration" in last
