"""Halls for tests: the bundled tiny hall as a dict to modify, or as a file with edits (bad input)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from twin.model import HallError, load_hall
from twin.model.load import ASSETS_DIR, HallModel, bundled_hall, parse_hall

__all__ = ["CROSSING_ROW", "TINY", "bad_hall", "hall_error_line", "hall_from", "tiny_dict", "two_crah_dict"]

TINY = ASSETS_DIR / "halls" / "tiny.toml"

#: A row that, appended to tiny.toml, crosses row A.
CROSSING_ROW = """
[[rows]]
name = "B"
start_m = [2.0, 0.5]
along = "y"
facing = "+x"
count = 6
rack_size_m = [0.5, 1.0, 2.0]
it_kw = 5.0
"""


def tiny_dict(*, power: bool = False) -> dict:
    """The bundled tiny hall as a plain dict, to be modified by a test; without its power chain unless
    asked for (then the racks release their IT load alone, which the thermal checks rely on)."""
    data = copy.deepcopy(bundled_hall("tiny").spec.model_dump(exclude_none=True))
    if not power:
        data.pop("power", None)
    return data


def two_crah_dict() -> dict:
    """Tiny with its power chain and a second CRAH at the other end of the hot aisle (N+1: one unit can
    carry the hall), both fans on the inlets they serve: a trip leaves a unit to respond."""
    data = tiny_dict(power=True)
    data["hall"]["size_m"] = (8.0, 5.0, 3.0)
    crah = data["crahs"][0]
    crah.update(position_m=(1.0, 4.0), size_m=(1.5, 1.0, 2.0), fan_control="inlet", inlet_temp_setpoint_c=21.0,
                rated_flow_m3s=3.0, rated_cooling_kw=45.0, fan_speed=0.7)
    second = copy.deepcopy(crah)
    second.update(name="CRAH-02", position_m=(4.5, 4.0))
    data["crahs"].append(second)
    data["tiles"][0]["x_m"] = (1.5, 4.5)
    data["rows"][0]["start_m"] = (1.5, 2.5)
    data["rows"][0]["count"] = 6
    data["rows"][0]["it_kw"] = [4.0, 6.0, 8.0, 5.0, 6.0, 4.0]
    data["power"]["pdus"][1]["position_m"] = (7.0, 2.5)
    return data


def hall_from(data: dict) -> HallModel:
    return parse_hall(data)


def bad_hall(tmp_path: Path, *edits: tuple[str, str], append: str = "") -> Path:
    """tiny.toml with each ``(old, new)`` replaced once and ``append`` added, written to tmp_path."""
    text = TINY.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, f"edit does not apply to tiny.toml: {old!r}"
        text = text.replace(old, new)
    path = tmp_path / "bad-hall.toml"
    path.write_text(text + append, encoding="utf-8")
    return path


def hall_error_line(path: Path) -> str:
    """The error that loading the bad hall file ``path`` raises, checked to be one line naming the file."""
    with pytest.raises(HallError) as info:
        load_hall(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    return message
