"""`golf data builtin`: Python's own documentation as a deterministic, ready-to-train corpus."""

from __future__ import annotations

import json
import os

import numpy as np
from click.testing import CliRunner

from golfcli.cli import main
from golfcli.data.builtin import builtin_corpus, is_validation, topic_documents
from golfcli.data.loaders import make_train_loader
from golfcli.data.shards import load_validation_tokens, read_shard
from golfcli.data.tokenizer import load_tokenizer
from golfcli.io import sha256_file


def test_corpus_is_real_prose_split_by_document():
    val, train = builtin_corpus()
    assert 30 <= len(val) and len(train) > 8 * len(val)
    assert not set(val) & set(train)
    text = " ".join(train)
    assert len(text) > 1_000_000 and text.count(" the ") > 5_000
    assert 0.05 < len(val) / (len(val) + len(train)) < 0.15  # about 1 document in 10


def test_documents_are_split_by_the_fixed_hash_of_their_name():
    # pinned: changing the rule would move documents between the splits of every earlier build
    assert [is_validation(n) for n in ("topic:augassign", "topic:await", "topic:assert", "topic:async",
                                       "topic:x")] == [True, True, False, False, False]
    val, train = builtin_corpus()
    topics = topic_documents()  # the topics come first, in name order, then the stdlib modules
    val_topics = [text for name, text in topics if is_validation(name)]
    train_topics = [text for name, text in topics if not is_validation(name)]
    assert 0 < len(val_topics) < len(train_topics)
    assert list(val[: len(val_topics)]) == val_topics and list(train[: len(train_topics)]) == train_topics


def test_build_is_deterministic_and_ready_for_training(tmp_path, builtin_data):
    runner = CliRunner()
    res = runner.invoke(main, ["data", "builtin", "--out", str(tmp_path / "a"), "--json"])
    assert res.exit_code == 0, res.output
    a = json.loads(res.stdout)
    b = builtin_data.summary  # the session's build, with one worker: the files must not depend on the core count
    assert a["workers"] == (os.cpu_count() or 1) and b["workers"] == 1
    assert a["data_dir"] == str(tmp_path / "a") and a["tokenizer"] == str(tmp_path / "a" / "tokenizer.model")
    files = sorted(p.name for p in (tmp_path / "a").glob("*.bin"))
    assert files == sorted(p.name for p in builtin_data.data_dir.glob("*.bin")) and len(files) >= 3
    for name in files + ["tokenizer.model"]:
        assert sha256_file(tmp_path / "a" / name) == sha256_file(builtin_data.data_dir / name), name
    sp = load_tokenizer(a["tokenizer"])
    assert sp.vocab_size() == 1024 and a["byte_fallback"]
    assert a["splits"]["train"]["tokens"] > 500_000 and a["splits"]["val"]["tokens"] > 30_000
    val = load_validation_tokens(a["data_dir"])
    assert int((val == 1).sum()) == a["splits"]["val"]["documents"]
    assert int(np.max(read_shard(tmp_path / "a" / files[-1]))) < 1024
    x, y = make_train_loader(a["data_dir"], "coprime").next_batch(8 * 256, 256)
    assert x.shape == (8, 256) and int(x.max()) < 1024
    assert b["tokens"] == a["tokens"]
    from golfcli.data.inspect import inspect_data

    seen = inspect_data(a["data_dir"], a["tokenizer"])
    assert seen["tokenizer_matches_dataset"] is True and seen["splits"]["val"]["tokens"] == a["splits"]["val"]["tokens"]
