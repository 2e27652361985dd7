"""What `twin run` writes, read back with independent readers: the Parquet time series with pyarrow and the
.vti fields with VTK's own XML reader; checked against the hall file and against physics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.sim.runs import TINY, read_pvd, read_vti, twin_main
from twin.model import load_hall

RACK_QUANTITIES = ("t_inlet_c", "t_exhaust_c", "it_load_w", "flow_m3s")
CRAH_QUANTITIES = ("t_return_c", "t_supply_c", "flow_m3s", "heat_removed_w", "fan_power_w")
HALL_TOTALS = ("it_load_w", "fan_power_w", "heat_removed_w", "max_inlet_c", "mean_inlet_c")
UNIT_BY_SUFFIX = {"_c": "degC", "_w": "W", "_m3s": "m3/s", "_s": "s", "_j": "J"}


def _columns(out_dir) -> dict[str, np.ndarray]:
    table = pq.read_table(out_dir / "timeseries.parquet")
    return {name: table.column(name).to_numpy() for name in table.column_names}


# --- timeseries.parquet -------------------------------------------------------------------------

def test_timeseries_columns_and_units(run_3h):
    """time_s at the record interval, one column per rack/CRAH quantity and hall total, each with its unit."""
    summary, out_dir = json.loads(run_3h[0].stdout), run_3h[1]
    hall = load_hall(TINY)
    schema = pq.read_schema(out_dir / "timeseries.parquet")
    expected = ["time_s"]
    expected += [f"rack.{r.name}.{q}" for q in RACK_QUANTITIES for r in hall.racks]
    expected += [f"crah.{c.name}.{q}" for q in CRAH_QUANTITIES for c in hall.crahs]
    expected += [f"hall.{q}" for q in HALL_TOTALS]
    assert [r.name for r in hall.racks] == ["A01", "A02", "A03", "A04"]
    assert set(expected) <= set(schema.names)
    assert schema.names[0] == "time_s" and schema.names.count("time_s") == 1
    for field in schema:
        assert field.metadata and b"unit" in field.metadata, field.name
        unit = field.metadata[b"unit"].decode()
        for suffix, wanted in UNIT_BY_SUFFIX.items():
            if field.name.endswith(suffix):
                assert unit == wanted, (field.name, unit)
                break
    columns = _columns(out_dir)
    time_s = columns["time_s"]
    assert time_s[0] == 0 and time_s[-1] == summary["sim_s"] == 3 * 3600
    assert np.all(np.diff(time_s) == 10.0)  # --record-every default, 10 s
    for rack in hall.racks:
        assert np.all(columns[f"rack.{rack.name}.it_load_w"] == rack.it_w)
    total_w = sum(columns[f"rack.{r.name}.it_load_w"] for r in hall.racks)
    assert np.allclose(columns["hall.it_load_w"], total_w, rtol=1e-12)


def test_timeseries_last_row_matches_summary(run_3h):
    """The last row is the state the summary describes: hottest and mean inlet, racks outside 18–27 °C."""
    summary, out_dir = json.loads(run_3h[0].stdout), run_3h[1]
    columns = _columns(out_dir)
    inlets = np.array([columns[f"rack.{name}.t_inlet_c"][-1] for name in ("A01", "A02", "A03", "A04")])
    assert summary["max_inlet_c"] == pytest.approx(inlets.max(), abs=1e-4)
    assert summary["mean_inlet_c"] == pytest.approx(inlets.mean(), abs=1e-4)
    assert summary["max_inlet_rack"] == f"A0{int(np.argmax(inlets)) + 1}"
    assert summary["racks_outside_recommended"] == np.count_nonzero((inlets < 18) | (inlets > 27))


def test_timeseries_settles_to_heat_removed_equals_heat_released(run_3h):
    """Heat removed starts far below the heat released (IT with PSU losses, fans, PDUs) and ends within 1 %."""
    columns = _columns(run_3h[1])
    removed_w = columns["hall.heat_removed_w"]
    released_w = columns["hall.heat_released_w"]
    assert np.all(released_w > columns["hall.it_load_w"] + columns["hall.fan_power_w"])  # the chain's losses
    assert removed_w[-1] == pytest.approx(released_w[-1], rel=0.01)
    early = columns["time_s"] <= 60.0
    assert np.all(removed_w[early] < 0.9 * released_w[early])  # the test would fail on a run too short to settle
    assert np.all(np.abs(columns["hall.energy_balance_error"]) < 1e-6)


def test_timeseries_energies_are_integrals_of_the_powers(run_3h):
    """hall.heat_removed_j is the time integral of hall.heat_removed_w; heat_in_j that of the heat released."""
    columns = _columns(run_3h[1])
    time_s = columns["time_s"]
    removed_j = np.trapezoid(columns["hall.heat_removed_w"], time_s)
    released_j = np.trapezoid(columns["hall.heat_released_w"], time_s)
    assert columns["hall.heat_removed_j"][-1] == pytest.approx(removed_j, rel=1e-3)
    assert columns["hall.heat_in_j"][-1] == pytest.approx(released_j, rel=1e-9)


def test_timeseries_equipment_balances_at_steady_state(run_3h):
    """Settled: rack exhaust − inlet = P/(ρ c_p q), P the heat the rack releases (IT + its PSUs' losses);
    CRAH heat removed = ρ c_p q (return − supply) + fan."""
    hall = load_hall(TINY)
    rho_cp = hall.spec.air.density_kg_m3 * hall.spec.air.cp_j_kgk
    last = {name: values[-1] for name, values in _columns(run_3h[1]).items()}
    for rack in hall.racks:
        rise_k = last[f"rack.{rack.name}.t_exhaust_c"] - last[f"rack.{rack.name}.t_inlet_c"]
        heat_w = last[f"rack.{rack.name}.heat_w"]
        assert rack.it_w < heat_w < 1.12 * rack.it_w
        assert rise_k == pytest.approx(heat_w / (rho_cp * last[f"rack.{rack.name}.flow_m3s"]), rel=1e-3)
    crah = f"crah.{hall.crahs[0].name}."
    air_w = rho_cp * last[crah + "flow_m3s"] * (last[crah + "t_return_c"] - last[crah + "t_supply_c"])
    assert last[crah + "heat_removed_w"] == pytest.approx(air_w + last[crah + "fan_power_w"], rel=1e-3)


# --- fields/*.vti -------------------------------------------------------------------------------

def test_vti_opens_with_vtk_with_the_documented_arrays(run_10min):
    """Each .vti opens with vtkXMLImageDataReader: grid shape + 1 points, t_c, speed, 3-component velocity, solid."""
    summary, out_dir = json.loads(run_10min[0].stdout), run_10min[1]
    nx, ny, nz = summary["grid"]
    paths = sorted((out_dir / "fields").glob("*.vti"))
    assert [p.name for p in paths] == ["t_00000000s.vti", "t_00000600s.vti"]
    for path in paths:
        image, arrays = read_vti(path)
        assert image.GetDimensions() == (nx + 1, ny + 1, nz + 1)
        assert image.GetNumberOfCells() == summary["cells"]
        assert image.GetSpacing() == pytest.approx((summary["cell_m"],) * 3)
        assert set(arrays) == {"t_c", "speed_m_s", "velocity_m_s", "solid", "vtkGhostType"}
        assert arrays["velocity_m_s"].shape == (summary["cells"], 3)
        for name in ("t_c", "speed_m_s", "solid"):
            assert arrays[name].shape == (summary["cells"],), name
        solid = arrays["solid"].astype(bool)
        assert np.count_nonzero(~solid) == summary["fluid_cells"]
        assert np.all(np.isnan(arrays["t_c"][solid]))
        assert np.all(np.isfinite(arrays["t_c"][~solid]))
        velocity = arrays["velocity_m_s"][~solid].astype(float)
        assert np.all(np.isfinite(velocity))
        assert np.allclose(np.linalg.norm(velocity, axis=1), arrays["speed_m_s"][~solid], rtol=1e-5, atol=1e-6)
    _, first = read_vti(paths[0])
    assert np.all(first["t_c"][first["solid"] == 0] == np.float32(22.0))  # the hall's initial_temp_c


def test_vti_solids_are_blanked_with_vtks_ghost_array(run_10min):
    """VTK itself reports the solid cells as hidden (vtkGhostType HIDDENCELL) and every air cell as visible."""
    from vtkmodules.vtkCommonDataModel import vtkDataSetAttributes

    image, arrays = read_vti(run_10min[1] / "fields" / "t_00000600s.vti")
    solid = arrays["solid"].astype(bool)
    assert image.GetCellData().GetGhostArray() is not None  # VTK recognised the array as its ghost array
    assert image.HasAnyBlankCells()
    visible = np.array([image.IsCellVisible(i) for i in range(image.GetNumberOfCells())], dtype=bool)
    assert np.array_equal(visible, ~solid)
    assert np.all(arrays["vtkGhostType"][solid] == vtkDataSetAttributes.HIDDENCELL)
    assert np.all(arrays["vtkGhostType"][~solid] == 0)


def test_pvd_series_has_the_snapshots_real_times(tmp_path, capsys):
    """fields.pvd lists each .vti with its simulated time in seconds: pyvista's PVD reader and VTK's image
    reader on the parsed files agree with the file names and the time series."""
    import pyvista as pv

    out_dir = tmp_path / "out"
    proc = twin_main(capsys, "run", TINY, "--duration", "900s", "--fields-every", "600s", "--record-every", "300s",
                    "--out", out_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    pvd = out_dir / "fields" / "fields.pvd"
    assert pvd in [Path(p) for p in json.loads(proc.stdout)["outputs"]]
    reader = pv.get_reader(pvd)
    assert isinstance(reader, pv.PVDReader)
    assert reader.time_values == [0.0, 600.0, 900.0]  # real seconds, not steps 0, 1, 2 (the last at the run's end)
    reader.set_active_time_value(900.0)
    last = reader.read()[0]
    listed = read_pvd(pvd)
    assert [t for t, _ in listed] == [0.0, 600.0, 900.0]
    assert [p.name for _, p in listed] == ["t_00000000s.vti", "t_00000600s.vti", "t_00000900s.vti"]
    image, arrays = read_vti(listed[-1][1])
    assert np.array_equal(np.asarray(last.cell_data["t_c"]), arrays["t_c"], equal_nan=True)
    fluid_mean_c = float(arrays["t_c"][arrays["solid"] == 0].astype(float).mean())
    assert fluid_mean_c == pytest.approx(_columns(out_dir)["hall.t_air_mean_c"][-1], abs=1e-3)


def test_vti_solid_cells_are_the_racks_and_crah(run_10min):
    """The solid cells VTK reports (x fastest) are exactly the cells inside the racks, CRAH and PDUs."""
    image, arrays = read_vti(run_10min[1] / "fields" / "t_00000600s.vti")
    image.GetCellData().RemoveArray("vtkGhostType")  # VTK gives hidden cells no geometry (an empty cell)
    bounds = np.array([image.GetCell(i).GetBounds() for i in range(image.GetNumberOfCells())])
    centres_m = (bounds[:, 0::2] + bounds[:, 1::2]) / 2
    hall = load_hall(TINY)
    inside = np.zeros(len(centres_m), dtype=bool)
    for obj in [*hall.racks, *hall.crahs, *hall.pdus]:
        inside |= np.all((centres_m > obj.box.lo) & (centres_m < obj.box.hi), axis=1)
    assert inside.any()
    assert np.array_equal(arrays["solid"].astype(bool), inside)


def test_vti_temperature_agrees_with_the_timeseries(run_10min):
    """The last field's mean fluid temperature is hall.t_air_mean_c, and no cell leaves the range of its sources."""
    out_dir = run_10min[1]
    _, arrays = read_vti(out_dir / "fields" / "t_00000600s.vti")
    t_fluid_c = arrays["t_c"][arrays["solid"] == 0].astype(float)
    columns = _columns(out_dir)
    assert columns["time_s"][-1] == 600
    assert 15.0 < t_fluid_c.mean() < 40.0
    assert t_fluid_c.mean() == pytest.approx(columns["hall.t_air_mean_c"][-1], abs=1e-3)
    # Air is a mix of what the CRAH supplied, the initial air (22 °C) and heat added (racks, PDUs):
    # a conservative upwind scheme can't make it colder than the coldest of its sources. (The upper
    # bound of a pure mix does not hold here: the PDUs heat the air around them directly.)
    supplied_c = columns["crah.CRAH-01.t_supply_c"][1:]  # row 0 is before the first step
    assert t_fluid_c.min() >= min(supplied_c.min(), 22.0) - 1e-3
    assert t_fluid_c.max() > 22.0 + 1.0  # the racks have warmed some air: the bound is not met trivially


def test_peaks_over_the_run_are_the_maxima_of_a_series_recorded_every_step(tmp_path):
    """Recorded every step, the time series' maxima are the summary's peaks: value, unit and time."""
    from tests.halls import hall_from, two_crah_dict
    from twin.model.scenario import load_scenario
    from twin.sim.jobs import run_job

    hall = hall_from(two_crah_dict())
    scen = tmp_path / "trip.toml"
    scen.write_text('[scenario]\nname = "trip"\n[[events]]\nat = "2min"\nkind = "crah_trip"\ntarget = "CRAH-01"\n'
                    '[[events]]\nat = "4min"\nkind = "crah_restart"\ntarget = "CRAH-01"\n')
    summary = run_job(hall, duration_s=480.0, out_dir=tmp_path / "run", record_every_s=1.0, fields_every_s=1e6,
                      scenario=load_scenario(scen, hall))
    col = _columns(tmp_path / "run")
    t = col["time_s"]
    for kind, prefix, suffix, who, unit in (("inlet", "rack.", ".t_inlet_c", "rack", "c"),
                                            ("return", "crah.", ".t_return_c", "crah", "c"),
                                            ("ups_load", "ups.", ".load_fraction", "ups", "fraction")):
        series = {c[len(prefix):-len(suffix)]: v for c, v in col.items() if c.startswith(prefix) and c.endswith(suffix)}
        if kind == "return":  # a stopped unit's return air does not count
            series = {n: np.where(col[f"crah.{n}.fan_speed"] > 0, v, -np.inf) for n, v in series.items()}
        name = max(series, key=lambda n: series[n].max())
        assert summary[f"peak_{kind}_{who}"] == name
        assert summary[f"peak_{kind}_{unit}"] == pytest.approx(series[name].max(), abs=1e-4)
        # At the peak's time the series is at its maximum (a load that holds still, as the UPSs' does
        # here, reaches it at every step: the time is then one of them).
        at_peak = series[name][t == summary[f"peak_{kind}_time_s"]]
        assert at_peak.size == 1 and at_peak[0] == pytest.approx(series[name].max(), abs=1e-4)
        if np.ptp(series[name]) > 1e-4:
            assert summary[f"peak_{kind}_time_s"] == t[np.argmax(series[name])]
    assert summary["peak_inlet_c"] > summary["max_inlet_c"]  # the trip's heat-up is over at the end


def test_timeseries_flags_are_booleans_and_counts_integers(run_10min):
    """Flags are Arrow booleans and counts int64 (pandas reads them as bool and int64), measures float64."""
    import pandas as pd
    import pyarrow as pa

    out_dir = run_10min[1]
    schema = pq.read_schema(out_dir / "timeseries.parquet")
    types = {field.name: field.type for field in schema}
    for name in ("crah.CRAH-01.running", "crah.CRAH-01.tripped", "crah.CRAH-01.powered", "rack.A01.powered",
                 "power.utility_ok", "power.on_generator", "plant.chillers_running"):
        assert types[name] == pa.bool_(), name
    for name in ("hall.racks_outside_recommended", "hall.racks_outside_allowable"):
        assert types[name] == pa.int64(), name
    assert types["rack.A01.t_inlet_c"] == pa.float64() and types["time_s"] == pa.float64()
    frame = pd.read_parquet(out_dir / "timeseries.parquet")
    assert frame["crah.CRAH-01.running"].dtype == bool and frame["crah.CRAH-01.running"].all()
    assert frame["hall.racks_outside_recommended"].dtype == "int64"
    inlets = frame[[f"rack.A0{i}.t_inlet_c" for i in range(1, 5)]].to_numpy()
    assert np.array_equal(frame["hall.racks_outside_recommended"], ((inlets < 18) | (inlets > 27)).sum(axis=1))


def test_readme_output_table_names_every_column(run_10min):
    """README's row for timeseries.parquet names every quantity a run of a hall with a power chain records."""
    from tests.sim.runs import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `timeseries.parquet` |"))
    named = set(re.findall(r"`([a-z0-9_]+)`", row))
    schema = pq.read_schema(run_10min[1] / "timeseries.parquet")
    quantities = {name.rsplit(".", 1)[-1] for name in schema.names}
    assert "supply_setpoint_c" in quantities and "tripped" in quantities
    assert quantities <= named, sorted(quantities - named)
