"""`golf quantize`: GPTQ or RTN onto symmetric int2..int8 grids, per role, per rule, or to a byte budget."""

from __future__ import annotations

import click
from rich import box
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import check_config_inputs, config_options, emit, json_option, overwrite_option
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
@click.option("--attn", default=None, metavar="intN", help="Width of attention matrices [the checkpoint's quant.attn_bits].")
@click.option("--mlp", default=None, metavar="intN", help="Width of MLP matrices [the checkpoint's quant.mlp_bits].")
@click.option("--embed", default=None, metavar="intN", help="Width of embedding tables (incl. value tables) [the checkpoint's quant.embed_bits].")
@click.option("--other", default=None, metavar="intN", help="Width of other large tensors [the checkpoint's quant.other_bits].")
@click.option("--rule", "rules", multiple=True, metavar="REGEX=BITS",
              help="Width for tensors whose name matches REGEX (repeatable; later rules win; replaces quant.rules).")
@click.option("--method", type=click.Choice(["gptq", "rtn"]), default=None, help="gptq (needs --hessians) or rtn [the checkpoint's quant.method].")
@click.option("--clip", default=None, help="search | sdclip:K | percentile:P [the checkpoint's quant.clip].")
@click.option("--damp", type=float, default=None, help="GPTQ damping, fraction of mean diag(H) [the checkpoint's quant.damp].")
@click.option("--block", type=int, default=None, help="GPTQ lazy-update block in columns [the checkpoint's quant.block].")
@click.option("--no-act-order", is_flag=True, help="Process columns in their natural order.")
@click.option("--passthrough-max", type=int, default=None, help="Tensors with at most this many elements stay fp16 [the checkpoint's quant.passthrough_max].")
@click.option("--keep-fp32", "fp32_rules", multiple=True, metavar="REGEX",
              help="Passthrough tensors matching REGEX stay fp32 (repeatable).")
@click.option("--target-bytes", type=int, default=None, help="Byte budget (model + code): choose widths to fit.")
@click.option("--code-bytes", type=int, default=None, help="Code bytes counted against --target-bytes.")
@click.option("--plan-bits", default=None, help="Widths the planner may use, e.g. 4,5,6,7,8.")
@config_options
@overwrite_option
@json_option
def command(checkpoint, out, hessians, attn, mlp, embed, other, rules, method, clip, damp, block, no_act_order,
            passthrough_max, fp32_rules, target_bytes, code_bytes, plan_bits, preset, config_file, overrides,
            overwrite, as_json) -> None:
    """Quantize a float checkpoint. Settings: flags > --set > --config/--preset > the checkpoint's [quant].

    intN is the symmetric grid ±(2^(N−1)−1) — int5 = ±15, int6 = ±31 — with codes stored as int8 and
    one fp16 scale per row (other public "int5" variants use ±16 or [−16, 15]).
    """
    check_output_file(out, overwrite, "quantized file")
    check_config_inputs(preset, config_file, overrides, ("quant",))
    from golfcli.bitwidths import parse_bits
    from golfcli.quant.quantize import quantize

    def bits(value, what):
        return None if value is None else parse_bits(value, what)

    result = quantize(
        checkpoint, out, hessians, preset=preset, config_file=config_file, overrides=overrides,
        method=method, attn_bits=bits(attn, "--attn"), mlp_bits=bits(mlp, "--mlp"),
        embed_bits=bits(embed, "--embed"), other_bits=bits(other, "--other"),
        rules=list(rules) or None, clip=clip, damp=damp, block=block,
        act_order=False if no_act_order else None, passthrough_max=passthrough_max,
        fp32_rules=list(fp32_rules) or None, target_bytes=target_bytes, code_bytes=code_bytes,
        plan_bits=[bits(b, "--plan-bits") for b in plan_bits.split(",")] if plan_bits else None,
    )
    emit(result, as_json, _render)
