"""Checkpoints: one ``.npz`` file from which a run resumes exactly as if it had never stopped.

A resumed run must repeat the original bit for bit, so a checkpoint holds every piece of memory that
the next steps read, not just the physical state:

- every :class:`~twin.sim.state.TwinState` field (dict fields flattened with key prefixes), which
  includes the flow field (face flows, the potential of the last solve, the mover flows it was solved
  for, the momentum model's fields: the transport operator is rebuilt from them without solving the
  flow again, so it is the very operator the original run had) and the scenario's position and log;
- the state's parts through their own state dicts: the embedded controls (each CRAH loop with its
  PID, sensors and their RNG states, actuators and modes; the setpoint registry's targets and ramps;
  the alarms and the rack-inlet hysteresis), or under ideal control the alarm system alone; the power
  chain (ATS state machine incl. ``fail_to_start``, chargers, the sources in force, the battery-low
  hysteresis, the load flow's warm start and its last result, which reports read).

Format (version :data:`FORMAT_VERSION`): a numpy ``.npz`` archive written by ``np.savez`` and read
with ``allow_pickle=False`` (nothing in it is ever pickled). Arrays and numpy scalars (0-d arrays)
are entries under their flat keys (``state.t_air_c``, ``controls.CRAH-01.supply.sensor.rng`` …);
everything else, with the header, sits in one JSON document stored as UTF-8 bytes in the entry
``meta.json``. JSON has no NaN or infinity, so those floats are written as ``{"$float": "nan"}``.
Python floats survive JSON exactly (shortest round-trip repr). The file is written beside its final
name and moved into place, so a kill leaves either the old file or the new one, never half of one.

Loading refuses (:class:`CheckpointError`) a missing, truncated or foreign file, and a checkpoint of
another hall (by the SHA-256 of its canonical spec), another time step, control mode or flow options.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.control.base import unprefixed
from twin.sim.files import atomic_write
from twin.sim.twin import HallTwin, TwinState

if TYPE_CHECKING:
    from twin.model.load import HallModel
    from twin.sim.scenario import ScenarioPlayer

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "hall_sha256",
    "load_checkpoint",
    "read_checkpoint_meta",
    "save_checkpoint",
]

FORMAT = "twin-checkpoint"
FORMAT_VERSION = 2  # 2: the flow field is part of the state (1: a "flow" section beside it; still read)
_META_ENTRY = "meta.json"
_FLOAT_TAG = "$float"

# Options of HallTwin that change the trajectory: a resume with other values would silently diverge.
_TWIN_OPTIONS = ("reflow_tolerance", "fan_update_interval_s", "settle_interval_s")


class CheckpointError(ValueError):
    """A checkpoint that cannot be written or restored; the message is one line naming the file."""


# --- public API -------------------------------------------------------------------------------------


def save_checkpoint(path: str | Path, twin: HallTwin, state: TwinState, *, scenario: ScenarioPlayer | None = None,
                    meta: dict | None = None) -> Path:
    """Write everything a run needs to resume exactly into one ``.npz`` file, atomically.

    Call it between steps (never inside one). ``scenario``: the player driving the run, if any (its
    position and log are saved). ``meta``: the caller's own JSON-able notes, returned by
    :func:`read_checkpoint_meta`. Returns the path written.
    """
    path = Path(path)
    _check_state_fits(path, state, twin)
    flat = _FlatWriter(path)
    for f in dataclasses.fields(TwinState):
        if f.name not in _PARTS:
            flat.put_value(f"state.{f.name}", getattr(state, f.name))
    for prefix, d in _part_dicts(twin, state).items():
        flat.put_all(prefix, d)
    scenario_info = None
    if scenario is not None:
        if scenario.twin is not twin:
            raise CheckpointError(f"{path}: the scenario player drives another twin than the one being saved")
        scenario_info = _scenario_info(scenario)
    try:
        user = _encode_json(dict(meta or {}), "meta")
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    hall = twin.hall
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hall_name": hall.name,
        "hall_path": None if hall.path is None else str(hall.path),
        "hall_sha256": hall_sha256(hall),
        "hall_file_sha256": _file_sha256(hall.path),
        "time_s": _encode_json(float(state.time_s), "time_s"),
        "steps": int(state.steps),
        "dt_s": twin.dt_s,
        "control": _control_mode(twin),
        "airflow": twin.airflow_model,
        "twin_options": {k: _encode_json(float(getattr(twin, k)), k) for k in _TWIN_OPTIONS},
        "has_power": twin.power is not None,
        "scenario": scenario_info,
        "user": user,
        "values": flat.values,
        "arrays": flat.kinds,
    }
    blob = json.dumps(header, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    entries = {_META_ENTRY: np.frombuffer(blob, dtype=np.uint8), **flat.arrays}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            # allow_pickle=False as the reader loads it: an object array fails here, not at the restore.
            np.savez(f, allow_pickle=False, **entries)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it the checkpoint

    return atomic_write(path, write)


def load_checkpoint(path: str | Path, twin: HallTwin, *, scenario: ScenarioPlayer | None = None) -> TwinState:
    """Restore a checkpoint into ``twin`` (controls, alarms, power chain, flow field) and return its state.

    ``twin`` should be freshly built from the same hall with the same options (as the saving run's);
    ``scenario``: a fresh player of the same scenario, put back to where the saved one was. The file, the
    hall, the options, the state's sizes and the parts' keys are all checked before anything in the twin
    changes, so a refused file normally leaves the twin as it was.
    """
    path = Path(path)
    header, flat = _read(path, arrays=True)
    _check_compatible(path, header, twin)
    if scenario is not None:
        _check_scenario(path, header, scenario)
    state = _state_from(path, flat, twin, version=header["format_version"])
    # The memory of the parts: fresh ones of this twin, filled from the file after checking that it holds
    # every key they save now (a key missing: another code version).
    fresh = twin.initial_state()
    state.alarms, state.controls, state.power = fresh.alarms, fresh.controls, fresh.power
    saved_parts = {}
    for prefix, now in _part_dicts(twin, state).items():
        saved = unprefixed(prefix, flat)
        missing = sorted(set(now) - set(saved))
        if missing:
            more = f" and {len(missing) - 1} more keys" if len(missing) > 1 else ""
            raise CheckpointError(f"{path}: {prefix}.{missing[0]}{more} missing: the checkpoint does not fit "
                                  f"this twin's {prefix}")
        saved_parts[prefix] = saved
    try:
        if state.controls is not None:
            state.controls.load_state_dict(saved_parts["controls"])  # the alarms with them
        else:
            state.alarms.load_state_dict(saved_parts["alarms"])
        if state.power is not None and twin.power is not None:  # (a twin with [power] gives its states one)
            twin.power.load_state_dict(state.power, saved_parts["power"])
    except (KeyError, ValueError, IndexError, TypeError) as exc:
        raise CheckpointError(f"{path}: does not fit this twin: {_one_line(exc)}") from None
    if header["format_version"] == 1 and scenario is not None:
        old = unprefixed("scenario", flat)  # format 1 kept the scenario's position beside the state
        state.scenario_next, state.scenario_log = int(old["next"]), [dict(e) for e in old["log"]]
    return state


#: TwinState fields that are objects with state dicts of their own (saved under their own prefixes).
_PARTS = ("alarms", "controls", "power")


def _part_dicts(twin: HallTwin, state: TwinState) -> dict[str, dict[str, Any]]:
    """The state dicts of a state's parts by checkpoint prefix (the controls' includes the alarms)."""
    out = {"controls": state.controls.state_dict()} if state.controls is not None \
        else {"alarms": state.alarms.state_dict()}
    if state.power is not None and twin.power is not None:
        out["power"] = twin.power.state_dict(state.power)
    return out


def read_checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """What a checkpoint is of, without restoring it: hall (name, file path, SHA-256 of its canonical spec
    and of the file), time_s, steps, dt_s, control mode, twin options, format version, creation time (UTC,
    ISO 8601), scenario (name, path, SHA-256) and the caller's ``user`` meta."""
    path = Path(path)
    header, _ = _read(path, arrays=False)
    out = {k: v for k, v in header.items() if k not in ("values", "arrays")}
    return _decode_json(out)


