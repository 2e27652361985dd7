"""Checkpoints: a run saved, restored into a fresh twin and continued repeats the straight run bit for bit.

The reference is the run itself: N + M steps straight against N steps, a checkpoint written to disk, a new
HallTwin built from the same hall, the checkpoint loaded, M more steps. Every state field, every
controller's memory, the power chain and the alarms must then be bitwise equal. Bad files are refused with
one line naming the file.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import pickle
import zipfile

import numpy as np
import pytest

from tests.halls import TINY, hall_from, tiny_dict, two_crah_dict
from twin.model.load import load_hall
from twin.model.scenario import parse_scenario
from twin.sim import checkpoint as checkpoint_module
from twin.sim.checkpoint import CheckpointError, hall_sha256, load_checkpoint, read_checkpoint_meta, save_checkpoint
from twin.sim.observe import observe
from twin.sim.scenario import ScenarioPlayer
from twin.sim.twin import HallTwin, TwinState

# Events on both sides of the checkpoint (saved after 60 s): a setpoint ramp that is still moving when it is
# written, a trip at the very instant of the checkpoint (a new flow field), an outage with generator pickup
# and return, a stuck sensor, a load step (re-solves the chain with the sources in force) and a restart.
_EVENTS = [
    {"at": 40, "kind": "setpoint", "target": "CRAH-01.supply_temp_setpoint", "value": 20.0},
    {"at": 60, "kind": "crah_trip", "target": "CRAH-02"},
    {"at": 65, "kind": "setpoint", "target": "CRAH-01.inlet_temp_setpoint", "value": 23.0},
    {"at": 80, "kind": "utility_outage"},
    {"at": 100, "kind": "sensor_fail", "target": "CRAH-01.return_temp", "mode": "stuck"},
    {"at": 110, "kind": "rack_load", "target": "A", "scale": 1.3},
    {"at": 125, "kind": "utility_return"},
    {"at": 160, "kind": "crah_restart", "target": "CRAH-02"},
]


def _player(hall, twin: HallTwin, events: list[dict]) -> ScenarioPlayer:
    return ScenarioPlayer(twin, parse_scenario({"scenario": {"name": "checkpoint test"}, "events": events},
                                               hall=hall))


def _advance(twin: HallTwin, state: TwinState, steps: int, player: ScenarioPlayer | None) -> None:
    for _ in range(steps):
        if player is not None:
            player.apply_due(state)
        twin.step(state)


def _assert_bitwise_equal(a, b, where: str = "") -> None:
    """Equal in type, shape and every bit (NaN included), through dicts and lists."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _assert_bitwise_equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_bitwise_equal(x, y, f"{where}[{i}]")
    elif isinstance(a, (np.ndarray, np.generic)):
        assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
        assert a.tobytes() == b.tobytes(), where
    elif isinstance(a, float):
        assert type(b) is float and np.float64(a).tobytes() == np.float64(b).tobytes(), f"{where}: {a!r} != {b!r}"
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def _assert_same_run(twin_a: HallTwin, state_a: TwinState, twin_b: HallTwin, state_b: TwinState) -> None:
    for f in dataclasses.fields(TwinState):
        if f.name not in ("alarms", "controls", "power"):  # objects: compared by their state dicts below
            _assert_bitwise_equal(getattr(state_a, f.name), getattr(state_b, f.name), f"state.{f.name}")
    if state_a.controls is not None:
        _assert_bitwise_equal(state_a.controls.state_dict(), state_b.controls.state_dict(), "controls")
    _assert_bitwise_equal(state_a.alarms.state_dict(), state_b.alarms.state_dict(), "alarms")
    _assert_bitwise_equal(state_a.alarms.summary(), state_b.alarms.summary(), "alarm summary")
    if twin_a.power is not None:
        _assert_bitwise_equal(twin_a.power.state_dict(state_a.power), twin_b.power.state_dict(state_b.power), "power")
    _assert_bitwise_equal(observe(twin_a, state_a), observe(twin_b, state_b), "observe")
    flow = ("face_flow_m3s", "flow_phi", "flow_movers_m3s", "momentum")
    _assert_bitwise_equal([getattr(state_a, k) for k in flow], [getattr(state_b, k) for k in flow], "flow field")


