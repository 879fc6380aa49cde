"""`golf run`: the whole chain, data to verified score, in one run dir."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from golfcli import console
from golfcli.cli.options import config_options, emit, json_option


def _fmt(value: Any, spec: str = ",") -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and spec == ",":
        return f"{value:,.1f}"
    return format(value, spec)


def _weights(w: dict[str, Any]) -> str:
    if not w.get("used"):
        return "—"
    return f"{w['used']}: {w.get('reason') or ''}".rstrip(": ")


def _render(s: dict[str, Any]) -> None:
    table = Table("", "value", title=f"golf run — {s['run_dir']}", show_header=False)
    bpb, size = s["bpb"], s["bytes"]
    rows = [
        ("parameters", _fmt(s["params"])),
        ("steps", _fmt(s["steps"])),
        ("train time (s)", _fmt(s["train_seconds"], ".1f")),
        ("weights shipped", _weights(s.get("weights") or {})),
        ("pre-quant bpb", _fmt(bpb["pre_quant"], ".4f")),
        ("post-quant bpb", _fmt(bpb["post_quant"], ".4f")),
        ("sliding bpb", _fmt(bpb["sliding"], ".4f")),
        ("hedge bpb", _fmt(bpb["hedge"], ".4f")),
        ("artifact bytes", _fmt(size["model"])),
        ("code bytes", _fmt(size["code"])),
        ("total vs cap", f"{_fmt(size['total'])} / {_fmt(size['limit'])} "
                         f"({'fits' if size['fits'] else 'OVER the cap'})"),
    ]
    if s.get("resumed_from_step") is not None:
        rows.insert(2, ("resumed from step", _fmt(s["resumed_from_step"])))
    for label, value in rows:
        table.add_row(label, value)
    for stage, seconds in s["seconds"].items():
        note = " (skipped: up to date)" if stage in s.get("skipped", []) else ""
        table.add_row(f"  {stage} (s)", f"{seconds:.1f}{note}")
    Console().print(table)
    for warning in (s.get("weights") or {}).get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"summary: {s['run_dir']}/summary.json   commands: {s['run_dir']}/commands.sh")


@click.command("run")
@config_options
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Run directory.")
@click.option("--data", "data_dir", default=None, type=click.Path(),
              help="Shard directory (default: the challenge layout if present, else the built-in corpus).")
@click.option("--tokenizer", default=None, type=click.Path(), help="SentencePiece model.")
@click.option("--hedge", is_flag=True, help="Also run the Hedge-mixer evaluation.")
@json_option
def command(preset: str | None, config_file: str | None, overrides: tuple[str, ...], out_dir: str,
            data_dir: str | None, tokenizer: str | None, hedge: bool, as_json: bool) -> None:
    """Train → ema → gptq-calibrate → quantize → pack → bundle → verify-size → eval, skipping what is up to date."""
    from golfcli.pipeline import run_pipeline

    summary = run_pipeline(out_dir, preset, config_file, overrides, data_dir, tokenizer, hedge,
                           show_progress=console.interactive() or console.plain())
    emit(summary, as_json, _render)
