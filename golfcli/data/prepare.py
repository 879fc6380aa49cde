"""`golf data prepare`: text documents → challenge shards (and a tokenizer when none is given).

The export follows the challenge exactly: every document becomes [BOS] + sp.encode(text) (no EOS,
no strip), documents are concatenated in input order, the first `val_docs` documents form the
validation split and are flushed before any training shard, and each split is cut into shards
of `shard_tokens` tokens (a document may straddle two shards; the last shard holds the rest).

Nothing appears in the output directory until everything succeeded: shards are written into a
hidden staging folder inside it and renamed into place at the end; on any error the staging
folder is removed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from golfcli import console
from golfcli.data.documents import DocumentFile
from golfcli.data.shards import shard_bytes, shard_name
from golfcli.data.tokenizer import check_shard_vocab, load_tokenizer, train_tokenizer
from golfcli.errors import GolfError
from golfcli.io import check_output_dir, sha256_file, write_text_atomic

BOS_ID = 1
DEFAULT_SHARD_TOKENS = 100_000_000
DEFAULT_VAL_DOCS = 50_000
DEFAULT_TOKENIZER_DOCS = 500_000
TOKENIZER_NAME = "tokenizer.model"
SUMMARY_NAME = "dataset.json"
BATCH_CHARS = 4 << 20  # encode in batches of about this many characters
BATCH_DOCS = 4096


@dataclass
class SplitWriter:
    """Cuts one split's token stream into shards of `shard_tokens` in a staging folder."""

    split: str
    folder: Path
    shard_tokens: int
    documents: int = 0
    tokens: int = 0
    files: list[str] = field(default_factory=list)
    _pending: list[np.ndarray] = field(default_factory=list)
    _pending_tokens: int = 0

    def add(self, chunk: np.ndarray, documents: int) -> None:
        self.documents += documents
        self.tokens += len(chunk)
        self._pending.append(chunk)
        self._pending_tokens += len(chunk)
        if self._pending_tokens >= self.shard_tokens:
            stream = np.concatenate(self._pending)
            cut = 0
            while len(stream) - cut >= self.shard_tokens:
                self._write(stream[cut : cut + self.shard_tokens])
                cut += self.shard_tokens
            self._pending = [stream[cut:]]
            self._pending_tokens = len(stream) - cut

    def close(self) -> None:
        if self._pending_tokens:
            self._write(np.concatenate(self._pending))
        self._pending, self._pending_tokens = [], 0

    def _write(self, tokens: np.ndarray) -> None:
        name = shard_name(self.split, len(self.files))
        with open(self.folder / name, "wb") as handle:
            handle.write(shard_bytes(tokens))
            handle.flush()
            os.fsync(handle.fileno())
        self.files.append(name)


