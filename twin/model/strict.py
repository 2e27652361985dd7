"""The base of every file schema: unknown keys are errors and values keep their TOML types."""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo must not fall back to a default), and no value is coerced:
    "0.5" is not a number and "no" is not a boolean. TOML arrays fill tuple fields (x, y, z)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _arrays_to_tuples(cls, data: typing.Any) -> typing.Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, info in cls.model_fields.items():
            value = out.get(name)
            if isinstance(value, list) and _is_tuple(info.annotation):
                out[name] = tuple(value)
        return out


def _is_tuple(annotation: typing.Any) -> bool:
    """A tuple field, or an optional one (tuple | None); not a list of tuples."""
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(typing.get_origin(a) is tuple for a in typing.get_args(annotation))
    return False