def hall_sha256(hall: HallModel) -> str:
    """SHA-256 of the hall's canonical spec (sorted-key JSON of the validated model).

    The spec, not the file, decides the physics: a comment or a reformatting of the file does not make
    another hall, and halls built in code (no file) have one too.
    """
    from twin.model.schema import Airflow

    spec = hall.spec.model_dump(mode="json")
    # A section added later hashes as before while it holds its defaults: older checkpoints stay valid.
    if spec.get("airflow") == Airflow().model_dump(mode="json"):
        del spec["airflow"]
    return _sha256_json(spec)


# --- writing ------------------------------------------------------------------------------------------


class _FlatWriter:
    """Flat keys → arrays (npz entries) and JSON values; nested dicts are flattened with key prefixes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values: dict[str, Any] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self.kinds: dict[str, str] = {}  # "array", or "scalar" for a numpy scalar saved as a 0-d array

    def put_all(self, prefix: str, d: Mapping[str, Any]) -> None:
        """A component's flat state dict under ``prefix.`` (its keys may contain dots: kept as they are)."""
        for k, v in d.items():
            self._put(f"{prefix}.{k}", v)

    def put_value(self, key: str, v: Any) -> None:
        """A value that may be a nested dict: each leaf under ``key.<escaped sub-key>…``."""
        if isinstance(v, dict) and v:
            for k, sub in v.items():
                if not isinstance(k, str):
                    raise CheckpointError(f"{self.path}: cannot save {key}: key {k!r} is not a string")
                self.put_value(f"{key}.{_escape(k)}", sub)
        else:
            self._put(key, v)  # an empty dict is a JSON leaf {}

    def _put(self, key: str, v: Any) -> None:
        if key in self.kinds or key in self.values:
            raise CheckpointError(f"{self.path}: two values for the key {key!r}")
        if isinstance(v, (np.ndarray, np.generic)):
            arr = np.array(v)  # a copy: later steps must not change what is being written
            if arr.dtype.hasobject:
                raise CheckpointError(f"{self.path}: cannot save {key}: object arrays would need pickles")
            self.arrays[key] = arr
            self.kinds[key] = "array" if isinstance(v, np.ndarray) else "scalar"
        else:
            self.values[key] = _encode_json(v, key)


