"""`golf eval MODEL`, `golf eval-sliding MODEL`, `golf eval-hedge MODEL`: bits per byte on validation.

MODEL is a checkpoint, a quantized file or an artifact (detected from its bytes). The verbs only
resolve options and call `golfcli.scoring.run_eval`, which loads the model, tokens and
tokenizer and calls `golfcli.eval.evaluate`.
"""

from __future__ import annotations

import os
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import check_config_inputs, config_options, emit, json_option, section_flags, section_options
from golfcli.config.eval import EvalConfig
from golfcli.config.data import DEFAULT_DATA_DIR, DEFAULT_TOKENIZER
from golfcli.io import check_output_file
from golfcli.scoring import run_eval


def render(result: dict[str, Any]) -> None:
    """The report as a small table."""
    title = f"golf eval: {result['mode']}{' + ttt' if result.get('ttt') else ''}"
    if result.get("partial"):
        title += f" (PARTIAL: first {result['tokens_scored'] + 1:,} of {result['tokens_available']:,} tokens)"
    table = Table(title=title, show_header=False)
    rows = [
        ("val_bpb", f"{result['val_bpb']:.6f}"), ("val_loss (nats/token)", f"{result['val_loss']:.6f}"),
        ("tokens scored", f"{result['tokens_scored']:,}"), ("bytes scored", f"{result['bytes_scored']:,}"),
        ("seconds", f"{result['seconds']:.2f}"), ("tokens/s", f"{result['tokens_per_s']:,.0f}"),
    ]
    if "neural_bpb" in result:
        rows += [("neural-only bpb (same pass)", f"{result['neural_bpb']:.6f}"),
                 ("gain (bpb)", f"{result['gain_bpb']:+.6f}")]
        rows += [(f"weight {k}", f"{v:.4f}") for k, v in result["expert_weights"].items()]
    if "normalization_checks" in result:
        rows.append(("normalization checks", f"{result['normalization_checks']} "
                     f"(max |Σp − 1| = {result['max_normalization_error']:.2e})"))
    if "ttt_chunks" in result:
        rows.append(("ttt chunks trained", f"{result['ttt_trained_chunks']} of {result['ttt_chunks']}"))
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)


def _options(func):
    opts = [
        click.argument("model_path", metavar="MODEL", type=click.Path()),
        click.option("--data", "data_dir", default=DEFAULT_DATA_DIR, show_default=True,
                     help="Directory of fineweb_val_*.bin shards."),
        click.option("--tokenizer", default=DEFAULT_TOKENIZER, show_default=True, help="SentencePiece model."),
        click.option("--max-tokens", type=int, default=None,
                     help="Evaluate only the first N validation tokens (N-1 targets; reported as partial)."),
        click.option("--ttt", is_flag=True, help="Score-first test-time training over chunks."),
        click.option("--check-normalization", is_flag=True,
                     help="Hedge: assert the mixture sums to 1 (±1e-6) over the vocabulary at sampled positions."),
        click.option("--per-token", type=click.Path(), default=None,
                     help="Write every target's NLL (nats, float32, stream order) to FILE.npy."),
        click.option("--overwrite", is_flag=True, help="Replace the --per-token file if it exists."),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    func = section_options(EvalConfig, "eval", "the model file's")(func)
    return config_options(json_option(func))


def _make(name: str, fixed_mode: str | None, help_text: str) -> click.Command:
    def body(model_path, data_dir, tokenizer, max_tokens, ttt, check_normalization, per_token, overwrite, device,
             preset, config_file, overrides, as_json, sliding=False, hedge=False, **settings):
        if per_token:
            check_output_file(per_token, overwrite, "per-token file")
        flags = section_flags(EvalConfig, "eval", settings)
        check_config_inputs(preset, config_file, overrides, ("eval",))
        mode = fixed_mode or ("hedge" if hedge else "sliding" if sliding else "standard")
        result = run_eval(
            model_path, data_dir, tokenizer, mode, ttt=ttt, max_tokens=max_tokens, per_token=per_token,
            check_normalization=check_normalization, device=device, preset=preset, config_file=config_file,
            overrides=overrides, **flags,
        )
        if int(os.environ.get("RANK", "0") or 0) == 0:  # under torchrun only rank 0 prints
            emit(result, as_json, render)

    body.__doc__ = help_text
    func = _options(body)
    if fixed_mode is None:
        func = click.option("--hedge", is_flag=True, help="Hedge mixer over the sliding windows.")(func)
        func = click.option("--sliding", is_flag=True, help="Sliding-window evaluation (the scored metric).")(func)
    return click.command(name)(func)


eval = _make("eval", None, "Bits per byte of MODEL on the validation split (standard, --sliding or --hedge).")
eval_sliding = _make("eval-sliding", "sliding", "Sliding-window bits per byte (the challenge's metric): every "
                     "target scored once with the longest context the window allows.")
eval_hedge = _make("eval-hedge", "hedge", "Hedge-mixer bits per byte over sliding windows: the model mixed with "
                   "unigram/bigram/trigram distributions of already-scored tokens.")

commands = [eval, eval_sliding, eval_hedge]
