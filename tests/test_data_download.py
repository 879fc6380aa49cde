"""`golf data download`: the challenge layout through huggingface_hub, and clear failures without it."""

from __future__ import annotations

import json
import sys
import types

import pytest
from click.testing import CliRunner

from golfcli.cli import main
from golfcli.data.download import download
from golfcli.data.shards import read_shard, shard_name, write_shard
from golfcli.errors import GolfError


def test_without_the_extra_one_line_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    res = CliRunner().invoke(main, ["data", "download", "--out", str(tmp_path / "d"), "--train-shards", "1"])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "pip install 'golfcli[hub]'" in res.stderr
    assert not (tmp_path / "d").exists()


@pytest.fixture()
def fake_hub(monkeypatch, tmp_path):
    """A huggingface_hub stand-in serving a local copy of the published layout."""
    repo = tmp_path / "repo" / "datasets"
    shards = repo / "datasets" / "fineweb10B_sp1024"
    for i in range(3):
        write_shard(shards / shard_name("train", i), [1, i, i + 1])
    write_shard(shards / shard_name("val", 0), [1, 9, 9])
    (repo / "tokenizers").mkdir(parents=True)
    (repo / "tokenizers" / "fineweb_1024_bpe.model").write_bytes(b"model")
    (repo / "tokenizers" / "fineweb_1024_bpe.vocab").write_bytes(b"vocab")
    manifest = {"datasets": [{"name": "fineweb10B_sp1024", "tokenizer_name": "sp_bpe_1024",
                              "stats": {"files_train": 3, "files_val": 1}}],
                "tokenizers": [{"name": "sp_bpe_1024", "model_path": "tokenizers/fineweb_1024_bpe.model",
                                "vocab_path": "tokenizers/fineweb_1024_bpe.vocab"}]}
    (repo / "manifest.json").write_text(json.dumps(manifest))
    calls = []

    def hf_hub_download(repo_id, filename, subfolder=None, repo_type=None):
        calls.append(f"{subfolder}/{filename}")
        path = tmp_path / "repo" / subfolder / filename
        if not path.exists():
            raise OSError("404 Client Error: entry not found")
        return str(path)

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(hf_hub_download=hf_hub_download))
    return calls


def test_download_lays_out_the_challenge_tree_and_resumes(fake_hub, tmp_path):
    out = tmp_path / "data"
    r = download(out, "sp1024", train_shards=2)
    assert r["data_dir"] == str(out / "datasets" / "fineweb10B_sp1024")
    assert r["tokenizer"] == str(out / "tokenizers" / "fineweb_1024_bpe.model")
    assert sorted(p.name for p in (out / "datasets" / "fineweb10B_sp1024").iterdir()) == \
        ["fineweb_train_000000.bin", "fineweb_train_000001.bin", "fineweb_val_000000.bin"]
    assert read_shard(out / "datasets" / "fineweb10B_sp1024" / "fineweb_train_000001.bin").tolist() == [1, 1, 2]
    assert r["files_fetched"] == 5
    again = download(out, "sp1024", train_shards=3)
    assert again["files_fetched"] == 1 and again["files_present"] == 5
    with pytest.raises(GolfError, match="only 3 train shards, 4 requested"):
        download(out, "sp1024", train_shards=4)
    with pytest.raises(GolfError, match="unknown variant"):
        download(out, "gpt2", train_shards=1)


def test_network_failure_is_one_line(fake_hub, tmp_path, monkeypatch):
    def offline(**kwargs):
        raise ConnectionError("Failed to resolve 'huggingface.co'\nlong traceback text")

    monkeypatch.setattr(sys.modules["huggingface_hub"], "hf_hub_download", offline)
    expected = "cannot download datasets/manifest.json .*Failed to resolve.*check the network"
    with pytest.raises(GolfError, match=expected) as info:
        download(tmp_path / "d", train_shards=1)
    assert "\n" not in str(info.value)
