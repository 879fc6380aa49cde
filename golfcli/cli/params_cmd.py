"""`golf params`: parameter counts of a configured model, by component and in total."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import config_options, emit, json_option, resolve_config


@click.command("params")
@config_options
@json_option
def command(preset: str | None, config_file: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Count the parameters of the model a preset/config describes (nothing is trained or loaded)."""
    cfg = resolve_config(preset, config_file, overrides)
    from golfcli.model.params import param_report

    result = param_report(cfg.model)

    def render(r: dict) -> None:
        table = Table("group", "parameters", title=f"golf params ({preset or 'defaults'})")
        for name, count in r["groups"].items():
            table.add_row(name, f"{count:,}")
        table.add_row("[bold]total[/bold]", f"[bold]{r['total']:,}[/bold]")
        console = Console()
        console.print(table)
        console.print("optimizer groups: " + ", ".join(f"{k} {v:,}" for k, v in r["optimizer"].items()))
        for i, phase in enumerate(r["layers"]["phases"]):
            console.print(f"phase {i}: layers {phase['physical']}")

    emit(result, as_json, render)
