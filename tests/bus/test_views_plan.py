"""The hall view's plan and sensors (protocol 1.2), and the summary's failed sensors, against the hall
model and the controllers they come from."""

from __future__ import annotations

from tests.halls import TINY
from twin.bus.views import failed_sensors, hall_info
from twin.model.load import bundled_hall, load_hall
from twin.sim.twin import HallTwin


def test_plan_boxes_are_the_hall_models():
    """Every rack, CRAH and PDU box in plan is the model's own (x0, y0, x1, y1), in the order of the names."""
    hall = bundled_hall("reference")
    twin = HallTwin(hall, control="ideal")
    info = hall_info(twin)
    plan = info["plan"]
    assert plan["size_m"] == [30.0, 20.0]
    for boxes, items in ((plan["racks"], hall.racks), (plan["crahs"], hall.crahs), (plan["pdus"], hall.pdus)):
        assert boxes == [[i.box.lo[0], i.box.lo[1], i.box.hi[0], i.box.hi[1]] for i in items]
    assert info["power"]["pdus"] == [p.name for p in hall.pdus]
    assert plan["rack_rows"] == [r.row for r in hall.racks]
    assert {a["name"] for a in plan["aisles"] if a["kind"] == "cold-aisle"} == {c.name for c in hall.spec.containment}
    assert info["sensors"] == [] and info["rack_it_w"] == [r.it_w for r in hall.racks]  # ideal: no sensors


def test_failed_sensors_name_groups_only_when_all_of_them_failed():
    """One rack-inlet sensor failed: only it is listed; the whole group failed: the group and each member."""
    twin = HallTwin(load_hall(TINY), control="embedded")
    assert "CRAH-01.supply_temp" in hall_info(twin)["sensors"]
    state = twin.initial_state()
    assert failed_sensors(state) == {"name": [], "mode": []}
    state.controls.fail_sensor("CRAH-01.inlet_temp.A02", "noisy", state.time_s)
    assert failed_sensors(state) == {"name": ["CRAH-01.inlet_temp.A02"], "mode": ["noisy"]}
    state.controls.fail_sensor("CRAH-01.inlet_temp", "open", state.time_s)
    members = [f"CRAH-01.inlet_temp.{r}" for r in ("A01", "A02", "A03", "A04")]
    assert failed_sensors(state) == {"name": ["CRAH-01.inlet_temp", *members], "mode": ["open"] * 5}
    state.controls.fail_sensor("CRAH-01.inlet_temp", "ok", state.time_s)
    assert failed_sensors(state) == {"name": [], "mode": []}