def _batches(docs: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    chars = 0
    for doc in docs:
        batch.append(doc)
        chars += len(doc)
        if chars >= BATCH_CHARS or len(batch) >= BATCH_DOCS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def _flatten(ids: list[list[int]]) -> np.ndarray:
    """[BOS] + ids for every document, as one uint16 array."""
    n = sum(len(d) for d in ids) + len(ids)
    return np.fromiter(itertools.chain.from_iterable([BOS_ID, *d] for d in ids), dtype=np.uint16, count=n)


class DocumentSource:
    """Where documents come from: `documents(bar, limit, skip)` in order, and `total` for the bar."""

    name: str = "input"
    total: int | None = None

    def documents(self, bar=None, limit: int | None = None, skip: int = 0) -> Iterator[str]:
        raise NotImplementedError


class MemoryDocuments(DocumentSource):
    """Documents already in memory (the builtin corpus)."""

    def __init__(self, docs: list[str], name: str):
        self.docs, self.name, self.total = docs, name, len(docs)

    def documents(self, bar=None, limit: int | None = None, skip: int = 0) -> Iterator[str]:
        end = len(self.docs) if limit is None else min(len(self.docs), skip + limit)
        for doc in self.docs[skip:end]:
            if bar is not None:
                bar.advance(1)
            yield doc


class _Inputs(DocumentSource):
    """All input files as one document stream, with a byte-progress bar over their sizes."""

    def __init__(self, paths: list[Path], txt_docs: str):
        if not paths:
            raise GolfError("no input files given")
        self.files = [DocumentFile(p, txt_docs) for p in paths]
        self.total = sum(f.size for f in self.files)
        self.name = str(self.files[-1].path)

    def documents(self, bar=None, limit: int | None = None, skip: int = 0) -> Iterator[str]:
        seen, given = 0, 0
        for f in self.files:
            count, last = 0, 0
            for doc in f:
                count += 1
                if bar is not None:
                    now = f.consumed
                    bar.advance(max(now - last, 0))
                    last = now
                seen += 1
                if seen <= skip:
                    continue
                if limit is not None and given >= limit:
                    return
                given += 1
                yield doc
            if count == 0:
                raise GolfError("empty input: no documents in this file", f.path)
            if bar is not None:
                bar.advance(max(f.size - last, 0))


def prepare(
    inputs: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    tokenizer: str | os.PathLike | None = None,
    vocab_size: int = 1024,
    byte_fallback: bool = True,
    val_docs: int = DEFAULT_VAL_DOCS,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    workers: int | None = None,
    txt_docs: str = "paragraph",
    tokenizer_docs: int | None = DEFAULT_TOKENIZER_DOCS,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Encode `inputs` into challenge shards in `out_dir`; return a summary dict.

    Without `tokenizer`, a SentencePiece BPE model is trained first on (up to `tokenizer_docs` of)
    the training documents and written as `out_dir/tokenizer.model`. The summary holds per-split
    documents, tokens and shard names, the tokenizer path and sha256, and the encoding speed.
    """
    source = _Inputs([Path(p) for p in inputs], txt_docs)
    return write_dataset(source, out_dir, tokenizer, vocab_size, byte_fallback, val_docs, shard_tokens, workers,
                         tokenizer_docs, overwrite, inputs=[str(p) for p in inputs])


def write_dataset(
    source: DocumentSource,
    out_dir: str | os.PathLike,
    tokenizer: str | os.PathLike | None = None,
    vocab_size: int = 1024,
    byte_fallback: bool = True,
    val_docs: int = DEFAULT_VAL_DOCS,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    workers: int | None = None,
    tokenizer_docs: int | None = DEFAULT_TOKENIZER_DOCS,
    overwrite: bool = False,
    tokenizer_threads: int | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Shards (and a trained tokenizer when `tokenizer` is None) for `source`'s documents in `out_dir`.

    `tokenizer_threads` (default: `workers`) is recorded inside the SentencePiece model, so fixing
    it makes the tokenizer file's bytes independent of the machine's core count.
    """
    if val_docs < 0:
        raise GolfError(f"--val-docs must be >= 0, got {val_docs}")
    if shard_tokens <= 0:
        raise GolfError(f"--shard-tokens must be positive, got {shard_tokens}")
    if workers is not None and workers < 1:
        raise GolfError(f"--workers must be positive, got {workers}")
    workers = workers or os.cpu_count() or 1
    out = check_output_dir(out_dir)
    existing = sorted(out.glob("fineweb_*_*.bin")) if out.is_dir() else []
    if existing and not overwrite:
        raise GolfError(f"already holds {len(existing)} shards; pass --overwrite to replace them", out)

    started = time.perf_counter()
    created_out = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".golf-prepare-", dir=out))
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(shutil.rmtree, staging, ignore_errors=True)
            if tokenizer is None:
                tok_path = staging / TOKENIZER_NAME
                with console.progress(None, "training tokenizer"):
                    console.info(f"training a {vocab_size}-piece SentencePiece BPE tokenizer "
                                 f"(byte fallback {'on' if byte_fallback else 'off'})")
                    train_tokenizer(source.documents(limit=tokenizer_docs, skip=val_docs), tok_path,
                                    vocab_size, byte_fallback, tokenizer_threads or workers, what="training documents",
                                    source=source.name)
            else:
                tok_path = Path(tokenizer)
            sp = load_tokenizer(tok_path)
            check_shard_vocab(sp, tok_path)
            result = _encode_all(source, sp, staging, val_docs, shard_tokens, workers)
            if result["splits"]["train"]["documents"] == 0:
                raise GolfError(f"all {result['splits']['val']['documents']} documents went to validation "
                                f"(--val-docs {val_docs}); nothing is left for training", source.name)
            final_tok = out / TOKENIZER_NAME if tokenizer is None else Path(tokenizer)
            summary = _summary(result, out, final_tok, tokenizer is None, sp, workers, started,
                               dict(val_docs=val_docs, shard_tokens=shard_tokens, **settings))
            _commit(staging, out, existing, result, tokenizer is None, summary)
    except BaseException:
        if created_out:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return summary


