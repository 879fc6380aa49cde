"""train.embed_dtype = "bf16" (record 1493): tok_emb and its AdamW moments train in bf16, every other
weight and moment in fp32; averages stay fp32; resume is bit-exact; quantize and eval read the result."""

from __future__ import annotations

import pytest
import torch

from golfcli.checkpoint import load_checkpoint
from golfcli.config import EvalConfig, TrainConfig, load_config
from golfcli.config.base import SettingError
from golfcli.distributed import DistInfo
from golfcli.io import load_tensors
from golfcli.train import train
from golfcli.train.loop import Trainer
from golfcli.train.run_dir import read_metrics
from test_train import make_cfg, tiny_data  # noqa: F401  (the fixture)

EMB = "tok_emb.weight"


def test_only_the_record_1493_presets_train_a_bf16_embedding():
    assert load_config("record-1493").train.embed_dtype == load_config("record-1493-sp1024").train.embed_dtype == "bf16"
    assert load_config("record-1204").train.embed_dtype == load_config("tiny").train.embed_dtype == "fp32"
    with pytest.raises(SettingError, match=r"train.embed_dtype must be one of fp32, bf16, got 'fp16'"):
        TrainConfig(embed_dtype="fp16").validate()


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_after_a_step_only_tok_emb_and_its_adam_moments_are_bf16(tiny_data, tmp_path, dtype):
    trainer = Trainer(make_cfg(tiny_data, embed_dtype=dtype), tmp_path / "run", DistInfo())
    try:
        before = trainer.model.tok_emb.weight.detach().clone()
        trainer.step(0, 1.0)
        names = {id(p): n for n, p in trainer.model.named_parameters()}
        want = torch.bfloat16 if dtype == "bf16" else torch.float32
        params = dict(trainer.model.named_parameters())
        assert params[EMB].dtype == want and params[EMB].grad is None
        assert not torch.equal(before, params[EMB].detach())  # it trained
        assert {n for n, p in params.items() if p.dtype != torch.float32} == ({EMB} if dtype == "bf16" else set())
        seen = set()
        for opt in trainer.optimizers:
            for p, st in opt.state.items():
                for key, t in st.items():
                    if key in ("exp_avg", "exp_avg_sq", "momentum_buffer"):
                        assert t.dtype == (want if names[id(p)] == EMB else torch.float32), (names[id(p)], key)
                        seen.add((names[id(p)], key))
        assert {(EMB, "exp_avg"), (EMB, "exp_avg_sq")} <= seen
        assert all(v.dtype == torch.float32 for v in trainer.ema.state_tensors().values())  # the EMA shadow
    finally:
        trainer.close()


