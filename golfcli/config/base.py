"""Typed config sections: building them from TOML tables with type checks and helpful errors."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, TypeVar

from golfcli.errors import GolfError

T = TypeVar("T")


def field_names(cls: type) -> list[str]:
    """Names of a config dataclass's fields, in declaration order."""
    return [f.name for f in dataclasses.fields(cls)]


def unknown_key_error(key: str, valid: list[str], where: str = "", kind: str = "config key") -> GolfError:
    """A GolfError for an unknown name (a config key `where+key`, a section, a preset) that suggests the
    closest valid ones: "unknown preset 'x'; did you mean 'tiny'?"."""
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    shown = [f"{where}{c}" for c in close] if close else valid
    hint = f"; did you mean {', '.join(repr(c) for c in shown)}?" if close else f"; valid: {', '.join(shown)}"
    return GolfError(f"unknown {kind} {where + key!r}{hint}")


def coerce(value: Any, annotation: Any, name: str) -> Any:
    """Check `value` against a field annotation, converting int→float and lists→tuples where declared."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, name)
            except GolfError as exc:
                errors.append(str(exc))
        raise GolfError(errors[0] if errors else f"config key {name!r} cannot be {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise GolfError(f"config key {name!r} must be a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [coerce(v, item_type, name) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise GolfError(f"config key {name!r} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise GolfError(f"config key {name!r} must be an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise GolfError(f"config key {name!r} must be a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise GolfError(f"config key {name!r} must be a string, got {value!r}")
    raise GolfError(f"config key {name!r} has an unsupported type {annotation!r}")


def section_from_dict(cls: type[T], table: dict[str, Any], where: str = "") -> T:
    """Build config dataclass `cls` from a TOML table; unknown keys and wrong types are errors."""
    hints = typing.get_type_hints(cls)
    valid = field_names(cls)
    kwargs = {}
    for key, value in table.items():
        if key not in valid:
            raise unknown_key_error(key, valid, where)
        kwargs[key] = coerce(value, hints[key], f"{where}{key}")
    return cls(**kwargs)


def section_to_dict(section: Any) -> dict[str, Any]:
    """A config dataclass as a plain dict (lists for tuples), suitable for TOML and JSON."""
    out = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
