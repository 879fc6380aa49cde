"""Options shared by every verb: config resolution, `--overwrite` and `--json` output."""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import click

from golfcli import console
from golfcli.config import GolfConfig, load_config


def config_options(func: Callable) -> Callable:
    """Add `--preset`, `--config` and repeatable `--set section.key=value` to a command."""
    func = click.option(
        "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
        help="Override one config key (repeatable; type-checked).",
    )(func)
    func = click.option("--config", "config_file", type=click.Path(), help="TOML config file.")(func)
    func = click.option("--preset", default=None, help="Named preset (see `golf presets`).")(func)
    return func


def resolve_config(preset: str | None, config_file: str | None, overrides: tuple[str, ...]) -> GolfConfig:
    """The GolfConfig the shared config options describe."""
    return load_config(preset, config_file, overrides)


def section_options(cls: type, section: str, source: str) -> Callable[[Callable], Callable]:
    """Add one option per flagged field of config dataclass `cls` (name, type, help from the field).

    Each option defaults to None ("not given"), so the setting falls back along the precedence
    rule; the help names where that value comes from: "[default: SOURCE section.key]".
    """
    from golfcli.config.base import cli_fields

    def add(func: Callable) -> Callable:
        for f in reversed(cli_fields(cls, section)):
            func = _click_option(f, source)(func)
        return func

    return add


def _click_option(f: Any, source: str) -> Callable:
    text = f"{f.help} [default: {source} {f.key}]"
    if f.kind is bool:
        return click.option(f"{f.flag}/--no-{f.flag[2:]}", f.dest, default=None, help=text)
    kind: Any = click.Choice(f.choices) if f.choices else (str if f.bits or f.sep else f.kind)
    multiple = f.is_list and f.sep is None
    return click.option(f.flag, f.dest, type=kind, default=None, multiple=multiple, metavar=f.metavar, help=text)


def section_flags(cls: type, section: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pop the options `section_options` added from a command's kwargs: `{field: value or None}`."""
    from golfcli.config.base import cli_fields

    out: dict[str, Any] = {}
    for f in cli_fields(cls, section):
        value = kwargs.pop(f.dest)
        if f.is_list and f.sep is None:
            value = [f.parse(v) if f.bits else v for v in value] or None
        elif value is not None and (f.bits or f.sep):
            value = f.parse(value)
        out[f.name] = value
    return out


def check_config_inputs(preset: str | None, config_file: str | None, overrides: tuple[str, ...],
                        reads: tuple[str, ...]) -> None:
    """Fail on a bad preset, config file or `--set` before a stage (and torch) is imported."""
    from golfcli.config.resolve import resolve_settings

    resolve_settings(None, preset, config_file, overrides, reads=reads)


def stored_config(path: str) -> GolfConfig | None:
    """The config a golf safetensors file carries (`golf.config`), or None for a file without one."""
    from golfcli.config import config_from_dict
    from golfcli.io import read_metadata, require_file

    meta = read_metadata(require_file(path, "input file"))
    tables = meta.get("config")
    preset = meta.get("preset") if isinstance(meta.get("preset"), str) else None
    return config_from_dict(tables, preset=preset) if isinstance(tables, dict) else None


def overwrite_option(func: Callable | None = None, *, help: str = "Replace the output file if it exists."):
    """Add `--overwrite`: without it, a command refuses to replace an existing output."""

    def add(f: Callable) -> Callable:
        return click.option("--overwrite", is_flag=True, help=help)(f)

    return add(func) if func is not None else add


def json_option(func: Callable) -> Callable:
    """Add `--json`: print one JSON object on stdout and no progress bars."""

    def callback(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        if value:
            console.set_quiet(True)
        return value

    return click.option(
        "--json", "as_json", is_flag=True, is_eager=True, callback=callback, help="Print one JSON object."
    )(func)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def emit(result: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], None]) -> None:
    """Print `result` as one JSON object (with `--json`) or through the human `render`."""
    if as_json:
        click.echo(json.dumps(_jsonable(result), sort_keys=False))
    else:
        render(result)
