"""`golf eval`, `golf eval-sliding`, `golf eval-hedge` end to end on a tiny checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from golfcli.checkpoint import save_checkpoint
from golfcli.cli import main
from golfcli.config import load_config
from golfcli.data.shards import write_shard

SMALL = ["--device", "cpu", "--seq-len", "32", "--window", "32", "--stride", "16", "--batch-seqs", "4"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, builtin_data):
    from golfcli.model import GPT

    root = tmp_path_factory.mktemp("evalcli")
    cfg = load_config("tiny")
    torch.manual_seed(0)
    model = GPT(cfg.model)
    model.set_phase(model.final_phase)
    save_checkpoint(root / "model.safetensors", model.state_dict(), cfg)
    data = root / "data"
    tokens = torch.randint(0, 1024, (301,), generator=torch.Generator().manual_seed(0))
    write_shard(data / "fineweb_val_000000.bin", tokens.numpy().astype(np.uint16))
    return root, data, builtin_data.tokenizer, tokens


def _golf(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_standard_eval_json_and_truncation(setup):
    root, data, tok, tokens = setup
    r = _json(_golf("eval", root / "model.safetensors", "--data", data, "--tokenizer", tok, "--json", *SMALL))
    for key in ("val_loss", "val_bpb", "tokens_scored", "bytes_scored", "seconds", "tokens_per_s"):
        assert key in r
    assert r["mode"] == "standard" and r["tokens_scored"] == 9 * 32 and r["partial"] is False  # 301 → 289 tokens

    from golfcli.data.tokenizer import load_tokenizer
    from golfcli.metric import build_byte_tables, count_stream_bytes

    assert r["bytes_scored"] == count_stream_bytes(build_byte_tables(load_tokenizer(tok), 1024), tokens[:289])


def test_max_tokens_is_partial_and_said_so(setup):
    root, data, tok, _ = setup
    args = ("eval-sliding", root / "model.safetensors", "--data", data, "--tokenizer", tok, "--max-tokens", 100,
            *SMALL)
    r = _json(_golf(*args, "--json"))
    assert r["tokens_scored"] == 99 and r["partial"] is True and r["mode"] == "sliding"
    text = _golf(*args)
    assert text.exit_code == 0 and "PARTIAL" in text.output
    same = _json(_golf("eval", "--sliding", *args[1:], "--json"))
    assert same["val_loss"] == r["val_loss"]


def test_hedge_with_normalization_check_and_per_token(setup, tmp_path):
    root, data, tok, _ = setup
    out = tmp_path / "nll.npy"
    r = _json(_golf("eval-hedge", root / "model.safetensors", "--data", data, "--tokenizer", tok, "--json",
                    "--check-normalization", "--per-token", out, "--set", "eval.hedge_table_size=256", *SMALL))
    assert r["normalization_checks"] > 0 and r["max_normalization_error"] <= 1e-6
    assert set(r["expert_weights"]) == {"neural", "unigram", "bigram", "trigram"}
    assert r["gain_bpb"] == pytest.approx(r["neural_bpb"] - r["val_bpb"])
    nll = np.load(out, allow_pickle=False)
    assert nll.dtype == np.float32 and nll.shape == (r["tokens_scored"],)
    assert float(nll.astype(np.float64).mean()) == pytest.approx(r["val_loss"], rel=1e-6)


def test_ttt_flag(setup):
    root, data, tok, _ = setup
    r = _json(_golf("eval", root / "model.safetensors", "--data", data, "--tokenizer", tok, "--json", "--sliding",
                    "--ttt", "--ttt-epochs", 1, "--ttt-chunk-tokens", 96, *SMALL))
    assert r["ttt"] is True and r["ttt_chunks"] == 3 and r["ttt_trained_chunks"] == 2


def test_refusals_are_one_line_errors(setup, tmp_path):
    root, data, tok, _ = setup
    from golfcli.model import GPT

    cfg = load_config("tiny", None, ["model.vocab_size=512"])
    small = GPT(cfg.model)
    small.set_phase(small.final_phase)
    save_checkpoint(tmp_path / "v512.safetensors", small.state_dict(), cfg)
    cases = [
        (("eval", tmp_path / "v512.safetensors", "--data", data, "--tokenizer", tok), "vocabulary is 512"),
        (("eval", root / "model.safetensors", "--data", tmp_path / "nowhere", "--tokenizer", tok), "not found"),
        (("eval", root / "model.safetensors", "--data", data, "--tokenizer", tok, "--per-token", tmp_path / "x.txt"),
         ".npy"),
        (("eval", root / "model.safetensors", "--data", data, "--tokenizer", tok, "--set", "model.num_layers=3"),
         "eval.KEY"),
        (("eval", root / "model.safetensors", "--data", data, "--tokenizer", tok, "--max-tokens", 1), "at least 2"),
        (("eval", root / "model.safetensors", "--data", data, "--tokenizer", tok, "--check-normalization"), "hedge"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(main, [str(a) for a in (*args, "--device", "cpu")])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
        assert result.output.startswith("golf: error:") and result.output.count("\n") == 1
