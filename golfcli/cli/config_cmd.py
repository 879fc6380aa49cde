"""`golf config PRESET|RUN_DIR|FILE`: the fully resolved config, and where each value came from."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import emit, json_option, stored_config
from golfcli.config import config_to_dict, list_presets
from golfcli.config.resolve import Resolved, resolve_settings
from golfcli.errors import GolfError


def resolve_target(target: str, overrides: tuple[str, ...] = ()) -> Resolved:
    """Resolve a preset name, a run dir (its config.toml), a TOML file or a golf safetensors file."""
    path = Path(target)
    if path.is_dir():
        conf = path / "config.toml"
        if not conf.is_file():
            raise GolfError("is a directory without a config.toml (not a golf run dir)", path)
        return resolve_settings(None, None, conf, overrides)
    if path.is_file():
        if path.suffix == ".toml":
            return resolve_settings(None, None, path, overrides)
        return resolve_settings(_stored(path), None, None, overrides)
    if target in list_presets():
        return resolve_settings(None, target, None, overrides)
    raise GolfError(f"{target!r} is neither a preset ({', '.join(list_presets())}), a run dir nor a file")


def _stored(path: Path):
    from golfcli.artifact import is_artifact

    if is_artifact(path):
        from golfcli.loading import load_state

        return load_state(path)[1]
    found = stored_config(str(path))
    if found is None:
        raise GolfError("carries no golf config", path)
    return found


def _render(r: dict) -> None:
    table = Table("key", "value", "from", title=f"golf config: {r['target']}")
    for column in table.columns:
        column.overflow = "fold"
    for section, values in r["config"].items():
        for key, value in values.items():
            name = f"{section}.{key}"
            table.add_row(name, repr(value) if isinstance(value, str) else str(value), r["sources"][name])
    Console().print(table)


@click.command("config")
@click.argument("target", metavar="PRESET|RUN_DIR|FILE")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one config key (repeatable), as a stage would.")
@json_option
def command(target: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """Print the fully resolved config and where each value came from.

    Sources: default, preset NAME, file PATH, --set, or the input file (a checkpoint, quantized
    file or artifact). `golf presets` lists the preset names.
    """
    resolved = resolve_target(target, overrides)
    result = {"target": target, "preset": resolved.config.preset, "config": config_to_dict(resolved.config),
              "sources": resolved.sources}
    emit(result, as_json, _render)
