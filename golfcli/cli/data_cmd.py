"""`golf data prepare / builtin / download / inspect`: get challenge-format data."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli import GolfGroup
from golfcli.cli.options import emit, json_option, overwrite_option
from golfcli.data.documents import TXT_MODES
from golfcli.data.prepare import DEFAULT_SHARD_TOKENS, DEFAULT_TOKENIZER_DOCS, DEFAULT_VAL_DOCS


@click.group("data", cls=GolfGroup)
def command() -> None:
    """Get data: encode text into challenge shards, build the builtin corpus, download, inspect."""


def _render_written(r: dict) -> None:
    table = Table("split", "documents", "tokens", "shards")
    for split, s in r["splits"].items():
        table.add_row(split, f"{s['documents']:,}", f"{s['tokens']:,}", str(len(s["shards"])))
    console = Console()
    console.print(table)
    trained = " (trained here)" if r.get("tokenizer_trained") else ""
    console.print(f"tokenizer: {r['tokenizer']}{trained}, {r['vocab_size']} pieces, "
                  f"byte fallback {'on' if r['byte_fallback'] else 'off'}")
    console.print(f"shards in {r['out_dir']}; {r['tokens']:,} tokens encoded at {r['tokens_per_s'] or 0:,} tokens/s "
                  f"on {r['workers']} workers ({r['seconds']:.1f} s in all)")


def _byte_fallback_option(func):
    return click.option("--byte-fallback/--no-byte-fallback", default=True, show_default=True,
                        help="Trained tokenizer: encode unknown characters as UTF-8 byte pieces.")(func)


@command.command("prepare")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Output directory.")
@click.option("--tokenizer", type=click.Path(),
              help="SentencePiece model to encode with (default: train one and write DIR/tokenizer.model).")
@click.option("--vocab-size", default=1024, show_default=True, help="Trained tokenizer's vocabulary size.")
@_byte_fallback_option
@click.option("--val-docs", default=DEFAULT_VAL_DOCS, show_default=True,
              help="The first N documents form the validation split.")
@click.option("--shard-tokens", default=DEFAULT_SHARD_TOKENS, show_default=True, help="Tokens per shard.")
@click.option("--workers", type=int, default=None, help="Encoding threads (default: every core).")
@click.option("--txt-docs", type=click.Choice(TXT_MODES), default="paragraph", show_default=True,
              help="How .txt inputs split into documents.")
@click.option("--tokenizer-docs", default=DEFAULT_TOKENIZER_DOCS, show_default=True,
              help="Train the tokenizer on at most this many training documents.")
@overwrite_option(help="Replace shards already in the output directory.")
@json_option
def prepare_cmd(inputs, out_dir, tokenizer, vocab_size, byte_fallback, val_docs, shard_tokens, workers,
                txt_docs, tokenizer_docs, overwrite, as_json) -> None:
    """Encode INPUT files (.txt or .jsonl with a "text" field, optionally .gz/.zst) into challenge shards.

    Each document becomes BOS + its token ids (no EOS); the first --val-docs documents are the
    validation split (fineweb_val_*.bin), the rest training (fineweb_train_*.bin).
    """
    from golfcli.data.prepare import prepare

    result = prepare(list(inputs), out_dir, tokenizer=tokenizer, vocab_size=vocab_size,
                     byte_fallback=byte_fallback, val_docs=val_docs, shard_tokens=shard_tokens, workers=workers,
                     txt_docs=txt_docs, tokenizer_docs=tokenizer_docs, overwrite=overwrite)
    emit(result, as_json, _render_written)


@command.command("builtin")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Output directory.")
@click.option("--vocab-size", default=1024, show_default=True, help="Tokenizer vocabulary size.")
@_byte_fallback_option
@click.option("--shard-tokens", default=None, type=int, help="Tokens per shard (default 262,144).")
@overwrite_option(help="Replace shards already in the output directory.")
@json_option
def builtin_cmd(out_dir, vocab_size, byte_fallback, shard_tokens, overwrite, as_json) -> None:
    """Build the embedded corpus (Python's own documentation) as shards + tokenizer; no download.

    Its bpb is comparable between runs on the same Python version, not with FineWeb's.
    """
    from golfcli.data.builtin import DEFAULT_SHARD_TOKENS as BUILTIN_SHARD_TOKENS
    from golfcli.data.builtin import build_builtin

    result = build_builtin(out_dir, vocab_size=vocab_size, byte_fallback=byte_fallback,
                           shard_tokens=shard_tokens or BUILTIN_SHARD_TOKENS, overwrite=overwrite)
    emit(result, as_json, _render_written)


@command.command("download")
@click.option("--variant", default="sp1024", show_default=True, help="Tokenizer family: sp1024, sp4096, ...")
@click.option("--train-shards", default=80, show_default=True, help="Train shards to fetch (100M tokens each).")
@click.option("--out", "out_dir", default="./data", show_default=True, type=click.Path(),
              help="Root of the challenge data layout.")
@json_option
def download_cmd(variant, train_shards, out_dir, as_json) -> None:
    """Download the published challenge export through huggingface_hub (pip install 'golfcli[hub]')."""
    from golfcli.data.download import download
    from golfcli.io import check_output_dir

    check_output_dir(out_dir)
    result = download(out_dir, variant=variant, train_shards=train_shards)

    def render(r: dict) -> None:
        Console().print(f"{r['variant']}: {r['val_shards']} val + {r['train_shards']} train shards in {r['data_dir']} "
                        f"({r['files_fetched']} fetched, {r['files_present']} already present); "
                        f"tokenizer {r['tokenizer']}")

    emit(result, as_json, render)


@command.command("inspect")
@click.argument("data_dir", type=click.Path())
@click.option("--tokenizer", required=True, type=click.Path(), help="The shards' SentencePiece model.")
@json_option
def inspect_cmd(data_dir, tokenizer, as_json) -> None:
    """Shards, tokens, documents and metric bytes per split; checks every id against the vocabulary."""
    from golfcli.data.inspect import inspect_data

    result = inspect_data(data_dir, tokenizer)

    def render(r: dict) -> None:
        table = Table("split", "shards", "tokens", "documents", "bytes", "tokens/byte", "max id")
        for split, s in r["splits"].items():
            tpb = f"{s['tokens_per_byte']:.5f}" if s["tokens_per_byte"] else "-"
            table.add_row(split, str(len(s["shards"])), f"{s['tokens']:,}", f"{s['documents']:,}",
                          f"{s['bytes']:,}", tpb, str(s["max_id"]))
        console = Console()
        console.print(table)
        console.print(f"every id is below the vocabulary of {r['vocab_size']} ({r['tokenizer']}); "
                      "bytes = the metric's count over every target (all tokens after the first)")
        if r["tokenizer_matches_dataset"] is False:
            console.print("[bold]warning:[/] this tokenizer is not the one dataset.json says made these shards")

    emit(result, as_json, render)
