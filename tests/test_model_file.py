"""Scoring an artifact decodes it once: the model and its provenance come from the same read."""

from __future__ import annotations

import pytest
import torch

import golfcli.artifact as artifact_pkg
from golfcli.config import config_to_dict, load_config
from golfcli.io import sha256_file
from golfcli.loading import check_tokenizer_matches, model_provenance, open_model, read_model_file
from golfcli.qtensor import QuantizedModel


@pytest.fixture
def counted_reads(monkeypatch):
    calls = []
    real = artifact_pkg.read_artifact

    def counting(path):
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(artifact_pkg, "read_artifact", counting)
    return calls


def _artifact(path, tokenizer_sha: str) -> None:
    """A tiny model's artifact (all tensors passed through), recording `tokenizer_sha` as its tokenizer."""
    from golfcli.model import build_model

    cfg = load_config("tiny")
    torch.manual_seed(0)
    model = build_model(cfg.model, None)
    qm = QuantizedModel(config=config_to_dict(cfg), meta={"preset": "tiny",
                                                          "provenance": {"tokenizer_sha256": tokenizer_sha}})
    for name, t in model.state_dict().items():
        qm.passthrough[name] = t.clone()
        qm.passthrough_dtypes[name] = "float32"
    artifact_pkg.write_artifact(qm, path, codec="raw")


def test_one_read_gives_the_model_and_its_provenance(tmp_path, counted_reads):
    _artifact(tmp_path / "a.bin", "ab" * 32)
    model, f = open_model(tmp_path / "a.bin")
    assert f.kind == "artifact" and f.provenance == {"tokenizer_sha256": "ab" * 32}
    assert not model.training and model.phase == model.final_phase
    assert len(counted_reads) == 1
    assert read_model_file(tmp_path / "a.bin").provenance == model_provenance(tmp_path / "a.bin")


def test_scoring_an_artifact_decodes_it_once(tmp_path, builtin_data, counted_reads):
    from golfcli.scoring import run_eval

    _artifact(tmp_path / "a.bin", sha256_file(builtin_data.tokenizer))
    result = run_eval(str(tmp_path / "a.bin"), str(builtin_data.data_dir), str(builtin_data.tokenizer), "standard",
                      max_tokens=257, device="cpu", overrides=("eval.seq_len=128",))
    assert result["val_bpb"] > 0
    assert counted_reads == [str(tmp_path / "a.bin")]


def test_the_provenance_read_with_the_model_still_refuses_another_tokenizer(tmp_path, builtin_data):
    from golfcli.errors import GolfError
    from golfcli.scoring import run_eval

    _artifact(tmp_path / "a.bin", "0" * 64)
    f = read_model_file(tmp_path / "a.bin")
    with pytest.raises(GolfError, match="not the tokenizer this model was trained with"):
        check_tokenizer_matches(tmp_path / "a.bin", builtin_data.tokenizer, f.provenance)
    with pytest.raises(GolfError, match="not the tokenizer this model was trained with"):
        run_eval(str(tmp_path / "a.bin"), str(builtin_data.data_dir), str(builtin_data.tokenizer), "standard",
                 max_tokens=257, device="cpu")
