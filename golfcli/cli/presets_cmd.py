"""`golf presets`: list the shipped presets."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import emit, json_option
from golfcli.config import list_presets, preset_description


@click.command("presets")
@json_option
def command(as_json: bool) -> None:
    """List the named presets and what each turns on."""
    result = {"presets": {name: preset_description(name) for name in list_presets()}}

    def render(r: dict) -> None:
        table = Table("preset", "description")
        for name, desc in r["presets"].items():
            table.add_row(name, desc)
        Console().print(table)

    emit(result, as_json, render)
