"""`golf gptq-calibrate`: per-weight input Hessians for GPTQ, from text the model writes itself."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import (check_config_inputs, config_options, emit, json_option, overwrite_option,
                                 section_flags, section_options)
from golfcli.config.quant import CalibConfig
from golfcli.io import check_output_file


def _render(r: dict) -> None:
    table = Table("", "", show_header=False)
    for key in ("out", "source", "seqs", "seq_len", "tokens", "hessians", "kv_cache", "device",
                "seconds_tokens", "tokens_per_s", "seconds_hessians"):
        if r.get(key) is not None:
            table.add_row(key, str(r[key]))
    if r.get("shared_passes"):
        table.add_row("shared weights", ", ".join(f"{k} ×{v}" for k, v in sorted(r["shared_passes"].items())))
    for w in r.get("warnings", []):
        table.add_row("[yellow]warning[/yellow]", w)
    Console().print(table)


@click.command("gptq-calibrate")
@click.argument("checkpoint", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Hessians file to write.")
@section_options(CalibConfig, "calib", "the checkpoint's")
@config_options
@overwrite_option
@json_option
def command(checkpoint, out, preset, config_file, overrides, overwrite, as_json, **settings) -> None:
    """Collect one Hessian E[x xᵀ] per quantizable weight.

    Settings: flags > --set > --config/--preset > the checkpoint's [calib] config.
    """
    check_output_file(out, overwrite, "Hessians file")
    flags = section_flags(CalibConfig, "calib", settings)
    check_config_inputs(preset, config_file, overrides, ("calib",))
    from golfcli.quant.calibrate import calibrate

    result = calibrate(checkpoint, out, preset=preset, config_file=config_file, overrides=overrides, **flags)
    emit(result, as_json, _render)