def _straight_and_resumed(tmp_path, hall, *, control: str, events: list[dict] | None, n_steps: int,
                          m_steps: int):
    """Run A: n + m steps straight. Run B: n steps, checkpoint, fresh twin, load, m steps. Returns both."""
    twin_a = HallTwin(hall, control=control)
    state_a = twin_a.initial_state()
    player_a = _player(hall, twin_a, events) if events is not None else None
    _advance(twin_a, state_a, n_steps + m_steps, player_a)

    twin_b = HallTwin(hall, control=control)
    state_b = twin_b.initial_state()
    player_b = _player(hall, twin_b, events) if events is not None else None
    _advance(twin_b, state_b, n_steps, player_b)
    path = save_checkpoint(tmp_path / "run.npz", twin_b, state_b, scenario=player_b)
    del twin_b, state_b, player_b  # nothing of the first half may leak into the resumed run

    twin_c = HallTwin(hall, control=control)
    player_c = _player(hall, twin_c, events) if events is not None else None
    state_c = load_checkpoint(path, twin_c, scenario=player_c)
    _advance(twin_c, state_c, m_steps, player_c)
    return (twin_a, state_a, player_a), (twin_c, state_c, player_c)


@pytest.mark.parametrize("n_steps", [0, 60])
def test_resumed_run_with_controls_power_and_scenario_is_bitwise_the_straight_run(tmp_path, n_steps):
    """Embedded control, power chain, scenario events after the checkpoint: the resumed run is the straight one."""
    hall = hall_from(two_crah_dict())
    (twin_a, state_a, player_a), (twin_c, state_c, player_c) = _straight_and_resumed(
        tmp_path, hall, control="embedded", events=_EVENTS, n_steps=n_steps, m_steps=200 - n_steps)
    _assert_same_run(twin_a, state_a, twin_c, state_c)
    _assert_bitwise_equal(state_a.scenario_log, state_c.scenario_log, "scenario log")
    # The second half really did something: every event applied, the generator carried the hall, a flow re-solve.
    assert len(state_c.scenario_log) == len(_EVENTS)
    assert state_c.energy_j["generator"] > 0
    assert twin_c.flow_solves >= 2
    assert state_c.alarms.summary()


def test_battery_low_alarm_keeps_its_hysteresis_across_the_checkpoint(tmp_path):
    """Saved while recharging through the alarm's deadband: it clears at the same instant as in the straight run."""
    data = tiny_dict(power=True)
    for ups in data["power"]["ups"]:
        ups["battery_kwh"] = 0.2  # a minute of ride-through: below 25 % by 50 s, back above 30 % at ≈ 70 s
    hall = hall_from(data)
    events = [{"at": 0, "kind": "generator_fail_to_start"}, {"at": 5, "kind": "utility_outage"},
              {"at": 50, "kind": "utility_return"}]
    (twin_a, state_a, _), (twin_c, state_c, _) = _straight_and_resumed(
        tmp_path, hall, control="embedded", events=events, n_steps=64, m_steps=30)
    _assert_same_run(twin_a, state_a, twin_c, state_c)
    cleared = [o for o in state_c.alarms.summary() if o["name"].endswith("battery_low") and o["cleared_s"]]
    assert len(cleared) == 2 and all(o["cleared_s"] > 64 for o in cleared)


def test_rack_inlet_alarms_keep_their_hysteresis_across_the_checkpoint(tmp_path):
    """Saved while the inlets warm through the below-recommended deadband (18–18.5 °C): alarms clear as straight."""
    data = tiny_dict()
    data["hall"]["initial_temp_c"] = 17.0  # every rack starts below the recommended 18 °C; ≈ 18.3 °C at 60 s
    (twin_a, state_a, _), (twin_c, state_c, _) = _straight_and_resumed(
        tmp_path, hall_from(data), control="embedded", events=None, n_steps=60, m_steps=60)
    _assert_same_run(twin_a, state_a, twin_c, state_c)
    cleared = [o for o in state_c.alarms.summary() if o["name"].endswith("inlet_below_recommended") and o["cleared_s"]]
    assert cleared and all(o["cleared_s"] > 60 for o in cleared)


