"""load_model: checkpoint, quantized file and artifact, detected by content, rebuilt at the final phase."""

from __future__ import annotations

import pytest
import torch

from golfcli.checkpoint import save_checkpoint
from golfcli.config import config_to_dict, load_config
from golfcli.errors import GolfError
from golfcli.io import sha256_file
from golfcli.loading import load_model, model_kind
from golfcli.qtensor import QuantizedModel, QuantizedTensor, as_rows, grid_max, quantize_with_scales, role_of
from golfcli.qtensor import save_quantized



def _tiny():
    from golfcli.model import GPT

    cfg = load_config("tiny")
    torch.manual_seed(0)
    model = GPT(cfg.model)
    model.set_phase(model.final_phase)
    with torch.no_grad():  # give the zero-initialised projections some weight so outputs depend on every tensor
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model.eval(), cfg


def _quantize(model, cfg, bits=6) -> QuantizedModel:
    qm = QuantizedModel(config=config_to_dict(cfg), meta={"preset": "tiny"})
    for name, t in model.state_dict().items():
        if t.ndim == 2 and t.numel() > 4096:
            rows = as_rows(t.float())
            scales = (rows.abs().amax(1) / grid_max(bits)).clamp_min(1e-8).to(torch.float16)
            codes = quantize_with_scales(rows, scales, bits)
            qm.quantized[name] = QuantizedTensor(codes, scales, bits, tuple(t.shape), "float32", role_of(name))
        else:
            qm.passthrough[name] = t.clone()
            qm.passthrough_dtypes[name] = str(t.dtype).removeprefix("torch.")
    return qm


def _logits(model, ids):
    with torch.no_grad():
        return model(ids)


IDS = torch.randint(0, 1024, (2, 24), generator=torch.Generator().manual_seed(0))


def test_checkpoint_round_trip(tmp_path):
    model, cfg = _tiny()
    path = tmp_path / "ckpt.bin"  # the name says nothing: detection is by content
    save_checkpoint(path, model.state_dict(), cfg)
    assert model_kind(path) == "checkpoint"
    loaded, cfg2 = load_model(path)
    assert cfg2.model == cfg.model and not loaded.training
    torch.testing.assert_close(_logits(loaded, IDS), _logits(model, IDS), rtol=0, atol=0)


def test_quantized_file_and_artifact_give_the_dequantized_model(tmp_path):
    from golfcli.model import GPT

    model, cfg = _tiny()
    qm = _quantize(model, cfg)
    reference = GPT(cfg.model)
    reference.set_phase(reference.final_phase)
    reference.load_state_dict(qm.state_dict())
    expect = _logits(reference.eval(), IDS)
    assert not torch.allclose(expect, _logits(model, IDS))  # quantization really changed the weights

    qpath = tmp_path / "model.safetensors"
    save_quantized(str(qpath), qm)
    assert model_kind(qpath) == "quantized"
    loaded, _ = load_model(qpath)
    torch.testing.assert_close(_logits(loaded, IDS), expect, rtol=0, atol=0)

    from golfcli.artifact import write_artifact

    apath = tmp_path / "artifact.bin"
    write_artifact(qm, apath)
    digest = sha256_file(apath)
    assert model_kind(apath) == "artifact"
    loaded, cfg3 = load_model(apath)
    assert cfg3.model == cfg.model
    torch.testing.assert_close(_logits(loaded, IDS), expect, rtol=0, atol=0)

    # TTT adapts the loaded float weights in memory; the artifact's bytes do not change
    from golfcli.eval import evaluate
    from golfcli.config import EvalConfig
    from golfcli.metric import ByteTables

    tables = ByteTables(torch.ones(1024, dtype=torch.int16), torch.zeros(1024, dtype=torch.bool),
                        torch.zeros(1024, dtype=torch.bool))
    ecfg = EvalConfig(window=32, stride=16, ttt_chunk_tokens=64, ttt_seq_len=32, ttt_epochs=1, ttt_lr=0.05)
    before = {k: v.clone() for k, v in loaded.state_dict().items()}
    evaluate(loaded, torch.randint(0, 1024, (200,)), tables, "sliding", ecfg, ttt=True)
    assert any(not torch.equal(before[k], v) for k, v in loaded.state_dict().items())
    assert sha256_file(apath) == digest


def test_bad_files_are_golf_errors(tmp_path):
    with pytest.raises(GolfError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello, this is not a model at all" * 10)
    with pytest.raises(GolfError, match="not a golf checkpoint"):
        load_model(junk)
    model, cfg = _tiny()
    state = model.state_dict()
    state.pop(next(iter(state)))
    broken = tmp_path / "broken.safetensors"
    save_checkpoint(broken, state, cfg)
    with pytest.raises(GolfError, match="do not fit"):
        load_model(broken)


def test_a_different_tokenizer_than_the_one_trained_with_is_refused(tmp_path):
    from golfcli.config import replace_section
    from golfcli.loading import check_tokenizer_matches

    trained_with, other = tmp_path / "a.model", tmp_path / "b.model"
    trained_with.write_bytes(b"pieces of tokenizer a")
    other.write_bytes(b"pieces of tokenizer b")
    cfg = replace_section(load_config("tiny"), "data", tokenizer=str(trained_with))
    save_checkpoint(tmp_path / "m.safetensors", {"w": torch.zeros(2)}, cfg)
    check_tokenizer_matches(tmp_path / "m.safetensors", trained_with)
    with pytest.raises(GolfError, match="not the tokenizer this model was trained with"):
        check_tokenizer_matches(tmp_path / "m.safetensors", other)
