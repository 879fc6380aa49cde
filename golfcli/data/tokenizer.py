"""Loading SentencePiece tokenizers with clear errors."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterable, Iterator

from golfcli.errors import GolfError
from golfcli.io import require_file


def load_tokenizer(path: str | Path):
    """A sentencepiece.SentencePieceProcessor for `path`; a GolfError naming the file if it is not one."""
    import sentencepiece as spm

    p = require_file(path, "tokenizer")
    sp = spm.SentencePieceProcessor()
    try:
        ok = sp.Load(str(p))
    except (OSError, RuntimeError) as exc:
        raise GolfError(f"not a SentencePiece model ({str(exc).splitlines()[0]})", p) from None
    if not ok:
        raise GolfError("not a SentencePiece model", p)
    return sp


def check_vocab(sp, model_vocab: int, path: str | Path) -> None:
    """Refuse a tokenizer whose vocabulary is larger than the model's (ids would not fit)."""
    size = sp.vocab_size()
    if size != model_vocab:
        raise GolfError(f"tokenizer has {size} pieces but the model's vocabulary is {model_vocab}", path)


MAX_SHARD_VOCAB = 65536  # shard ids are uint16


def check_shard_vocab(sp, path: str | Path) -> None:
    """Refuse a tokenizer whose ids would not fit the shards' uint16 tokens."""
    if sp.vocab_size() > MAX_SHARD_VOCAB:
        raise GolfError(f"tokenizer has {sp.vocab_size()} pieces; challenge shards hold ids below {MAX_SHARD_VOCAB}",
                        path)


def train_tokenizer(
    texts: Iterable[str],
    out_path: str | Path,
    vocab_size: int = 1024,
    byte_fallback: bool = True,
    threads: int | None = None,
    what: str = "training text",
    source: str | Path | None = None,
) -> Path:
    """Train a SentencePiece BPE model with the challenge's settings and write it atomically.

    Settings (spec record-1204.md §A.1): BPE, split_digits, nmt_nfkc normalization, no dummy
    prefix, pad=0 bos=1 eos=2 unk=3, character coverage 0.999, byte fallback on unless turned off.
    As the challenge does, each text is stripped and NUL characters are dropped before training;
    texts are fed line by line (no piece spans whitespace, so nothing is lost) so long documents
    are never skipped for exceeding SentencePiece's sentence length limit. Deterministic for a
    given input and sentencepiece version.
    """
    import sentencepiece as spm

    from golfcli.io import write_bytes_atomic

    if vocab_size < 8 or vocab_size > MAX_SHARD_VOCAB:
        raise GolfError(f"--vocab-size must be between 8 and {MAX_SHARD_VOCAB}, got {vocab_size}")

    def sentences() -> Iterator[str]:
        for text in texts:
            for line in text.replace("\x00", "").strip().splitlines():
                line = line.strip()
                if line:
                    yield line

    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=sentences(), model_writer=model, model_type="bpe", vocab_size=vocab_size,
            byte_fallback=byte_fallback, split_digits=True, normalization_rule_name="nmt_nfkc",
            add_dummy_prefix=False, pad_id=0, bos_id=1, eos_id=2, unk_id=3, character_coverage=0.999,
            input_sentence_size=0, max_sentence_length=1 << 16, num_threads=threads or os.cpu_count() or 1,
            minloglevel=2,
        )
    except RuntimeError as exc:
        detail = str(exc).splitlines()[0]
        if "smaller than required_chars" in detail:
            detail = (f"a vocabulary of {vocab_size} cannot hold the {what}' distinct characters"
                      f"{' plus 256 byte pieces' if byte_fallback else ''}: raise --vocab-size")
        elif "too high" in detail:
            detail = f"the {what} are too small for a vocabulary of {vocab_size}: lower --vocab-size"
        raise GolfError(f"tokenizer training failed: {detail}", source or out_path) from None
    write_bytes_atomic(out_path, model.getvalue())
    return Path(out_path)
