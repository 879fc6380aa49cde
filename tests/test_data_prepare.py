"""`golf data prepare`: the challenge export byte for byte, input formats, tokenizer training, bad input."""

from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pytest
import zstandard
from click.testing import CliRunner

from golfcli.cli import main
from golfcli.data.prepare import prepare
from golfcli.data.shards import read_shard
from golfcli.data.tokenizer import load_tokenizer, train_tokenizer
from golfcli.errors import GolfError


def test_reproduces_the_shared_shards_byte_for_byte(shared_data, tmp_path):
    out = tmp_path / "out"
    summary = prepare([shared_data / "docs_val.jsonl.gz", shared_data / "docs_train.jsonl.gz"], out,
                      tokenizer=shared_data / "tokenizers/fineweb_1024_bpe.model", val_docs=500, shard_tokens=2_600_000)
    ref = shared_data / "datasets/fineweb10B_sp1024"
    names = sorted(p.name for p in out.glob("*.bin"))
    assert names == sorted(p.name for p in ref.glob("*.bin")) and len(names) == 4
    for name in names:
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    assert summary["splits"]["val"] == {"documents": 500, "tokens": 954_141, "shards": ["fineweb_val_000000.bin"]}
    assert summary["splits"]["train"]["tokens"] == 7_680_813 and summary["tokens_per_s"] > 0
    assert not list(out.glob(".golf-prepare-*"))


SENTENCES = ["The river ran past the old mill and into the valley.", "Numbers like 12345 and 3.14 appear here.",
             "Ünïcödé text, naïve café, and 日本語 too.", "She said: \"don't stop\" — then left.",
             "A second paragraph follows, with more words about rivers and mills."]


def make_docs(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(SENTENCES[i] for i in rng.integers(0, len(SENTENCES), rng.integers(2, 9))) for _ in range(n)]


@pytest.fixture(scope="module")
def small_tokenizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "small.model"
    train_tokenizer(make_docs(200, seed=9), path, vocab_size=320, byte_fallback=True, threads=1)
    return path


def _expected_stream(sp, docs):
    out = []
    for ids in sp.encode(docs, out_type=int):
        out += [1] + ids
    return out


def _write(path, docs, kind):
    if kind == "jsonl":
        data = "".join(json.dumps({"text": d, "id": i}) + "\n" for i, d in enumerate(docs)).encode()
    else:
        data = "\n\n".join(docs).encode() + b"\n"
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz", "docs.jsonl.zst", "docs.txt", "docs.txt.gz",
                                  "docs.txt.zst"])
def test_every_input_format_gives_the_same_shards(tmp_path, small_tokenizer, name):
    docs = make_docs(60)
    src = tmp_path / name
    _write(src, docs, "jsonl" if ".jsonl" in name else "txt")
    out = tmp_path / "out"
    summary = prepare([src], out, tokenizer=small_tokenizer, val_docs=10, shard_tokens=700, workers=2)
    sp = load_tokenizer(small_tokenizer)
    val = np.concatenate([read_shard(out / n) for n in summary["splits"]["val"]["shards"]]).tolist()
    train = np.concatenate([read_shard(out / n) for n in summary["splits"]["train"]["shards"]]).tolist()
    assert val == _expected_stream(sp, docs[:10]) and train == _expected_stream(sp, docs[10:])
    shards = summary["splits"]["train"]["shards"]
    assert shards[0] == "fineweb_train_000000.bin" and all(len(read_shard(out / n)) == 700 for n in shards[:-1])
    assert 0 < len(read_shard(out / shards[-1])) <= 700
    assert summary["splits"]["val"]["documents"] == 10 and summary["splits"]["train"]["documents"] == 50


def test_txt_document_modes(tmp_path, small_tokenizer):
    src = tmp_path / "book.txt"
    src.write_text("one line\r\nsecond line\n\n\nnext para\n \nlast\n", encoding="utf-8")
    sp = load_tokenizer(small_tokenizer)
    whole = "one line\r\nsecond line\n\n\nnext para\n \nlast\n"
    expect = {"paragraph": ["one line\r\nsecond line", "next para", "last"],
              "line": ["one line", "second line", "next para", "last"],
              "file": [whole, whole]}
    for mode, docs in expect.items():
        inputs = [src, src] if mode == "file" else [src]
        out = tmp_path / mode
        prepare(inputs, out, tokenizer=small_tokenizer, val_docs=1, txt_docs=mode)
        stream = [*read_shard(out / "fineweb_val_000000.bin"), *read_shard(out / "fineweb_train_000000.bin")]
        assert stream == _expected_stream(sp, docs), mode


def test_trains_a_challenge_style_tokenizer_when_none_is_given(tmp_path):
    src = tmp_path / "d.jsonl"
    _write(src, make_docs(120, seed=3), "jsonl")
    a = prepare([src], tmp_path / "a", vocab_size=330, val_docs=20)
    b = prepare([src], tmp_path / "b", vocab_size=300, val_docs=20, byte_fallback=False)
    assert a["tokenizer_trained"] and a["tokenizer"] == str(tmp_path / "a" / "tokenizer.model")
    sp = load_tokenizer(a["tokenizer"])
    assert sp.vocab_size() == 330 and a["byte_fallback"] and not b["byte_fallback"]
    assert (sp.pad_id(), sp.bos_id(), sp.eos_id(), sp.unk_id()) == (0, 1, 2, 3)
    assert sp.encode("12345", out_type=str) == ["1", "2", "3", "4", "5"]  # split_digits
    assert not sp.encode(" x", out_type=str)[0].startswith("▁▁")
    again = prepare([src], tmp_path / "c", vocab_size=330, val_docs=20)
    assert again["tokenizer_sha256"] == a["tokenizer_sha256"]  # deterministic
    assert json.loads((tmp_path / "a" / "dataset.json").read_text())["tokens"] == a["tokens"]


