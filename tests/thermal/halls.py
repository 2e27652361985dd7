"""Small synthetic halls for the physics tests (built as dicts, validated like any hall file)."""

from __future__ import annotations

import copy

from twin.model.load import HallModel, bundled_hall, parse_hall

__all__ = ["tiny_dict", "hall_from"]


def tiny_dict() -> dict:
    """The bundled tiny hall as a plain dict, to be modified by a test."""
    return copy.deepcopy(bundled_hall("tiny").spec.model_dump(exclude_none=True))


def hall_from(data: dict) -> HallModel:
    return parse_hall(data)
