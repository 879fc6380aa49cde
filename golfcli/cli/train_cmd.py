"""`golf train`: train a preset into a run directory (also under `torchrun -m golfcli train`)."""

from __future__ import annotations

import os

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import config_options, emit, json_option, resolve_config
from golfcli.io import check_output_dir


def _render(r: dict) -> None:
    table = Table(show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for key in ("steps", "seconds", "tokens", "stopped_by", "final_loss", "val_loss", "val_bpb", "ema_val_bpb",
                "swa_snapshots", "device", "world_size"):
        value = r.get(key)
        if value is not None:
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) and key != "seconds" else str(value))
    for name, path in r.get("paths", {}).items():
        table.add_row(name, path)
    Console().print(table)


@click.command("train")
@config_options
@click.option("--data", "data_dir", type=click.Path(), help="Shard directory (default: data.data_dir).")
@click.option("--tokenizer", type=click.Path(), help="SentencePiece model (default: data.tokenizer).")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Run directory to write.")
@click.option("--max-steps", type=click.IntRange(min=0), help="Stop after this many steps in total.")
@click.option("--max-seconds", type=click.FloatRange(min=0), help="Training wallclock cap (replaces train.max_seconds; 0 = none).")
@click.option("--val-every", type=click.IntRange(min=0), help="Validate every N steps (replaces train.val_every).")
@click.option("--resume", is_flag=True, help="Continue exactly from the newest checkpoint in --out (an error when there is none).")
@json_option
def command(preset, config_file, overrides, data_dir, tokenizer, out_dir, max_steps, max_seconds, val_every,
            resume, as_json) -> None:
    """Train a model: Muon + AdamW, wallclock warmdown, EMA/SWA, late QAT; checkpoints in --out."""
    check_output_dir(out_dir)
    cfg = resolve_config(preset, config_file, overrides)
    from golfcli.train import train

    result = train(cfg, out_dir, max_steps=max_steps, max_seconds=max_seconds, resume=resume,
                   val_every=val_every, data_dir=data_dir, tokenizer=tokenizer)
    if int(os.environ.get("RANK", "0") or 0) == 0:
        emit(result, as_json, _render)
