"""`golf data builtin`: a small real-English corpus that ships with every Python.

The documents are the Python Language Reference topics that `help()` shows (pydoc_data.topics,
one document per topic) and the docstrings of the standard library's pure-Python modules (one
document per module: its docstring and those of its classes and functions, read with `ast`, so
nothing is imported). Documents go to validation when a hash of their name says so (about 1 in
10), the rest to training; a SentencePiece BPE tokenizer with the challenge's settings is trained
on the training documents, and everything is written as challenge shards.

The corpus is identical for a given Python version (its stdlib sources), so its bpb is comparable
between runs on the same Python, but NOT with FineWeb's: it is technical prose about Python.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from golfcli.data.prepare import MemoryDocuments, write_dataset

DEFAULT_SHARD_TOKENS = 262_144  # several train shards, so multi-shard loaders have something to mix
DEFAULT_VOCAB = 1024
TOKENIZER_THREADS = 2  # SentencePiece stores its thread count in the model: fixed, so the file is too
VAL_FRACTION_IN_256 = 26  # a document is validation when the first byte of sha256(name) < 26 (~10%)
MIN_DOCSTRING_CHARS = 80
SKIP_PARTS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "lib2to3"}


def topic_documents() -> list[tuple[str, str]]:
    """(name, text) of every pydoc topic (the Language Reference sections `help()` shows)."""
    from pydoc_data.topics import topics

    return [(f"topic:{name}", topics[name].strip()) for name in sorted(topics)]


def _module_text(source: bytes) -> str | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    parts: list[str] = []
    seen: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc and len(doc) >= MIN_DOCSTRING_CHARS and doc not in seen:
                seen.add(doc)
                parts.append(doc.strip())
    return "\n\n".join(parts) if parts else None


def stdlib_documents() -> list[tuple[str, str]]:
    """(name, text) per pure-Python stdlib module with docstrings, in sorted path order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    docs = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if SKIP_PARTS.intersection(rel.parts):
            continue
        try:
            text = _module_text(path.read_bytes())
        except OSError:
            continue
        if text:
            docs.append((f"stdlib:{rel.as_posix()}", text))
    return docs


def is_validation(name: str) -> bool:
    """Whether document `name` belongs to the validation split (a fixed hash rule)."""
    return hashlib.sha256(name.encode("utf-8")).digest()[0] < VAL_FRACTION_IN_256


@functools.lru_cache(maxsize=1)
def builtin_corpus() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(validation documents, training documents) of the builtin corpus, in a fixed order.

    Cached per process: reading the stdlib takes a few seconds and its files do not change.
    """
    val, train = [], []
    for name, text in topic_documents() + stdlib_documents():
        (val if is_validation(name) else train).append(text)
    return tuple(val), tuple(train)


def build_builtin(
    out_dir: str | os.PathLike,
    vocab_size: int = DEFAULT_VOCAB,
    byte_fallback: bool = True,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    workers: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the builtin corpus as shards plus a trained tokenizer in `out_dir`; return the summary.

    The summary's `data_dir` and `tokenizer` are what the train and eval stages need.
    """
    started = time.perf_counter()
    val, train = builtin_corpus()
    source = MemoryDocuments(list(val + train), name="builtin corpus")
    summary = write_dataset(
        source, out_dir, tokenizer=None, vocab_size=vocab_size, byte_fallback=byte_fallback,
        val_docs=len(val), shard_tokens=shard_tokens, workers=workers, tokenizer_docs=None, overwrite=overwrite,
        tokenizer_threads=TOKENIZER_THREADS,
        corpus=f"python {sys.version_info.major}.{sys.version_info.minor} stdlib docstrings + pydoc topics",
        python=sys.version.split()[0],
    )
    summary["data_dir"] = summary["out_dir"]
    summary["seconds"] = round(time.perf_counter() - started, 3)  # corpus reading included
    return summary