def test_bf16_embedding_resumes_bit_exactly_and_feeds_quantize_and_eval(tiny_data, tmp_path):
    from golfcli.data.shards import load_validation_tokens
    from golfcli.data.tokenizer import load_tokenizer
    from golfcli.eval import evaluate
    from golfcli.loading import load_model, load_state
    from golfcli.metric import build_byte_tables
    from golfcli.quant.quantize import quantize

    cfg = make_cfg(tiny_data, embed_dtype="bf16", iterations=6, swa_every=1, swa_threshold=0.8)  # SWA from step 2
    straight = train(cfg, tmp_path / "a", max_steps=6)
    train(cfg, tmp_path / "b", max_steps=3)
    resumed = train(cfg, tmp_path / "b", max_steps=6, resume=True)
    assert straight["steps"] == resumed["steps"] == 6 and straight["val_bpb"] == resumed["val_bpb"]
    assert straight["swa_snapshots"] == resumed["swa_snapshots"] == 4  # steps 2-5: across the resume at 3
    for name in ("final.safetensors", "ema.safetensors", "swa.safetensors"):
        a, b = (load_checkpoint(tmp_path / d / name)[0] for d in ("a", "b"))
        assert all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a), name
        # the averages are handed back in the training dtype, as the script casts its fp32 EMA back
        assert a[EMB].dtype == torch.bfloat16 and all(v.dtype == torch.float32 for k, v in a.items() if k != EMB)
    losses = [[r["loss"] for r in read_metrics(tmp_path / d / "metrics.jsonl") if "loss" in r] for d in ("a", "b")]
    assert losses[0] == losses[1]
    tensors, _ = load_tensors(tmp_path / "b" / "checkpoints" / "step_000003.safetensors", "train_state")
    assert tensors[f"model/{EMB}"].dtype == torch.bfloat16 and tensors[f"ema/{EMB}"].dtype == torch.float32
    assert {t.dtype for k, t in tensors.items() if k.endswith(("/exp_avg", "/exp_avg_sq"))} == {torch.float32,
                                                                                              torch.bfloat16}

    # later stages read the bf16 table: quantize (its dequantized table comes back in bf16), and
    # loading for eval casts it into the fp32 model exactly
    final = tmp_path / "a" / "final.safetensors"
    q = tmp_path / "q.safetensors"
    quantize(final, q, None, method="rtn")
    table = load_checkpoint(final)[0][EMB]
    dequantized = load_state(q)[0][EMB]
    assert dequantized.dtype == torch.bfloat16
    assert (dequantized.float() - table.float()).abs().max() <= 0.02 * table.float().abs().max()
    tokens = load_validation_tokens(tiny_data[0], 32)[:513]
    tables = build_byte_tables(load_tokenizer(tiny_data[1]), 1024)
    bpb = {}
    for path, want in ((final, table), (q, dequantized)):
        model, _ = load_model(path)
        assert model.tok_emb.weight.dtype == torch.float32 and torch.equal(model.tok_emb.weight, want.float())
        bpb[path.name] = evaluate(model, tokens, tables, "standard", EvalConfig(seq_len=32))["val_bpb"]
    # the same 512 targets the run validated, there with the bf16 table's bf16 forward (on CPU the
    # whole residual stream is bf16): 5e-5 to 1.1e-4 apart, depending on the batches the coprime
    # loader draws (it hashes the data dir's path); a table read wrongly moves bpb by far more
    assert bpb["final.safetensors"] == pytest.approx(straight["val_bpb"], rel=1e-3)
    assert bpb["q.safetensors"] == pytest.approx(bpb["final.safetensors"], rel=1e-3)


def test_two_gloo_ranks_train_the_bf16_embedding_like_one_process(tiny_data, tmp_path, monkeypatch):
    """The sharded-Muon step (AdamW's flat all-reduce, clip over both) with a bf16 table.

    On CPU the bf16 table makes the whole forward bf16, so the two runs differ by bf16 rounding, which
    Adam turns into ±lr steps on entries with near-zero gradients (measured: 4.5% of the table's movement,
    0.3% of its entries off by > 0.01; fp32 tables: 5e-6, tests/test_distributed.py).
    """
    from gloo_ranks import launch
    from golfcli.config import config_to_dict
    from golfcli.model import GPT
    from test_distributed import _rank_main

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    cfg = make_cfg(tiny_data, embed_dtype="bf16", iterations=4, warmdown_iters=2)
    single = train(cfg, tmp_path / "one", max_steps=4)
    launch(_rank_main, config_to_dict(cfg), str(tmp_path / "two"), outputs=[tmp_path / "two"])
    a, b = (load_checkpoint(tmp_path / d / "final.safetensors")[0] for d in ("one", "two"))
    assert single["world_size"] == 1 and a[EMB].dtype == b[EMB].dtype == torch.bfloat16
    torch.manual_seed(cfg.train.seed)
    moved = a[EMB].float() - GPT(cfg.model).state_dict()[EMB].bfloat16().float()
    diff = a[EMB].float() - b[EMB].float()
    assert moved.abs().max() > 0.1
    assert diff.norm() / moved.norm() < 0.15 and (diff.abs() > 0.01).float().mean() < 0.02
