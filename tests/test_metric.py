"""Bits per byte: the byte rule equals the UTF-8 length of what the tokenizer decodes.

Identity checked: for a token stream, the metric's byte total over every target equals the sum,
over the runs of pieces between boundary tokens (BOS, EOS, UNK, control), of
len(sp.decode(run).encode("utf-8")). On the shared validation shard and on generated text full
of emoji, CJK, combining marks, tabs, CRLF and runs of spaces, with and without byte fallback.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from golfcli.data.tokenizer import load_tokenizer, train_tokenizer
from golfcli.metric import BpbMeter, bits_per_byte, build_byte_tables, count_stream_bytes


def decoded_bytes(sp, tokens: list[int], is_boundary: np.ndarray) -> int:
    """Σ UTF-8 length of sp.decode(run) over the runs of non-boundary tokens."""
    total, run = 0, []
    for t in tokens:
        if is_boundary[t]:
            if run:
                total += len(sp.decode(run).encode("utf-8"))
            run = []
        else:
            run.append(t)
    if run:
        total += len(sp.decode(run).encode("utf-8"))
    return total


def test_shared_val_shard_bytes(shared_shards, shared_tokenizer):
    sp = load_tokenizer(shared_tokenizer)
    tables = build_byte_tables(sp, 1024)
    tokens = np.fromfile(shared_shards / "fineweb_val_000000.bin", dtype="<u2", offset=1024).astype(np.int64)
    assert len(tokens) - 1 == 954_140
    assert count_stream_bytes(tables, tokens) == 2_434_405
    assert decoded_bytes(sp, tokens.tolist(), tables.is_boundary.numpy()) == 2_434_405


WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "ran", "away", "quickly", "über", "naïve",
         "café", "2024", "3.14159", "co-operate", "don't", "HTTP/1.1", "x=y+z", "Zoë", "façade", "jalapeño"]
EXOTIC = ["😀", "🚀", "👍🏽", "👩‍💻", "🇫🇷", "日本語の文章", "中文字符", "한국어", "e\u0301", "a\u0308",
          "n\u0303o", "Z\u0351\u0316a\u0352l\u0317g\u0353o", "ﬁ", "①", "Ⅻ", "ｆｕｌｌ", "\u00a0", "\u200b",
          "Ω", "∑", "—", "…"]
UNSEEN = ["🦄", "龍の", "ǅ", "ༀ", "𝔘𝔫𝔦"]  # only in the scored text: byte pieces or <unk>
SEPARATORS = [" ", " ", " ", " ", "  ", "     ", "\t", " \t ", "\r\n", "\n", "\n\n", "\r\n\r\n  ", ", ", ". "]


def generated_documents(n: int, seed: int, unseen: bool = False) -> list[str]:
    rng = random.Random(seed)
    exotic = EXOTIC + UNSEEN if unseen else EXOTIC
    docs = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(5, 60)):
            parts.append(rng.choice(exotic) if rng.random() < 0.15 else rng.choice(WORDS))
            parts.append(rng.choice(SEPARATORS))
        lead = rng.choice(["", " ", "  ", "\t", "\r\n"])
        docs.append(lead + "".join(parts))
    return docs


@pytest.fixture(scope="module", params=[True, False], ids=["byte_fallback", "no_byte_fallback"])
def tiny_tokenizer(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("sp") / "tiny.model"
    vocab = 420 if request.param else 160
    train_tokenizer(generated_documents(300, seed=1), path, vocab_size=vocab, byte_fallback=request.param, threads=1)
    sp = load_tokenizer(path)
    assert any(sp.is_byte(i) for i in range(sp.vocab_size())) == request.param
    return sp


def test_generated_text_bytes_match_decoded_text(tiny_tokenizer):
    sp = tiny_tokenizer
    tables = build_byte_tables(sp)
    boundary = tables.is_boundary.numpy()
    docs = generated_documents(200, seed=2, unseen=True)
    stream: list[int] = []
    for ids in sp.encode(docs, out_type=int):
        stream += [sp.bos_id()] + ids
    n_unk = stream.count(sp.unk_id())
    n_bytes = sum(sp.is_byte(t) for t in stream)
    has_fallback = any(sp.is_byte(i) for i in range(sp.vocab_size()))
    if has_fallback:  # characters never seen in training become byte pieces ...
        assert n_unk == 0 and n_bytes > 50
    else:  # ... or <unk>, which counts 0 bytes
        assert n_bytes == 0 and n_unk > 50
    expected = decoded_bytes(sp, stream, boundary)
    assert expected > 10_000
    assert count_stream_bytes(tables, torch.tensor(stream)) == expected
    # the same total through the meter, split into windows the way eval scores them
    meter = BpbMeter()
    t = torch.tensor(stream)
    for start in range(0, len(stream) - 1, 97):
        end = min(start + 97, len(stream) - 1)
        meter.add(torch.zeros(end - start), t[start:end], t[start + 1 : end + 1], tables)
    assert meter.bytes == expected and meter.tokens == len(stream) - 1


def test_byte_rule_on_hand_picked_pairs(shared_tokenizer):
    sp = load_tokenizer(shared_tokenizer)
    tables = build_byte_tables(sp, 1100)  # ids 1024.. are beyond the tokenizer: boundary, 0 bytes
    the = sp.piece_to_id("▁their")
    space = sp.piece_to_id("▁")
    bos, unk = sp.bos_id(), sp.unk_id()
    prev = torch.tensor([5, bos, unk, 1050, 7, 7, 7, 7])
    target = torch.tensor([the, the, the, the, space, unk, 1050, 6])
    assert tables.count(prev, target).tolist() == [6, 5, 5, 5, 1, 0, 0, 2]


def test_bits_per_byte_formula_and_meter():
    assert bits_per_byte(100 * math.log(2), 100, 50) == pytest.approx(2.0)
    assert math.isnan(bits_per_byte(1.0, 0, 10))
    meter = BpbMeter()
    meter.add_sums(3.0, 4, 8)
    meter.add_sums(1.0, 4, 8)
    assert meter.val_loss == pytest.approx(0.5) and meter.bpb == pytest.approx(0.5 / math.log(2) * 8 / 16)
    assert meter.sums.dtype == torch.float64
