"""Load and validate hall files; expand rows into racks.

Validation happens in one place: the schema (types, ranges, unknown keys; :mod:`twin.model.schema`) and
then the cross checks, one per section (:mod:`twin.model.checks`). Every problem becomes a
:class:`HallError` whose text is one line: ``FILE: KEY.PATH: what is wrong (what is allowed)``
(:mod:`twin.model.errors`). The validated hall is a :class:`HallModel` (:mod:`twin.model.spec`). The
names of those modules are re-exported here, where callers have always found them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from twin.model.assets import ASSETS_DIR
from twin.model.checks import check_hall, facing_axis_sign
from twin.model.errors import HallError, describe_validation_error
from twin.model.schema import Hall
from twin.model.spec import Box, CrahSpec, HallModel, ObstacleSpec, PduSpec, RackSpec

__all__ = [
    "ASSETS_DIR",
    "Box",
    "CrahSpec",
    "HallError",
    "HallModel",
    "ObstacleSpec",
    "PduSpec",
    "RackSpec",
    "bundled_hall",
    "bundled_hall_names",
    "coarse_hall",
    "describe_validation_error",
    "facing_axis_sign",
    "hall_path",
    "load_hall",
    "parse_hall",
    "read_toml",
]


def bundled_hall_names() -> list[str]:
    """The halls shipped in assets/halls/, by name (``reference``, ``tiny``, …)."""
    return sorted(p.stem for p in (ASSETS_DIR / "halls").glob("*.toml"))


def hall_path(text: str | Path) -> Path:
    """The hall file a user means: a bare name (a string without a folder or ``.toml``: ``reference``) is
    a bundled hall unless a file of that name exists here; anything else (a Path too) is taken as given.

    Raises HallError (one line listing the bundled names) for a bare name that is neither.
    """
    path = Path(text)
    if isinstance(text, Path) or path.exists() or path.suffix == ".toml" or "/" in text or os.sep in text:
        return path
    return _bundled_path(text)


def _bundled_path(name: str) -> Path:
    path = ASSETS_DIR / "halls" / f"{name}.toml"
    if not path.is_file():
        raise HallError(f"{name}: no such hall file, and no bundled hall of that name; bundled halls: "
                        f"{', '.join(bundled_hall_names())} (or give the path of a .toml file)")
    return path


def bundled_hall(name: str) -> HallModel:
    """Load a hall shipped in assets/halls/, e.g. ``bundled_hall("tiny")``."""
    return load_hall(_bundled_path(name))


def read_toml(path: Path, error: type[HallError] = HallError) -> dict[str, Any]:
    """A TOML file as a dict; any problem reading it raises ``error`` with one line naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a UTF-8 text file (byte {exc.start}); expected TOML text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None


def load_hall(path: str | Path) -> HallModel:
    """Read, validate and expand a hall file; raise :class:`HallError` with a one-line message."""
    path = Path(path)
    return parse_hall(read_toml(path), source=path)


def parse_hall(data: dict[str, Any], *, source: Path | None = None) -> HallModel:
    """Validate a hall given as a dict (the parsed TOML)."""
    where = str(source) if source else "<hall>"
    try:
        spec = Hall.model_validate(data)
    except ValidationError as exc:
        raise HallError(describe_validation_error(where, exc)) from None
    return check_hall(spec, source, where)


#: Fewest cells along any axis for a hall on larger cells (:func:`coarse_hall`) to say something about its flow.
MIN_COARSE_CELLS = 4


def coarse_hall(hall: HallModel, ratio: int) -> HallModel:
    """The same hall on cells ``ratio`` times larger, everything else the file's (grid sequencing of the
    momentum model's steady solve: twin.sim.twin).

    Raises:
        HallError: why no such grid fits: the hall's sizes or its raised floor's depth are not whole numbers
            of the larger cell, fewer than MIN_COARSE_CELLS along an axis, or the hall's objects do not fit
            it (the hall checks' own message, naming the key).
    """
    info = hall.spec.hall
    cell_m = round(info.cell_m * ratio, 9)  # 0.15 x 3 is 0.44999999999999996 in binary; the file would say 0.45
    where = f"{hall.path or '<hall>'} at {cell_m:g} m cells"
    depth_m = hall.plenum_depth_m
    for axis, value in zip("xyz", (*info.size_m[:2], info.size_m[2] + depth_m), strict=True):
        if round(value / cell_m) < MIN_COARSE_CELLS:
            raise HallError(f"{where}: {value:g} m along {axis} is fewer than {MIN_COARSE_CELLS} cells")
    spec = hall.spec.model_copy(update={"hall": info.model_copy(update={"cell_m": cell_m})})
    return check_hall(spec, hall.path, where)