def test_resumed_run_takes_the_transport_guesses_of_the_straight_run(tmp_path):
    """Embedded control with the flow field older than RESPOND_AFTER_S on both sides of the checkpoint: the
    transport's first guess adds the responses to the CRAHs' injections of the last steps, which the state
    carries, so the resumed run (its operator and responses built afresh) repeats the straight one bit for
    bit."""
    from twin.sim.twin import RESPOND_AFTER_S
    from twin.thermal.transport import TransportOperator

    hall = hall_from(tiny_dict(power=True))  # its flow field is solved once (the two-CRAH hall's fans hunt)
    (twin_a, state_a, _), (twin_c, state_c, _) = _straight_and_resumed(
        tmp_path, hall, control="embedded", events=None, n_steps=80, m_steps=30)
    _assert_same_run(twin_a, state_a, twin_c, state_c)
    assert state_c.time_s - state_c.flow_solved_s >= RESPOND_AFTER_S + 30  # one flow field all along
    assert state_c.inject_history_w.shape == (TransportOperator.RESPONSE_STEPS + 1, len(twin_c.net.mover_names))
    assert twin_c.current_operator is not None and twin_c.current_operator._resp is not None


def test_resumed_run_under_ideal_control_is_bitwise_the_straight_run(tmp_path):
    """Ideal control without a power chain: the resumed run equals the straight one (events are logged alike)."""
    hall = hall_from(tiny_dict())
    events = [{"at": 50, "kind": "crah_trip", "target": "CRAH-01"},
              {"at": 55, "kind": "rack_load", "target": "*", "scale": 1.5},
              {"at": 60, "kind": "setpoint", "target": "CRAH-01.supply_temp_setpoint", "value": 20.0},
              {"at": 90, "kind": "crah_restart", "target": "CRAH-01"}]
    (twin_a, state_a, player_a), (twin_c, state_c, player_c) = _straight_and_resumed(
        tmp_path, hall, control="ideal", events=events, n_steps=40, m_steps=100)
    assert state_c.controls is None and twin_c.power is None
    _assert_same_run(twin_a, state_a, twin_c, state_c)
    _assert_bitwise_equal(state_a.scenario_log, state_c.scenario_log, "scenario log")
    assert twin_c.flow_solves >= 2  # the trip and the restart changed the flow field after the checkpoint


def test_bundled_hall_resumes_exactly_and_reports_match_right_after_loading(tmp_path):
    """tiny.toml from its file: reports right after loading are those at saving; the resumed run is the straight one."""
    hall = load_hall(TINY)
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    _advance(twin, state, 30, None)
    path = save_checkpoint(tmp_path / "tiny.npz", twin, state)
    fresh = HallTwin(load_hall(TINY), control="embedded")
    restored = load_checkpoint(path, fresh)
    _assert_same_run(twin, state, fresh, restored)  # the last load flow, alarms and flow field included
    _advance(twin, state, 60, None)
    _advance(fresh, restored, 60, None)
    _assert_same_run(twin, state, fresh, restored)


def test_meta_round_trips(tmp_path):
    """read_checkpoint_meta gives the hall, its hashes, clock, options, format and the caller's meta back."""
    hall = load_hall(TINY)
    twin = HallTwin(hall, dt_s=0.5, control="embedded")
    state = twin.initial_state()
    _advance(twin, state, 7, None)
    user = {"run": "nightly", "seed": 3, "ratio": 0.1, "gap": float("nan"), "limit": -math.inf,
            "tags": ["a", "b"], "nested": {"x": 1.5, "flag": True, "none": None}}
    path = save_checkpoint(tmp_path / "meta.npz", twin, state, meta=user)
    meta = read_checkpoint_meta(path)
    assert meta["format"] == "twin-checkpoint" and meta["format_version"] == 2
    assert meta["hall_name"] == hall.name == "Tiny test hall"
    assert meta["hall_path"] == str(TINY)
    assert meta["hall_sha256"] == hall_sha256(hall)
    assert meta["hall_file_sha256"] == hashlib.sha256(TINY.read_bytes()).hexdigest()
    assert meta["time_s"] == state.time_s == 3.5 and meta["steps"] == 7
    assert meta["dt_s"] == 0.5 and meta["control"] == "embedded" and meta["has_power"] is True
    assert meta["scenario"] is None
    created = datetime.datetime.fromisoformat(meta["created"])
    assert created.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 60
    got = meta["user"]
    assert math.isnan(got.pop("gap")) and math.isnan(user.pop("gap"))
    assert got == user