def _encode_json(v: Any, key: str) -> Any:
    """A JSON-ready copy of ``v``: non-finite floats tagged, tuples as lists, numpy scalars as Python ones."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else {_FLOAT_TAG: repr(v)}  # 'nan', 'inf', '-inf'
    if isinstance(v, np.generic):
        return _encode_json(v.item(), key)
    if isinstance(v, (list, tuple)):
        return [_encode_json(x, key) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise CheckpointError(f"cannot save {key}: key {k!r} is not a string")
            out[k] = _encode_json(x, f"{key}.{k}")
        return out
    raise CheckpointError(f"cannot save {key}: a {type(v).__name__} is neither an array nor JSON")


# --- reading ------------------------------------------------------------------------------------------


def _read(path: Path, *, arrays: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and (with ``arrays``) the flat values of a checkpoint; CheckpointError for anything else."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated): {_one_line(exc)}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{path}: not a checkpoint (a single .npy array, not an .npz archive)")
    try:
        with npz:
            if _META_ENTRY not in npz.files:
                raise CheckpointError(f"{path}: not a twin checkpoint (no {_META_ENTRY} entry)")
            raw = npz[_META_ENTRY]
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise CheckpointError(f"{path}: {_META_ENTRY} is not a byte array")
            header = json.loads(raw.tobytes().decode("utf-8"))
            if not isinstance(header, dict):
                raise CheckpointError(f"{path}: not a twin checkpoint ({_META_ENTRY} is not an object)")
            if header.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a twin checkpoint (format is {header.get('format')!r}, "
                                      f"expected {FORMAT!r})")
            version = header.get("format_version")
            if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
                raise CheckpointError(f"{path}: format_version is {version!r}; this twin reads 1…{FORMAT_VERSION}")
            for key in ("values", "arrays"):
                if not isinstance(header.get(key), dict):
                    raise CheckpointError(f"{path}: {_META_ENTRY} has no {key!r} table")
            flat: dict[str, Any] = {}
            if arrays:
                flat = {k: _decode_json(v) for k, v in header["values"].items()}
                for key, kind in header["arrays"].items():
                    if key not in npz.files:
                        raise CheckpointError(f"{path}: entry {key!r} missing (truncated or corrupt)")
                    if key in flat:
                        raise CheckpointError(f"{path}: {key!r} is both an array and a value")
                    arr = npz[key]  # read fully here: a damaged entry fails now, with this file's name
                    flat[key] = arr[()] if kind == "scalar" else arr
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile, zlib.error) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated): {_one_line(exc)}") from None
    return header, flat


def _decode_json(v: Any) -> Any:
    """Inverse of :func:`_encode_json` (tagged floats back to NaN/inf; lists stay lists)."""
    if isinstance(v, dict):
        if len(v) == 1 and _FLOAT_TAG in v:
            return float(v[_FLOAT_TAG])
        return {k: _decode_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode_json(x) for x in v]
    return v


def _check_compatible(path: Path, header: Mapping[str, Any], twin: HallTwin) -> None:
    """Refuse a checkpoint of another hall, time step, control mode or flow options (naming both values)."""
    now = {"hall_sha256": hall_sha256(twin.hall), "dt_s": twin.dt_s, "control": _control_mode(twin),
           "has_power": twin.power is not None, "airflow": twin.airflow_model}
    for key, value in now.items():
        saved = header.get(key, "potential" if key == "airflow" else None)  # format 1: potential flow only
        if saved != value:
            what = f" (checkpoint of hall {header.get('hall_name')!r}, this twin's is {twin.hall.name!r})" \
                if key == "hall_sha256" else ""
            raise CheckpointError(f"{path}: {key} is {saved!r} in the checkpoint but {value!r} for this twin{what}")
    saved_options = _decode_json(header.get("twin_options") or {})
    for key in _TWIN_OPTIONS:
        value = float(getattr(twin, key))
        if saved_options.get(key) != value:
            raise CheckpointError(f"{path}: {key} is {saved_options.get(key)!r} in the checkpoint but {value!r} "
                                  f"for this twin")


def _check_scenario(path: Path, header: Mapping[str, Any], scenario: ScenarioPlayer) -> None:
    saved = header.get("scenario")
    if saved is None:
        raise CheckpointError(f"{path}: the checkpoint holds no scenario, but a scenario player was given")
    now = _scenario_info(scenario)
    if saved.get("sha256") != now["sha256"]:
        raise CheckpointError(f"{path}: scenario sha256 is {saved.get('sha256')!r} ({saved.get('name')!r}) in the "
                              f"checkpoint but {now['sha256']!r} ({now['name']!r}) for the player given")


def _state_from(path: Path, flat: Mapping[str, Any], twin: HallTwin, *, version: int) -> TwinState:
    """The TwinState in ``flat`` (nested dict fields rebuilt), checked against the twin's sizes."""
    kw: dict[str, Any] = {}
    if version == 1:
        # Format 1 kept the flow field beside the state; an operator that was never built had no flows.
        flow = unprefixed("flow", flat)
        for key in ("face_flow_m3s", "phi", "operator_mover_flow_m3s"):
            if key not in flow:
                raise CheckpointError(f"{path}: flow.{key} missing")
        if flow["operator_mover_flow_m3s"] is not None:
            kw.update(face_flow_m3s=np.array(flow["face_flow_m3s"], dtype=float),
                      flow_phi=np.array(flow["phi"], dtype=float),
                      flow_movers_m3s=np.array(flow["operator_mover_flow_m3s"], dtype=float))
    for f in dataclasses.fields(TwinState):
        if f.name in _PARTS:
            continue
        key = f"state.{f.name}"
        if key in flat:
            v = flat[key]
            kw[f.name] = v.copy() if isinstance(v, np.ndarray) else v
            continue
        sub = unprefixed(key, flat)
        if not sub and version == 1 and f.name in _NEW_IN_2:
            continue
        if not sub and f.name in _ADDED_IN_2:
            continue  # an older checkpoint of this format: the field's default (see _ADDED_IN_2)
        if not sub:
            raise CheckpointError(f"{path}: {key} missing")
        tree: dict[str, Any] = {}
        for k, v in sub.items():
            *parents, leaf = _split_escaped(k)
            node = tree
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = v.copy() if isinstance(v, np.ndarray) else v
        kw[f.name] = tree
    state = TwinState(**kw)
    _check_state_fits(path, state, twin)
    return state


