"""`golf gptq-calibrate`: per-weight input Hessians for GPTQ, from text the model writes itself."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import check_config_inputs, config_options, emit, json_option, overwrite_option
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
@click.option("--source", type=click.Choice(["selfgen", "random", "shards"]), default=None,
              help="selfgen: the model samples its own text; random: uniform tokens; shards: windows of "
                   "training shards (reads training data) [the checkpoint's calib.source].")
@click.option("--seqs", type=int, default=None, help="Calibration sequences [the checkpoint's calib.seqs].")
@click.option("--seq-len", type=int, default=None, help="Tokens per sequence [the checkpoint's calib.seq_len].")
@click.option("--temperature", type=float, default=None, help="Sampling temperature of selfgen [the checkpoint's calib.temperature].")
@click.option("--batch", type=int, default=None, help="Sequences generated/forwarded together [the checkpoint's calib.batch].")
@click.option("--seed", type=int, default=None, help="Seed of first tokens and sampling [the checkpoint's calib.seed].")
@click.option("--no-kv-cache", "no_kv_cache", is_flag=True, help="Recompute the whole prefix per token (slow).")
@click.option("--data-dir", default=None, help="Shard directory for --source shards [the checkpoint's calib.data_dir, else data.data_dir].")
@click.option("--device", default=None, help="auto | cpu | cuda | cuda:N [the checkpoint's calib.device].")
@config_options
@overwrite_option
@json_option
def command(checkpoint, out, source, seqs, seq_len, temperature, batch, seed, no_kv_cache, data_dir, device,
            preset, config_file, overrides, overwrite, as_json) -> None:
    """Collect one Hessian E[x xᵀ] per quantizable weight.

    Settings: flags > --set > --config/--preset > the checkpoint's [calib] config.
    """
    check_output_file(out, overwrite, "Hessians file")
    check_config_inputs(preset, config_file, overrides, ("calib",))
    from golfcli.quant.calibrate import calibrate

    result = calibrate(
        checkpoint, out, preset=preset, config_file=config_file, overrides=overrides, source=source, seqs=seqs, seq_len=seq_len, temperature=temperature, batch=batch,
        seed=seed, kv_cache=False if no_kv_cache else None, data_dir=data_dir, device=device,
    )
    emit(result, as_json, _render)