def test_state_values_of_every_kind_round_trip(tmp_path):
    """None, ±inf, NaN, numpy scalars, dotted keys, empty dicts and arrays nested in state.extra come back as saved."""
    hall = hall_from(tiny_dict())
    twin = HallTwin(hall)
    state = twin.initial_state()
    twin.step(state)
    state.extra = {"steady": {"residual_k": np.float64(1e-9), "outer_iterations": 3},
                   "a.b": {"c\\d.e": [1.0, float("nan"), None, "text"]},
                   "empty": {}, "field": np.arange(4, dtype=np.int32), "flag": np.bool_(True), "inf": math.inf}
    state.metrics["t_inlet_27c_s"] = 12.25
    path = save_checkpoint(tmp_path / "kinds.npz", twin, state)
    restored = load_checkpoint(path, HallTwin(hall))
    for f in dataclasses.fields(TwinState):
        if f.name not in ("alarms", "controls", "power"):  # objects: their state dicts are checked elsewhere
            _assert_bitwise_equal(getattr(state, f.name), getattr(restored, f.name), f"state.{f.name}")
    assert restored.t_air_prev_c is not None and restored.ups_soc is None


def test_a_checkpoint_of_another_hall_time_step_or_control_mode_is_refused(tmp_path):
    """Another hall (hash), dt or control mode: one line naming the file, the key and both values."""
    hall = hall_from(tiny_dict(power=True))
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    twin.step(state)
    path = save_checkpoint(tmp_path / "a.npz", twin, state)

    other = tiny_dict(power=True)
    other["rows"][0]["it_kw"] = [4.0, 6.0, 8.0, 5.5]
    other_hall = hall_from(other)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, HallTwin(other_hall, control="embedded"))
    msg = str(err.value)
    assert str(path) in msg and "hall_sha256" in msg and hall_sha256(hall) in msg and hall_sha256(other_hall) in msg
    assert "\n" not in msg

    with pytest.raises(CheckpointError, match=r"dt_s is 1\.0 in the checkpoint but 0\.5"):
        load_checkpoint(path, HallTwin(hall, dt_s=0.5, control="embedded"))
    with pytest.raises(CheckpointError, match=r"control is 'embedded' in the checkpoint but 'ideal'"):
        load_checkpoint(path, HallTwin(hall, control="ideal"))
    with pytest.raises(CheckpointError, match="reflow_tolerance"):
        load_checkpoint(path, HallTwin(hall, control="embedded", reflow_tolerance=0.05))
    with pytest.raises(CheckpointError, match="holds no scenario"):
        fresh = HallTwin(hall, control="embedded")
        load_checkpoint(path, fresh, scenario=_player(hall, fresh, []))


def test_a_player_of_another_scenario_is_refused(tmp_path):
    """The scenario player given at loading must play the scenario that was saved."""
    hall = hall_from(tiny_dict(power=True))
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    player = _player(hall, twin, [{"at": 5, "kind": "utility_outage"}])
    _advance(twin, state, 3, player)
    path = save_checkpoint(tmp_path / "s.npz", twin, state, scenario=player)
    assert read_checkpoint_meta(path)["scenario"]["name"] == "checkpoint test"
    fresh = HallTwin(hall, control="embedded")
    with pytest.raises(CheckpointError, match="scenario sha256"):
        load_checkpoint(path, fresh, scenario=_player(hall, fresh, [{"at": 9, "kind": "utility_outage"}]))


def _saved(tmp_path) -> tuple:
    hall = hall_from(tiny_dict(power=True))
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    _advance(twin, state, 5, None)
    return hall, save_checkpoint(tmp_path / "good.npz", twin, state)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_a_truncated_file_is_refused(tmp_path, keep):
    """A checkpoint cut short (a copy interrupted) is refused with its name, for reading and for loading."""
    hall, good = _saved(tmp_path)
    data = good.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="cut.npz"):
        load_checkpoint(cut, HallTwin(hall, control="embedded"))
    with pytest.raises(CheckpointError, match="cut.npz"):
        read_checkpoint_meta(cut)


def test_missing_and_foreign_files_are_refused(tmp_path):
    """No file, an empty or garbage file, a plain .npy, an .npz of something else, an entry gone: each one line."""
    hall, good = _saved(tmp_path)
    twin = HallTwin(hall, control="embedded")
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "nothing.npz", twin)
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip at all" * 10)
    np.save(tmp_path / "array.npy", np.zeros(3))
    np.savez(tmp_path / "other.npz", t=np.zeros(3))
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "gap.npz", "w") as dst:
        for info in src.infolist():
            if info.filename != "state.t_air_c.npy":
                dst.writestr(info, src.read(info))
    for name, why in (("empty.npz", "not a readable checkpoint"), ("garbage.npz", "not a readable checkpoint"),
                      ("array.npy", "not an .npz archive"), ("other.npz", "no meta.json"),
                      ("gap.npz", "'state.t_air_c' missing")):
        with pytest.raises(CheckpointError, match=why) as err:
            load_checkpoint(tmp_path / name, twin)
        assert name in str(err.value) and "\n" not in str(err.value)


