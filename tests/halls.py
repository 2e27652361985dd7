"""Halls for tests: the bundled tiny hall as a dict to modify, or as a file with edits (bad input)."""

from __future__ import annotations

import copy
from pathlib import Path

from twin.model.load import ASSETS_DIR, HallModel, bundled_hall, parse_hall

__all__ = ["CROSSING_ROW", "TINY", "bad_hall", "hall_from", "tiny_dict"]

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
