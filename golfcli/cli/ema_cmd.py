"""`golf ema`: write one averaged checkpoint (EMA, SWA mean, or exponential over snapshots) of a run."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import emit, json_option


def _render(r: dict) -> None:
    table = Table(show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for key in ("out", "mode", "decay", "snapshots", "step", "tensors", "elements", "bytes"):
        if r.get(key) is not None:
            table.add_row(key, str(r[key]))
    Console().print(table)


@click.command("ema")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Checkpoint file to write.")
@click.option("--mode", type=click.Choice(["ema", "swa", "exp"]), default="ema", show_default=True,
              help="ema: the shadow kept in training; swa: mean of SWA snapshots; exp: exponential over checkpoints.")
@click.option("--decay", type=float, help="Per-snapshot decay for --mode exp (ema: must match the training decay).")
@json_option
def command(run_dir, out, mode, decay, as_json) -> None:
    """Average a run's weights into one checkpoint."""
    from golfcli.train import average_checkpoint

    emit(average_checkpoint(run_dir, out, mode=mode, decay=decay), as_json, _render)