def test_loading_never_unpickles(tmp_path, monkeypatch):
    """Entries are plain arrays; loading works with pickle disabled, and a pickled entry is refused."""
    hall, good = _saved(tmp_path)
    with np.load(good, allow_pickle=False) as npz:
        entries = {k: npz[k] for k in npz.files}
    assert not any(a.dtype.hasobject for a in entries.values())

    def no_pickles(*args, **kwargs):
        raise AssertionError("a checkpoint must not be unpickled")

    monkeypatch.setattr(pickle, "load", no_pickles)
    monkeypatch.setattr(pickle, "loads", no_pickles)
    load_checkpoint(good, HallTwin(hall, control="embedded"))
    read_checkpoint_meta(good)

    entries["state.t_air_c"] = np.array(list(entries["state.t_air_c"]), dtype=object)  # stored as a pickle
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **entries)
    with pytest.raises(CheckpointError, match="tampered.npz"):
        load_checkpoint(tampered, HallTwin(hall, control="embedded"))


def test_a_write_cut_short_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    """A failure in the middle of writing leaves the old checkpoint as it was and no temporary file behind."""
    hall, good = _saved(tmp_path)
    before = good.read_bytes()
    twin = HallTwin(hall, control="embedded")
    state = load_checkpoint(good, twin)
    twin.step(state)

    def killed(file, **entries):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.np, "savez", killed)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(good, twin, state)
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.npz"]
    assert read_checkpoint_meta(good)["steps"] == 5


@pytest.mark.parametrize("turbulence", ["chen-xu", "k-epsilon"])
def test_resumed_run_with_the_momentum_model_is_bitwise_the_straight_run(tmp_path, turbulence):
    """Momentum airflow with buoyancy, embedded control, power and a trip: the resumed run repeats the
    straight one bit for bit, its flow refreshes (warm-started from the saved momentum field, with k and ε
    under k-ε) included."""
    data = two_crah_dict()
    data["airflow"] = {"model": "momentum", "refresh_s": 20.0, "turbulence": turbulence}
    hall = hall_from(data)
    (twin_a, state_a, player_a), (twin_c, state_c, player_c) = _straight_and_resumed(
        tmp_path, hall, control="embedded", events=_EVENTS, n_steps=50, m_steps=70)
    _assert_same_run(twin_a, state_a, twin_c, state_c)
    assert state_c.momentum is not None and twin_c.flow_solves >= 3  # refreshes after the checkpoint
    assert ({"k", "eps"} <= set(state_c.momentum)) == (turbulence == "k-epsilon")


def test_a_momentum_checkpoint_from_before_eddy_mixing_resumes_at_the_constant_until_the_next_refresh(tmp_path):
    """A checkpoint written before the state carried the eddy diffusivity (no such entry) loads: the
    transport mixes at the hall's constant, as when it was written, until the flow's next refresh brings
    the eddy field back; energy still closes."""
    data = tiny_dict()
    data["airflow"] = {"model": "momentum", "refresh_s": 10.0}
    hall = hall_from(data)
    twin = HallTwin(hall)
    state = twin.initial_state()
    for _ in range(5):
        twin.step(state)
    path = tmp_path / "old.npz"
    save_checkpoint(path, twin, state)
    key = "state.face_diffusivity_m2s"
    with np.load(path, allow_pickle=False) as npz:
        entries = {k: npz[k] for k in npz.files if k != key}
        assert key in npz.files  # it is saved, as an array
    header = json.loads(entries["meta.json"].tobytes().decode("utf-8"))
    del header["arrays"][key]  # as the older twin wrote it: never heard of
    entries["meta.json"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    np.savez(path, **entries)
    twin_b = HallTwin(hall)
    state_b = load_checkpoint(path, twin_b)
    assert state_b.face_diffusivity_m2s is None and state_b.momentum is not None
    for _ in range(10):
        twin_b.step(state_b)
    assert state_b.face_diffusivity_m2s is not None and twin_b.flow_solves >= 1
    assert abs(twin_b.energy_balance_error(state_b)) < 1e-9
