"""`golf ema`: write one averaged checkpoint (EMA, SWA mean, or exponential over snapshots) of a run."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import emit, json_option, overwrite_option
from golfcli.config.train import AVERAGE_MODES
from golfcli.io import check_output_file


def _render(r: dict) -> None:
    table = Table(show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for key in ("out", "mode", "chosen", "reason", "decay", "snapshots", "step", "tensors", "elements", "bytes"):
        if r.get(key) is not None:
            table.add_row(key, str(r[key]))
    for w in r.get("warnings", []):
        table.add_row("[yellow]warning[/yellow]", w)
    Console().print(table)


@click.command("ema")
@click.argument("run_dir", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Checkpoint file to write.")
@click.option("--mode", type=click.Choice(AVERAGE_MODES), default=None,
              help="final: the final weights; ema: the shadow kept in training; swa: mean of SWA snapshots; "
                   "exp: exponential over checkpoints; auto: final, ema or swa, the lowest loss on held-out "
                   "training tokens [the run's train.ship_weights].")
@click.option("--data", "data_dir", default=None,
              help="Training shards for the probe that compares weights [the run's data.data_dir].")
@click.option("--decay", type=float, help="Per-snapshot decay for --mode exp (ema: must match the training decay).")
@overwrite_option
@json_option
def command(run_dir, out, mode, data_dir, decay, overwrite, as_json) -> None:
    """Average a run's weights into one checkpoint."""
    from golfcli.train import average_checkpoint
    from golfcli.train.run_dir import RunDir

    RunDir(run_dir).require_run()
    check_output_file(out, overwrite, "checkpoint file")
    emit(average_checkpoint(run_dir, out, mode=mode, decay=decay, data_dir=data_dir), as_json, _render)
