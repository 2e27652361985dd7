"""User errors in input files as one line: ``FILE: KEY.PATH: what is wrong (what is allowed)``.

:class:`HallError` is the one exception a hall or scenario file's problem raises;
:func:`describe_validation_error` renders pydantic's first error of a file that breaks the schema,
naming the key path as the file spells it and the field's description (its unit and range).
"""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel, ValidationError

from twin.model.schema import Hall

__all__ = ["HallError", "describe_validation_error"]


class HallError(ValueError):
    """A user error in a hall file: its message is one line naming the file, the key path and the rule."""


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _is_model(x: typing.Any) -> bool:
    return isinstance(x, type) and issubclass(x, BaseModel)


def _union_members(x: typing.Any) -> list[type[BaseModel]]:
    """The models of a union of models (a tagged union of events, say); [] otherwise."""
    if typing.get_origin(x) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(x) if a is not type(None)]
        if members and all(_is_model(m) for m in members):
            return members
    return []


def _step(model: typing.Any, part: str) -> tuple[bool, typing.Any]:
    """Walk one string of a pydantic error location: (is it a key of the file?, the model below it)."""
    if _is_model(model):
        field = model.model_fields.get(part)
        return True, (_unwrap(field.annotation) if field is not None else None)
    for member in _union_members(model):
        kind = member.model_fields.get("kind")
        if kind is not None and part in typing.get_args(kind.annotation):
            return False, member  # the tag pydantic adds for the member of a tagged union
    # inside a non-model value, a string names the member of a union that failed, not a key
    return False, model


def _clean_loc(loc: tuple, root: type[BaseModel] = Hall) -> tuple:
    """Keep the keys and indices of ``loc``; drop pydantic's union-member tags ('float', 'list[float]')."""
    out: list = []
    model: typing.Any = root
    for part in loc:
        if isinstance(part, int):
            out.append(part)
            continue
        is_key, model = _step(model, part)
        if is_key:
            out.append(part)
    return tuple(out)


def _model_at(raw_loc: tuple, root: type[BaseModel] = Hall) -> type[BaseModel] | None:
    """The pydantic model that holds the last key of pydantic's ``raw_loc`` (to list the allowed keys)."""
    model: typing.Any = root
    for part in raw_loc[:-1]:
        if not isinstance(part, int):
            model = _step(model, part)[1]
    return model if _is_model(model) else None


def _field_at(loc: tuple, root: type[BaseModel] = Hall) -> typing.Any:
    """The schema field (FieldInfo) of the deepest key in ``loc``: its description says what is allowed."""
    return _walk(loc, root)[0]


def _walk(loc: tuple, root: type[BaseModel]) -> tuple[typing.Any, typing.Any]:
    """(FieldInfo of the last key, model or annotation below it) along a cleaned location."""
    model: typing.Any = root
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        members = _union_members(model)
        if members:
            holders = [m for m in members if part in m.model_fields]
            model = holders[0] if len(holders) == 1 else model
        if not _is_model(model) or part not in model.model_fields:
            return None, None
        field = model.model_fields[part]
        model = _unwrap(field.annotation)
    return field, model


def _unwrap(annotation: typing.Any) -> typing.Any:
    """list[X] -> X, X | None -> X, Annotated[X, ...] -> X."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        origin = typing.get_origin(annotation)
        if origin in (list, tuple) and args:
            annotation = args[0]
        elif origin in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
        else:
            return annotation


def describe_validation_error(where: str, exc: ValidationError, root: type[BaseModel] = Hall) -> str:
    """One line for the first schema error: ``FILE: KEY.PATH: what is wrong (what is allowed)``."""
    # A misspelt key shows up twice (unknown key + required key missing): name the misspelling first.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = _clean_loc(err["loc"], root)
    n_more = len(errors) - 1
    if len(loc) < len(err["loc"]):
        # A union (e.g. it_kw: number or list): every member reports; the deepest error is the specific one.
        siblings = [e for e in errors if _clean_loc(e["loc"], root)[:len(loc)] == loc]
        err = max(siblings, key=lambda e: len(_clean_loc(e["loc"], root)))
        loc = _clean_loc(err["loc"], root)
        n_more = len(errors) - len(siblings)
    if err["type"] == "missing" and loc and isinstance(loc[-1], int):
        loc = loc[:-1]  # a tuple given too few values: name the tuple, not the absent item
    key = _key_path(loc) or "(top level)"
    holder = _model_at(tuple(err["loc"]), root) if loc else root
    field = _field_at(loc, root)
    described = f" ({field.description})" if field is not None and field.description else ""
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(holder.model_fields) if holder else "see the schema"
        msg = f"unknown key; allowed keys here: {allowed}"
    elif err["type"] == "missing":
        msg = ("too few values" if isinstance(err["loc"][-1], int) else "required key is missing") + described
    else:
        msg = err["msg"].removeprefix("Value error, ") + described
    more = f" [+{n_more} more]" if n_more > 0 else ""
    return f"{where}: {key}: {msg}{more}"
