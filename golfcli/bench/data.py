"""`golf bench data`: `golf data prepare` encoding speed against SentencePiece's own speed.

On the same documents (the shared FineWeb sample by default, or given .jsonl/.txt inputs):
- prepare: the whole `prepare()` (read, decompress, parse, encode on every core, write shards);
- sentencepiece, 1 thread and N threads: `sp.encode(all_texts)` on texts already in memory, the
  ceiling prepare can reach. The ratio says how close prepare is to being encode-bound.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import click

from golfcli.bench.record import record
from golfcli.data.documents import DocumentFile
from golfcli.data.prepare import prepare
from golfcli.data.tokenizer import load_tokenizer
from golfcli.errors import GolfError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def bench_prepare(inputs: list[Path], tokenizer: Path, val_docs: int, shard_tokens: int,
                  workers: int | None = None) -> dict:
    """tokens/s of prepare() and of bare SentencePiece encoding on the same documents."""
    workers = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        summary = prepare(inputs, Path(tmp) / "out", tokenizer=tokenizer, val_docs=val_docs,
                          shard_tokens=shard_tokens, workers=workers)
    sp = load_tokenizer(tokenizer)
    texts = [doc for p in inputs for doc in DocumentFile(p)]
    sp_rates = {}
    for threads in sorted({1, workers}):
        t0 = time.perf_counter()
        n = sum(len(ids) for ids in sp.encode(texts, out_type=int, num_threads=threads))
        sp_rates[threads] = round((n + len(texts)) / (time.perf_counter() - t0))
    return {
        "inputs": [str(p) for p in inputs],
        "documents": summary["documents"],
        "tokens": summary["tokens"],
        "workers": workers,
        "prepare_tokens_per_s": summary["tokens_per_s"],
        "prepare_seconds": summary["encode_seconds"],
        "sentencepiece_tokens_per_s": {f"{k}_threads": v for k, v in sp_rates.items()},
        "prepare_vs_sentencepiece_all_threads": round(summary["tokens_per_s"] / sp_rates[workers], 3),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


@click.command("data")
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--tokenizer", type=click.Path(), help="SentencePiece model (default: the shared sp1024).")
@click.option("--val-docs", default=500, show_default=True)
@click.option("--shard-tokens", default=2_600_000, show_default=True)
@click.option("--workers", type=int, default=None, help="Encoding threads (default: every core).")
@click.option("--no-record", is_flag=True, help="Do not write the JSON record under docs/benchmarks/.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(inputs, tokenizer, val_docs, shard_tokens, workers, no_record, as_json) -> None:
    """tokens/s of `golf data prepare` vs bare SentencePiece encoding (default: the shared FineWeb sample)."""
    paths = [Path(p) for p in inputs] or [SHARED / "docs_val.jsonl.gz", SHARED / "docs_train.jsonl.gz"]
    tok = Path(tokenizer) if tokenizer else SHARED / "tokenizers" / "fineweb_1024_bpe.model"
    if not inputs and not paths[0].exists():
        raise GolfError("no inputs given and the shared sample is absent; pass .jsonl/.txt files and --tokenizer",
                        SHARED)
    result = bench_prepare(paths, tok, val_docs, shard_tokens, workers)
    if not no_record:
        result["record_path"] = record("data_prepare", result)["path"]
    if as_json:
        click.echo(json.dumps(result))
        return
    sp = result["sentencepiece_tokens_per_s"]
    click.echo(f"prepare: {result['tokens']:,} tokens at {result['prepare_tokens_per_s']:,} tokens/s "
               f"on {result['workers']} workers")
    click.echo("sentencepiece alone: " + ", ".join(f"{k.replace('_', ' ')}: {v:,}/s" for k, v in sp.items()))
    ratio = result["prepare_vs_sentencepiece_all_threads"]
    click.echo(f"prepare / sentencepiece ({result['workers']} threads): {ratio}")
    if "record_path" in result:
        click.echo(f"recorded {result['record_path']}")