def _assert_fails_cleanly(tmp_path, out, match, **kwargs):
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(GolfError, match=match) as info:
        prepare(out_dir=out, **kwargs)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing new, nothing half-written
    return str(info.value)


def test_bad_inputs_fail_with_one_line_naming_the_file_and_leave_nothing(tmp_path, small_tokenizer):
    good = tmp_path / "good.jsonl"
    _write(good, make_docs(30), "jsonl")
    out = tmp_path / "out"
    msg = _assert_fails_cleanly(tmp_path, out, "input not found", inputs=[good, tmp_path / "missing.jsonl"],
                                tokenizer=small_tokenizer, val_docs=5)
    assert "missing.jsonl" in msg
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "empty.jsonl" in _assert_fails_cleanly(tmp_path, out, "no documents", inputs=[good, empty],
                                                  tokenizer=small_tokenizer, val_docs=5)
    no_text = tmp_path / "notext.jsonl"
    no_text.write_text('{"text": "fine"}\n{"body": "oops"}\n')
    msg = _assert_fails_cleanly(tmp_path, out, "no \"text\" field", inputs=[good, no_text],
                                tokenizer=small_tokenizer, val_docs=5)
    assert "notext.jsonl: line 2" in msg
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "a"}\n{text\n')
    _assert_fails_cleanly(tmp_path, out, "line 2: not JSON", inputs=[bad_json], tokenizer=small_tokenizer, val_docs=1)
    bad_zst = tmp_path / "bad.jsonl.zst"
    bad_zst.write_bytes(b"not zstd at all")
    _assert_fails_cleanly(tmp_path, out, "damaged zstd", inputs=[bad_zst], tokenizer=small_tokenizer, val_docs=1)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    _assert_fails_cleanly(tmp_path, out, "not UTF-8", inputs=[latin], tokenizer=small_tokenizer, val_docs=0)
    _assert_fails_cleanly(tmp_path, out, "fewer than --val-docs 31", inputs=[good], tokenizer=small_tokenizer,
                          val_docs=31)
    _assert_fails_cleanly(tmp_path, out, "nothing is left for training", inputs=[good], tokenizer=small_tokenizer,
                          val_docs=30)
    _assert_fails_cleanly(tmp_path, out, "unsupported input", inputs=[tmp_path / "x.csv"], val_docs=1)
    not_model = tmp_path / "not.model"
    not_model.write_bytes(b"garbage")
    _assert_fails_cleanly(tmp_path, out, "not a SentencePiece model", inputs=[good], tokenizer=not_model, val_docs=1)
    assert "good.jsonl" in _assert_fails_cleanly(tmp_path, out, "too small for a vocabulary of 4000", inputs=[good],
                                                 vocab_size=4000, val_docs=1)
    _assert_fails_cleanly(tmp_path, out, "cannot hold .* raise --vocab-size", inputs=[good], vocab_size=100, val_docs=1)


def test_existing_output_is_kept_unless_overwrite(tmp_path, small_tokenizer):
    src = tmp_path / "d.jsonl"
    _write(src, make_docs(40), "jsonl")
    out = tmp_path / "out"
    prepare([src], out, tokenizer=small_tokenizer, val_docs=5, shard_tokens=300)
    many = sorted(p.name for p in out.glob("*.bin"))
    before = {n: (out / n).read_bytes() for n in many}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"nope": 1}\n')
    with pytest.raises(GolfError, match="already holds"):
        prepare([src], out, tokenizer=small_tokenizer, val_docs=5)
    with pytest.raises(GolfError, match="line 2"):
        prepare([bad], out, tokenizer=small_tokenizer, val_docs=1, overwrite=True)
    assert {n: (out / n).read_bytes() for n in sorted(p.name for p in out.glob("*.bin"))} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    prepare([src], out, tokenizer=small_tokenizer, val_docs=5, overwrite=True)  # one big shard per split now
    assert sorted(p.name for p in out.glob("*.bin")) == ["fineweb_train_000000.bin", "fineweb_val_000000.bin"]
    assert len(many) > 2


def test_cli_json_and_error_line(tmp_path, small_tokenizer):
    src = tmp_path / "d.jsonl.gz"
    _write(src, make_docs(20), "jsonl")
    runner = CliRunner()
    res = runner.invoke(main, ["data", "prepare", str(src), "--out", str(tmp_path / "o"), "--tokenizer",
                               str(small_tokenizer), "--val-docs", "4", "--shard-tokens", "500", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["splits"]["val"]["documents"] == 4 and summary["workers"] == (os.cpu_count() or 1)
    res = runner.invoke(main, ["data", "prepare", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "p")])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"golf: error: {tmp_path / 'nope.txt'}: input not found"
    assert not (tmp_path / "p").exists()
