"""Every shipped scenario plays on the reference hall and its consequences show (slow: ~1 min each of one
core; the three runs start together, so two cores play them in about half the time)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.sim.runs import REPO, twin_command
from twin.model import ASSETS_DIR

REFERENCE = ASSETS_DIR / "halls" / "reference.toml"
SCENARIOS = ASSETS_DIR / "scenarios"
NAMES = ("crah-failure", "utility-outage", "load-step")
#: Simulated time each scenario is played for, s: until a few minutes after its last event, since every check
#: reads what the events set off and how the hall settles meanwhile, not the rest of the file's hour (that a
#: file's duration is what `twin run --scenario` plays without --duration is tested on tiny, in
#: tests/sim/test_run_options.py). CRAH-03 restarts at 40 min: 45 min. The utility returns at 45 min (its
#: event must apply; the batteries' recharge on the generator is read before it): 48 min. The load step's events are all
#: over at 20 min and its checks read the loads and setpoints they set: 30 min gives them ten minutes to hold.
PLAYED_S = {"crah-failure": 2700.0, "utility-outage": 2880.0, "load-step": 1800.0}


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """Each scenario played by a real `twin run --scenario` process, all three at once: name → (summary,
    time-series columns). The runs are independent single-threaded processes (the solvers keep one
    BLAS thread), so running them side by side changes nothing in their results."""
    root = tmp_path_factory.mktemp("scenarios")
    procs = {name: subprocess.Popen(twin_command("run", REFERENCE, "--scenario", SCENARIOS / f"{name}.toml",
                                                 "--duration", f"{PLAYED_S[name]:.0f}s",
                                                 "--json", "--out", root / name),
                                    cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in NAMES}
    results = {}
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, err
            table = pq.read_table(root / name / "timeseries.parquet")
            results[name] = (json.loads(out), {c: table.column(c).to_numpy() for c in table.column_names})
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def _common(summary, name):
    assert summary["sim_s"] == PLAYED_S[name] and summary["control"] == "embedded"
    assert abs(summary["energy_balance_error"]) < 1e-9
    assert summary["pue"] == pytest.approx(sum(summary["pue_parts"].values()), rel=1e-6)
    assert 1.1 < summary["pue"] < 1.8
    assert all(e["outcome"] for e in summary["scenario"]["events"])


@pytest.mark.slow
def test_crah_failure_scenario(played):
    """CRAH-03 trips at 10 min: its alarm is raised then, the other units' fans speed up, it restarts at 40 min."""
    summary, col = played["crah-failure"]
    _common(summary, "crah-failure")
    trip = next(a for a in summary["alarms"] if a["name"] == "CRAH-03.trip")
    assert trip["raised_s"] == 600 and trip["cleared_s"] == 2400
    t = col["time_s"]
    others = [c for c in col if c.startswith("crah.") and c.endswith(".fan_speed") and "CRAH-03" not in c]
    before = np.mean([col[c][(t > 300) & (t <= 600)].mean() for c in others])
    during = np.mean([col[c][(t > 1500) & (t <= 2400)].mean() for c in others])
    assert during > before
    assert col["crah.CRAH-03.flow_m3s"][(t > 700) & (t < 2390)].max() == 0.0


@pytest.mark.slow
def test_utility_outage_scenario(played):
    """Utility lost at 5 min: UPSs on battery until the generator is online, chillers restart later while
    the chilled water warms, the batteries recharge; the utility returns at 45 min."""
    summary, col = played["utility-outage"]
    _common(summary, "utility-outage")
    t = col["time_s"]
    assert {"UPS-A.on_battery", "UPS-B.on_battery"} <= {a["name"] for a in summary["alarms"]}
    assert 0.9 < summary["min_battery_soc"] < 1.0
    assert col["power.utility_ok"][(t > 300) & (t < 2700)].max() == 0.0
    assert col["power.on_generator"][(t > 320) & (t < 2700)].min() == 1.0
    chillers_off = col["plant.chillers_running"] == 0
    assert chillers_off[(t > 300) & (t < 890)].all() and not chillers_off[t > 1000].any()
    chw = col["plant.t_chw_c"]
    assert chw[(t > 300) & (t < 1000)].max() > chw[t <= 300].max() + 1.0  # the loop warmed meanwhile
    assert col["ups.UPS-A.soc"][-1] > summary["min_battery_soc"]  # recharged on the generator
    assert col["power.generator_w"][(t > 400) & (t < 2700)].min() > 0
    # The utility's return at 45 min applies, and the ATS holds the generator through its retransfer delay
    # (reference.toml: 300 s, so past the 48 min played).
    assert [e["kind"] for e in summary["scenario"]["events"]] == ["utility_outage", "utility_return"]
    assert col["power.utility_ok"][t >= 2710].min() == 1.0
    assert col["power.on_generator"][t >= 2710].min() == 1.0


@pytest.mark.slow
def test_load_step_scenario(played):
    """Rows C and D step to 150 % at 10 min; two supply setpoints lowered at 20 min (registry: ok)."""
    summary, col = played["load-step"]
    _common(summary, "load-step")
    t = col["time_s"]
    assert col["rack.C01.it_load_w"][t > 600].min() == pytest.approx(1.5 * col["rack.C01.it_load_w"][0])
    stepped_w = sum(col[c][0] for c in col if c.startswith(("rack.C", "rack.D")) and c.endswith(".it_load_w"))
    assert col["hall.it_load_w"][-1] == pytest.approx(col["hall.it_load_w"][0] + 0.5 * stepped_w)
    writes = [e for e in summary["scenario"]["events"] if e["kind"] == "setpoint"]
    assert [e["outcome"] for e in writes] == ["ok", "ok"]
    assert col["crah.CRAH-02.supply_setpoint_c"][-1] == pytest.approx(17.0)
