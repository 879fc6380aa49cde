"""`golf data inspect`: what a shard directory holds, counted under the metric's byte rule.

Per split: shards and their token counts, documents (BOS count), the metric's byte total over
every target of the split (all tokens after the first, each with its predecessor, across shard
boundaries) and tokens per byte. Every id is checked against the tokenizer's vocabulary.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from golfcli import console
from golfcli.data.shards import SPLITS, read_shard, shard_files
from golfcli.data.tokenizer import load_tokenizer
from golfcli.data.prepare import SUMMARY_NAME
from golfcli.errors import GolfError
from golfcli.io import sha256_file
from golfcli.metric import build_byte_tables

CHUNK = 1 << 24  # tokens counted at a time


def inspect_data(data_dir: str | os.PathLike, tokenizer: str | os.PathLike) -> dict[str, Any]:
    """Counts per split of the shards in `data_dir` under `tokenizer`; a GolfError for an id out of vocabulary."""
    sp = load_tokenizer(tokenizer)
    vocab = sp.vocab_size()
    tables = build_byte_tables(sp, vocab)
    base = tables.base_bytes.numpy().astype(np.int64)
    lead = tables.has_leading_space.numpy()
    boundary = tables.is_boundary.numpy()
    bos = sp.bos_id()
    folder = Path(data_dir)
    found = {s: _files_or_none(folder, s) for s in SPLITS}
    if not any(found.values()):
        shard_files(folder, "val")  # raises the standard "no shards" error
    total = sum(int(read_shard(f).shape[0]) for files in found.values() for f in files or [])
    splits: dict[str, Any] = {}
    with console.progress(total, "counting") as bar:
        for split in ("val", "train"):
            files = found[split]
            if not files:
                continue
            stats = {"tokens": 0, "documents": 0, "bytes": 0, "max_id": -1, "shards": []}
            prev: int | None = None
            for f in files:
                tokens = read_shard(f)
                stats["shards"].append({"name": f.name, "tokens": int(len(tokens))})
                for start in range(0, len(tokens), CHUNK):
                    chunk = np.asarray(tokens[start : start + CHUNK], dtype=np.int64)
                    top = int(chunk.max())
                    if top >= vocab:
                        where = start + int(np.argmax(chunk >= vocab))
                        raise GolfError(f"token id {top} at position {where} is outside the tokenizer's "
                                        f"vocabulary of {vocab} ({tokenizer})", f)
                    stats["max_id"] = max(stats["max_id"], top)
                    stats["documents"] += int((chunk == bos).sum())
                    targets = chunk if prev is not None else chunk[1:]
                    previous = np.concatenate(([prev], chunk[:-1])) if prev is not None else chunk[:-1]
                    stats["bytes"] += int(base[targets].sum() + (lead[targets] & ~boundary[previous]).sum())
                    prev = int(chunk[-1])
                    bar.advance(len(chunk))
                stats["tokens"] += int(len(tokens))
            targets_n = max(stats["tokens"] - 1, 0)
            stats["targets"] = targets_n
            stats["tokens_per_byte"] = targets_n / stats["bytes"] if stats["bytes"] else None
            splits[split] = stats
    return {"data_dir": str(folder), "tokenizer": str(tokenizer), "vocab_size": vocab,
            "byte_fallback": any(sp.is_byte(i) for i in range(vocab)),
            "tokenizer_matches_dataset": _matches_recorded_tokenizer(folder, tokenizer), "splits": splits}


def _matches_recorded_tokenizer(folder: Path, tokenizer: str | os.PathLike) -> bool | None:
    """Whether `tokenizer` is the one `golf data prepare/builtin` recorded in dataset.json (None: unknown)."""
    try:
        recorded = json.loads((folder / SUMMARY_NAME).read_text(encoding="utf-8")).get("tokenizer_sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return None if not recorded else recorded == sha256_file(tokenizer)


def _files_or_none(folder: Path, split: str) -> list[Path] | None:
    try:
        return shard_files(folder, split)
    except GolfError:
        if not folder.is_dir():
            raise
        return None