#: State fields that format 1 did not have (the flow field; peaks were added to the metrics dict).
_NEW_IN_2 = ("face_flow_m3s", "flow_phi", "flow_movers_m3s", "flow_solved_s", "momentum", "scenario_next",
             "scenario_log")


#: State fields added to format 2 later, whose default is what the checkpoints written before them meant:
#: no eddy diffusivity (the transport mixed at the hall's constant until the flow's next refresh); no
#: history of the movers' injections (the transport's first guess was the plain extrapolation).
_ADDED_IN_2 = ("face_diffusivity_m2s", "inject_history_w")


def _check_state_fits(path: Path, state: TwinState, twin: HallTwin) -> None:
    """Every array of the state has the size this twin's grid, racks, CRAHs, PDUs and UPSs give it."""
    nr, nc = twin.n_racks, len(twin.crahs.names)
    sizes = {"t_air_c": twin.net.n, "t_air_prev_c": twin.net.n, "pdu_heat_w": twin.n_pdus}
    sizes.update(dict.fromkeys(("t_rack_c", "t_intake_c", "rack_flow_m3s", "rack_it_w", "rack_powered",
                                "rack_heat_w"), nr))
    sizes.update(dict.fromkeys(("t_return_c", "t_coil_c", "crah_heat_removed_w", "crah_running", "crah_tripped",
                                "crah_powered", "crah_fan_speed", "crah_flow_m3s", "crah_valve",
                                "crah_setpoint_c"), nc))
    if twin.power is not None:
        sizes["ups_soc"] = len(twin.power.ups_names)
    sizes.update(face_flow_m3s=twin.net.face_a.size, flow_phi=twin.net.n, flow_movers_m3s=len(twin.net.mover_names),
                 face_diffusivity_m2s=twin.net.face_a.size)
    for name, n in sizes.items():
        v = getattr(state, name)
        if v is None and name in ("t_air_prev_c", "ups_soc", "face_flow_m3s", "flow_phi", "flow_movers_m3s",
                                  "face_diffusivity_m2s"):
            continue
        if not isinstance(v, np.ndarray) or v.shape != (n,):
            shape = v.shape if isinstance(v, np.ndarray) else type(v).__name__
            raise CheckpointError(f"{path}: state.{name} is {shape}, this twin needs shape ({n},)")


# --- helpers ------------------------------------------------------------------------------------------


def _control_mode(twin: HallTwin) -> str:
    return twin.control_mode


def _scenario_info(player: ScenarioPlayer) -> dict[str, Any]:
    model = player.scenario
    return {"name": model.name, "path": None if model.path is None else str(model.path),
            "sha256": _sha256_json(model.spec.model_dump(mode="json"))}


def _sha256_json(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_sha256(path: Path | None) -> str | None:
    """SHA-256 of a hall file's bytes, for the record (None for halls built in code or files gone)."""
    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _escape(key: str) -> str:
    """A dict key made safe to join with dots (``\\`` → ``\\\\``, ``.`` → ``\\.``)."""
    return key.replace("\\", "\\\\").replace(".", "\\.")


def _split_escaped(flat_key: str) -> list[str]:
    """Inverse of joining :func:`_escape`-d keys with dots."""
    parts, cur, i = [], [], 0
    while i < len(flat_key):
        c = flat_key[i]
        if c == "\\" and i + 1 < len(flat_key):
            cur.append(flat_key[i + 1])
            i += 2
            continue
        if c == ".":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
