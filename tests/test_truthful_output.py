"""What golf prints is true: inspect checks files, help shows real defaults, sizes, budgets, widths,
progress off a terminal, tables at 80 columns, and error wording."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from golfcli import console
from golfcli.checkpoint import save_checkpoint
from golfcli.cli import main
from golfcli.config import load_config
from golfcli.errors import GolfError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """An untrained tiny checkpoint, its Hessians (2 short self-generated sequences) and an artifact."""
    from golfcli.artifact import write_artifact
    from golfcli.model import GPT
    from golfcli.qtensor import load_quantized
    from golfcli.quant.calibrate import calibrate
    from golfcli.quant.quantize import quantize

    root = tmp_path_factory.mktemp("tiny")
    cfg = load_config("tiny")
    torch.manual_seed(0)
    save_checkpoint(root / "ckpt.safetensors", GPT(cfg.model).state_dict(), cfg)
    calibrate(root / "ckpt.safetensors", root / "h.safetensors", seqs=2, seq_len=16, batch=2, device="cpu")
    quantize(root / "ckpt.safetensors", root / "q.safetensors", method="rtn")
    write_artifact(load_quantized(str(root / "q.safetensors")), root / "a.bin")
    return {"ckpt": root / "ckpt.safetensors", "hessians": root / "h.safetensors", "artifact": root / "a.bin"}


# --- item 5: inspect checks what it shows --------------------------------------------------------
def test_inspect_fails_on_a_truncated_checkpoint(tiny, tmp_path):
    whole = tiny["ckpt"].read_bytes()
    cut = tmp_path / "t.safetensors"
    cut.write_bytes(whole[: len(whole) // 2])
    good = CliRunner().invoke(main, ["inspect", str(tiny["ckpt"]), "--json"])
    assert good.exit_code == 0 and json.loads(good.stdout)["kind"] == "checkpoint"
    bad = CliRunner().invoke(main, ["inspect", str(cut)])
    assert bad.exit_code == 2
    assert bad.output.startswith(f"golf: error: {cut}: damaged safetensors file (truncated") and bad.output.count("\n") == 1


# --- item 6: --help never shows a default the command would not use ---------------------------------
@pytest.mark.parametrize("verb, option, used", [("eval", "window", 128), ("eval", "seq_len", 128),
                                                ("eval", "stride", 32), ("quantize", "attn", 7),
                                                ("quantize", "mlp", 5), ("quantize", "passthrough_max", 4096),
                                                ("gptq-calibrate", "seqs", 8), ("gptq-calibrate", "seq_len", 256)])
def test_help_shows_no_default_that_differs_from_the_checkpoints(verb, option, used):
    cfg = load_config("tiny")  # what a tiny checkpoint stores, so what the command uses on it
    stored = {"window": cfg.eval.window, "seq_len": cfg.eval.seq_len if verb == "eval" else cfg.calib.seq_len,
              "stride": cfg.eval.stride, "attn": cfg.quant.attn_bits, "mlp": cfg.quant.mlp_bits,
              "passthrough_max": cfg.quant.passthrough_max, "seqs": cfg.calib.seqs}[option]
    assert stored == used
    param = next(p for p in main.commands[verb].params if p.name == option)
    numbers = [int(n) for n in re.findall(r"\b\d+\b", param.help)]
    assert all(n == used for n in numbers), param.help
    assert "checkpoint" in param.help or "model file" in param.help


# --- item 7: verify-size counts what a submission ships ------------------------------------------
def test_verify_size_counts_the_bundle_by_default(tiny):
    from golfcli.artifact.bundle import build_bundle
    from golfcli.artifact.size import code_files_for_loading

    r = CliRunner().invoke(main, ["verify-size", str(tiny["artifact"])])
    assert r.exit_code == 0 and "code bytes count the `golf bundle` script a submission ships" in r.output
    shipped = json.loads(CliRunner().invoke(main, ["verify-size", str(tiny["artifact"]), "--json"]).stdout)
    raw = json.loads(CliRunner().invoke(main, ["verify-size", str(tiny["artifact"]), "--source", "--json"]).stdout)
    assert shipped["code_bytes"] == len(build_bundle()[0])
    assert raw["code_bytes"] == sum(p.stat().st_size for p in code_files_for_loading()) > shipped["code_bytes"]
    assert "raw golfcli source" in raw["code_source"]


# --- item 8: an impossible budget says what the fixed part costs and what the smallest plan needs ----
def _needs(message: str) -> tuple[int, int]:
    fixed = int(re.search(r"the fixed part costs ([\d,]+) bytes", message).group(1).replace(",", ""))
    need = int(re.search(r"the smallest plan needs ([\d,]+) bytes", message).group(1).replace(",", ""))
    return fixed, need


@pytest.mark.parametrize("method", ["rtn", "gptq"])
def test_impossible_budget_message_is_exact(tiny, tmp_path, method):
    from golfcli.quant.quantize import quantize

    hessians = tiny["hessians"] if method == "gptq" else None
    # a budget above the passthrough tensors but below the smallest plan: fails after quantizing
    with pytest.raises(GolfError) as err:
        quantize(tiny["ckpt"], tmp_path / "x", hessians, method=method, target_bytes=120_000)
    fixed, need = _needs(str(err.value))
    assert fixed <= need and "120,000" in str(err.value)
    assert ("planned tensors need" in str(err.value)) == (method == "gptq")  # rtn plans no tensor
    ok = quantize(tiny["ckpt"], tmp_path / "ok", hessians, method=method, target_bytes=need)
    assert ok["fits"] and ok["total_bytes"] <= need
    with pytest.raises(GolfError, match="cannot be met"):
        quantize(tiny["ckpt"], tmp_path / "y", hessians, method=method, target_bytes=need - 1)


def test_a_budget_below_the_passthrough_tensors_fails_before_quantizing(tiny, tmp_path):
    r = CliRunner().invoke(main, ["quantize", str(tiny["ckpt"]), "--method", "rtn", "--target-bytes", "1000",
                                  "--out", str(tmp_path / "q")])
    assert r.exit_code == 2
    m = re.search(r"passthrough tensors ([\d,]+) already cost ([\d,]+) bytes", r.output)
    assert m and m.group(1) == m.group(2) and "1,000" in r.output and not (tmp_path / "q").exists()


# --- item 9: a width that applies to no tensor is reported ---------------------------------------
def test_a_width_no_tensor_gets_is_a_warning(tiny, tmp_path):
    r = CliRunner().invoke(main, ["quantize", str(tiny["ckpt"]), "--method", "rtn", "--attn", "int7", "--rule",
                                  "nothing_like_this=int4", "--out", str(tmp_path / "q"), "--json"])
    assert r.exit_code == 0, r.output
    warnings = json.loads(r.stdout)["warnings"]
    assert warnings == [
        "--attn int7 applies to no tensor: the 16 attn tensors (the largest has 4,096 elements) are within "
        "--passthrough-max 4,096 and stay fp16",
        "--rule nothing_like_this=int4 matches no quantized tensor",
    ]
    r = CliRunner().invoke(main, ["quantize", str(tiny["ckpt"]), "--method", "rtn", "--attn", "int7",
                                  "--passthrough-max", "1024", "--out", str(tmp_path / "q2"), "--json"])
    assert json.loads(r.stdout)["warnings"] == []


# --- item 11: progress off a terminal, tables at 80 columns --------------------------------------
def test_plain_progress_lines_come_at_a_steady_interval(capsys):
    now = [0.0]
    bar = console.PlainBar(100, "train", every=10, clock=lambda: now[0])
    for step in range(1, 11):
        now[0] += 4
        bar.update(description=f"step {10 * step} loss 3.0000 1,000 tok/s")
        bar.advance(10)
    bar.finish()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "step 10 loss 3.0000 1,000 tok/s, 10/100 (10%), 0:04 elapsed, eta 0:36",  # at once: the work started
        "step 40 loss 3.0000 1,000 tok/s, 40/100 (40%), 0:16 elapsed, eta 0:24",
        "step 70 loss 3.0000 1,000 tok/s, 70/100 (70%), 0:28 elapsed, eta 0:12",  # 10 s or more after the last
        "step 100 loss 3.0000 1,000 tok/s, 100/100 (100%), 0:40 elapsed, eta 0:00",
    ]


def test_train_display_off_a_terminal_prints_step_loss_rate_and_eta(capsys, monkeypatch):
    from golfcli.train.loop import _Display
    from golfcli.train.schedule import Schedule

    monkeypatch.setattr(console, "PLAIN_EVERY_S", 0.0)
    monkeypatch.setitem(console._state, "quiet", False)  # an earlier --json in this process set it
    schedule = Schedule.from_config(load_config("tiny").train)
    with _Display(True, schedule, None) as display:
        display.update(50, 1.0, "step 50 loss 4.1234 lr×1.000 9,000 tok/s 0.5 ms/step")
    err = capsys.readouterr().err
    assert "step 50 loss 4.1234" in err and "9,000 tok/s" in err and "50/200 (25%)" in err and "eta" in err


def test_quantize_progress_and_table_off_a_terminal(tiny, tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(console, "PLAIN_EVERY_S", 0.0)
    monkeypatch.setitem(console._state, "quiet", False)  # an earlier --json in this process set it
    r = CliRunner(env={"COLUMNS": "80"}).invoke(main, ["quantize", str(tiny["ckpt"]), "--method", "rtn",
                                                       "--passthrough-max", "1024", "--out", str(tmp_path / "q")])
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    assert len(lines) > 3 and all(re.fullmatch(r"quantizing \(weights\), [\d,]+/180,224 \(\d+%\), 0:\d\d elapsed, "
                                               r"eta 0:\d\d", line) for line in lines)
    assert lines[-1].startswith("quantizing (weights), 180,224/180,224 (100%)") and lines.count(lines[-1]) == 1
    table = r.stdout
    assert max(len(line) for line in table.splitlines()) <= 80 and "…" not in table
    from golfcli.qtensor import load_quantized

    for name in load_quantized(str(tmp_path / "q")).quantized:
        assert re.search(rf"^ ?{re.escape(name)} ", table, re.M), name  # whole, on one line


# --- item 12: wording ----------------------------------------------------------------------------
@pytest.mark.parametrize("args, line", [
    (["params", "--preset", "tinny"], "golf: error: unknown preset 'tinny'; did you mean 'tiny'?"),
    (["params", "--set", "model.num_layers=0"], "golf: error: model.num_layers must be at least 1, got 0"),
    (["params", "--set", "trian.seed=1"], "golf: error: unknown config section 'trian'; did you mean 'train'?"),
    (["params", "--set", "train.sed=1"], "golf: error: unknown config key 'train.sed'; did you mean 'train.seed'?"),
])
def test_error_wording(args, line):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and r.output.strip() == line


@pytest.mark.parametrize("verb", [["quantize", "DIR", "--out", "x"], ["eval", "DIR"], ["pack", "DIR", "--out", "x"],
                                  ["inspect", "DIR"], ["verify-size", "DIR"], ["gptq-calibrate", "DIR", "--out", "x"],
                                  ["params", "--config", "DIR"]])
def test_a_directory_where_a_file_is_expected_is_a_golf_error(tmp_path, verb):
    r = CliRunner().invoke(main, [str(tmp_path) if a == "DIR" else a for a in verb])
    assert r.exit_code == 2 and "Usage:" not in r.output
    assert re.fullmatch(rf"golf: error: {re.escape(str(tmp_path))}: expected an? [\w ]+, found a directory\n", r.output)
