"""`golf quantize`: GPTQ or RTN onto symmetric int2..int8 grids, per role, per rule, or to a byte budget."""

from __future__ import annotations

import click
from rich import box
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import config_options, emit, json_option, overwrite_option, section_flags, section_options
from golfcli.config.quant import QuantConfig
from golfcli.config.resolve import resolve_settings
from golfcli.io import check_output_file


def _fmt_bytes(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _render(r: dict) -> None:
    """Per-tensor table and totals, readable at 80 columns (every number in --json)."""
    table = Table("tensor", "bits", "method", "elements", "rel err", "est. bytes", title="quantized tensors",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    table.columns[0].overflow = "fold"
    for column in table.columns[1:]:
        column.no_wrap = True
    for column in table.columns[3:]:
        column.justify = "right"
    for t in r["tensors"]:
        table.add_row(t["name"], f"int{t['bits']}" + ("*" if t["planned"] else ""), t["method"],
                      f"{t['elements']:,}", f"{t['rel_error']:.2e}", _fmt_bytes(t["bytes"]))
    console = Console()
    console.print(table)
    totals = Table(show_header=False, title="totals", box=box.SIMPLE, pad_edge=False)
    totals.add_column(no_wrap=True)
    totals.add_column(overflow="fold")
    widths = ", ".join(f"{v}×{k}" for k, v in r["bits_histogram"].items())
    totals.add_row("tensors", f"{len(r['tensors'])} quantized ({widths}), {len(r['passthrough'])} passthrough")
    totals.add_row("total error", f"{r['total_error']:.6g}")
    totals.add_row("estimated bytes", f"{_fmt_bytes(r['quantized_bytes'])} quantized + "
                   f"{_fmt_bytes(r['passthrough_bytes'])} passthrough = {_fmt_bytes(r['estimated_bytes'])}")
    if r["target_bytes"]:
        totals.add_row("with code", f"{_fmt_bytes(r['total_bytes'])} of {_fmt_bytes(r['target_bytes'])} "
                                    f"({'fits' if r['fits'] else 'OVER'}; * = width chosen by the planner)")
    if r["damp_raised"]:
        totals.add_row("damping raised", ", ".join(r["damp_raised"]))
    for w in r.get("warnings", []):
        totals.add_row("[yellow]warning[/yellow]", w)
    totals.add_row("seconds", str(r["seconds"]))
    totals.add_row("out", r["out"])
    console.print(totals)


@click.command("quantize")
@click.argument("checkpoint", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Quantized file to write.")
@click.option("--hessians", type=click.Path(), default=None, help="From `golf gptq-calibrate`.")
@section_options(QuantConfig, "quant", "the checkpoint's")
@config_options
@overwrite_option
@json_option
def command(checkpoint, out, hessians, preset, config_file, overrides, overwrite, as_json, **settings) -> None:
    """Quantize a float checkpoint. Settings: flags > --set > --config/--preset > the checkpoint's [quant].

    intN is the symmetric grid ±(2^(N−1)−1) — int5 = ±15, int6 = ±31 — with codes stored as int8 and
    one fp16 scale per row (other public "int5" variants use ±16 or [−16, 15]).
    """
    check_output_file(out, overwrite, "quantized file")
    flags = section_flags(QuantConfig, "quant", settings)
    resolve_settings(None, preset, config_file, overrides, {"quant": flags}, reads=("quant",))  # before torch
    from golfcli.quant.quantize import quantize

    result = quantize(checkpoint, out, hessians, preset=preset, config_file=config_file, overrides=overrides, **flags)
    emit(result, as_json, _render)