def _encode_all(source: DocumentSource, sp, staging: Path, val_docs: int, shard_tokens: int, workers: int) -> dict:
    writers = {s: SplitWriter(s, staging, shard_tokens) for s in ("val", "train")}
    started = time.perf_counter()

    def encode(batch: list[str]) -> np.ndarray:
        return _flatten(sp.encode(batch, out_type=int, num_threads=workers))

    def split_batches() -> Iterator[tuple[str, list[str]]]:
        # Batches never mix splits, so each goes to exactly one writer.
        with console.progress(source.total, "encoding") as bar:
            docs = source.documents(bar)
            if val_docs:
                for batch in _batches(_take(docs, val_docs)):
                    yield "val", batch
            for batch in _batches(docs):
                yield "train", batch

    # Encode one batch in a worker thread while the next is read (SentencePiece releases the GIL).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for split, batch in split_batches():
            job = pool.submit(encode, batch)
            if pending is not None:
                _collect(*pending, writers)
            pending = (split, len(batch), job)
        if pending is not None:
            _collect(*pending, writers)
    writers["val"].close()
    writers["train"].close()
    seconds = time.perf_counter() - started
    if writers["val"].documents < val_docs:
        raise GolfError(f"only {writers['val'].documents} documents in the input, fewer than --val-docs {val_docs}; "
                        "nothing is left for training", source.name)
    return {"splits": {s: {"documents": w.documents, "tokens": w.tokens, "shards": w.files}
                       for s, w in writers.items()}, "encode_seconds": seconds}


def _collect(split: str, n_docs: int, job, writers: dict[str, SplitWriter]) -> None:
    writers[split].add(job.result(), n_docs)


def _take(docs: Iterator[str], n: int) -> Iterator[str]:
    for _ in range(n):
        try:
            yield next(docs)
        except StopIteration:
            return


def _summary(result: dict, out: Path, tok: Path, trained: bool, sp, workers: int, started: float,
             settings: dict) -> dict[str, Any]:
    seconds = time.perf_counter() - started
    tokens = sum(s["tokens"] for s in result["splits"].values())
    documents = sum(s["documents"] for s in result["splits"].values())
    encode_seconds = result["encode_seconds"]
    return {
        "out_dir": str(out),
        "tokenizer": str(tok),
        "tokenizer_trained": trained,
        "vocab_size": sp.vocab_size(),
        "byte_fallback": any(sp.is_byte(i) for i in range(sp.vocab_size())),
        "splits": result["splits"],
        "documents": documents,
        "tokens": tokens,
        "seconds": round(seconds, 3),
        "encode_seconds": round(encode_seconds, 3),
        "tokens_per_s": round(tokens / encode_seconds) if encode_seconds > 0 else None,
        "workers": workers,
        **settings,
    }


def _commit(staging: Path, out: Path, existing: list[Path], result: dict, trained: bool,
            summary: dict[str, Any]) -> None:
    """Move the staged files into `out` (old shards removed first when overwriting)."""
    for old in existing:
        old.unlink()
    if trained:
        os.replace(staging / TOKENIZER_NAME, out / TOKENIZER_NAME)
        summary["tokenizer_sha256"] = sha256_file(out / TOKENIZER_NAME)
    else:
        summary["tokenizer_sha256"] = sha256_file(summary["tokenizer"])
    for split in ("val", "train"):
        for name in result["splits"][split]["shards"]:
            os.replace(staging / name, out / name)
    write_text_atomic(out / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
