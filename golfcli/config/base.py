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


class SettingError(GolfError):
    """A value no stage can run with: `key` is its `section.key`, `problem` what is wrong with it.

    The message names the key ("quant.damp must be ≥ 0, got -1"); the resolver names the stage flag
    instead when the value came from that flag.
    """

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"{key} {problem}")


def require(ok: bool, key: str, problem: str) -> None:
    """Raise SettingError(key, problem) unless `ok`: the one form every `Section.validate()` uses."""
    if not ok:
        raise SettingError(key, problem)


def require_positive(section: Any, prefix: str, names: tuple[str, ...], least: int = 1) -> None:
    """Each of `names` of `section` is at least `least`."""
    for name in names:
        value = getattr(section, name)
        require(value >= least, f"{prefix}.{name}", f"must be at least {least}, got {value}")


def flag_of(cls: type, name: str) -> str | None:
    """The stage flag declared with field `name` of section `cls`, if any."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("flag")
    return None


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


# --- command-line shorthands, declared with the setting -------------------------------------------
def setting(default: Any = dataclasses.MISSING, *, help: str, flag: str | None = None, metavar: str | None = None,
            choices: tuple[str, ...] | None = None, sep: str | None = None, bits: bool = False,
            default_factory: Any = dataclasses.MISSING) -> Any:
    """A config field with its help text and, optionally, the stage flag that is its shorthand.

    `flag` names the option (`--attn`); a bool gets `--x/--no-x`, a list a repeatable option (or one
    value split at `sep`); `bits` accepts intN or N; `choices` restricts a string.
    """
    meta = {"help": help, "flag": flag, "metavar": metavar, "choices": choices, "sep": sep, "bits": bits}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class CliField:
    """One setting that a stage also takes as its own flag."""

    section: str
    name: str
    flag: str
    kind: type  # bool, int, float or str (the item type of a list)
    help: str
    is_list: bool = False
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    sep: str | None = None
    bits: bool = False

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def dest(self) -> str:
        """The parsed option's name: the flag's (`--attn` → attn), as a command line spells it."""
        return self.flag[2:].replace("-", "_")

    def parse(self, text: str) -> Any:
        """One command-line value (a list's whole text when it has `sep`) as the setting's type."""
        if self.sep is not None:
            return [self._item(t.strip()) for t in text.split(self.sep) if t.strip()]
        return self._item(text)

    def _item(self, text: str) -> Any:
        if self.bits:
            digits = text[3:] if text.lower().startswith("int") else text
            if not digits.isdigit():
                raise GolfError(f"{self.flag} expects a width like int6 or 6, got {text!r}")
            return int(digits)
        try:
            return self.kind(text)
        except ValueError:
            raise GolfError(f"{self.flag} expects {'an integer' if self.kind is int else 'a number'}, got {text!r}") from None


def cli_fields(cls: type, section: str) -> list[CliField]:
    """The fields of config dataclass `cls` that declare a stage flag, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("flag"):
            continue
        annotation = hints[f.name]
        is_list = typing.get_origin(annotation) in (list, tuple)
        kind = typing.get_args(annotation)[0] if is_list else annotation
        out.append(CliField(section, f.name, meta["flag"], kind, meta["help"], is_list, meta.get("metavar"),
                            meta.get("choices"), meta.get("sep"), meta.get("bits", False)))
    return out


def field_help(cls: type, name: str) -> str:
    """The help text declared with a config field ('' when it has none)."""
    return next((f.metadata.get("help", "") for f in dataclasses.fields(cls) if f.name == name), "")
