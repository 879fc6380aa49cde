"""Every script in examples/ runs end to end at a tiny size on the CPU, so the examples never rot.

The scripts are run with bash exactly as a user would, shrunk only through their environment
knobs (tiny preset, a few steps, small calibration, a few thousand validation tokens, one process
instead of torchrun). `$GOLF` is a warm golf (tests/golf_server.py: each command forked from a
process that imported torch once, as `golf run` starts its stages), which saves the ~2 s torch
import of each of the scripts' ~45 golf commands. Every script reads the session's built-in corpus (conftest `small_corpus`;
building it is `golf data builtin`, tested in test_data_builtin.py); the sweep and the hedge/TTT
example reuse the checkpoint and artifact of `cpu_demo.sh`.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GOLF = f"{sys.executable} -m golfcli"
EVAL_TOKENS = 2048  # -> 2047 scored targets
WINDOW, STRIDE = 128, 64
SMALL = {  # knobs shared by every script
    "GOLF": GOLF, "LAUNCH": GOLF, "NPROC": "1",
    "CALIB_SEQS": "2", "CALIB_LEN": "64",
    "EVAL_TOKENS": str(EVAL_TOKENS), "WINDOW": str(WINDOW), "STRIDE": str(STRIDE),
}
HEDGE_SMALL = "--set eval.hedge_table_size=4096"  # the default trigram table is 256 MB


@pytest.fixture(scope="module", autouse=True)
def warm_golf(tmp_path_factory):
    """The module's golf server; `$GOLF` and `$LAUNCH` of every script are its client."""
    server = Path(__file__).with_name("golf_server.py")
    sock = tmp_path_factory.mktemp("golf-server") / "s"
    proc = subprocess.Popen([sys.executable, str(server), str(sock)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready", "the golf server did not start"
        golf = f"{sys.executable} {server} --client {sock}"
        SMALL.update(GOLF=golf, LAUNCH=golf)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the server and any command still running in it
        proc.wait()
        SMALL.update(GOLF=GOLF, LAUNCH=GOLF)


def run_example(name: str, **env: str) -> str:
    """Run examples/<name> with bash and the given knobs; return its stdout (fails with its output)."""
    full = dict(os.environ)
    # `python` inside the scripts must be this interpreter; one torch thread per process, because
    # OpenMP threads spinning on a loaded 2-core machine make the tiny model ~40x slower.
    full["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full.get('PATH', '')}"
    full.update({"OMP_NUM_THREADS": "1", **SMALL, **env})
    proc = subprocess.run(["bash", str(EXAMPLES / name)], env=full, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


def load(path: Path) -> dict:
    assert path.is_file() and path.stat().st_size > 0, f"missing or empty: {path}"
    return json.loads(path.read_text())


def assert_bpb(report: dict, *, targets: int = EVAL_TOKENS - 1) -> float:
    """A real, partial bits-per-byte number over exactly the requested targets."""
    bpb = report["val_bpb"]
    assert math.isfinite(bpb) and 0.5 < bpb < 15, bpb  # untrained sp1024-ish models sit near 4–5
    assert report["tokens_scored"] == targets and report["partial"] is True
    assert report["bytes_scored"] > targets  # ~2.5 bytes per token
    return bpb


def assert_artifact(out: Path, *, limit: int = 16_000_000) -> dict:
    """artifact.bin exists, verify-size counted it exactly and says it fits."""
    artifact = out / "artifact.bin"
    assert artifact.is_file() and artifact.stat().st_size > 10_000
    size = load(out / "size.json")
    assert size["model_bytes"] == artifact.stat().st_size
    assert size["total_bytes"] == size["model_bytes"] + size["code_bytes"]
    assert size["fits"] is True and size["total_bytes"] <= size["limit"] == limit
    pack = load(out / "pack.json")
    assert pack["artifact_bytes"] == artifact.stat().st_size
    return size


def widths(quantize_report: dict) -> dict[str, int]:
    return {t["name"]: t["bits"] for t in quantize_report["tensors"]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, small_corpus) -> Path:
    """examples/cpu_demo.sh on the session's corpus (it skips its data step when DATA holds shards)."""
    out = tmp_path_factory.mktemp("examples") / "cpu-demo"
    stdout = run_example("cpu_demo.sh", OUT=str(out), DATA=str(small_corpus.data_dir), MAX_STEPS="12")
    assert "sliding" in stdout and "bpb" in stdout
    return out


def test_cpu_demo(demo: Path) -> None:
    assert not (demo / "data.json").exists()  # DATA already held shards: the script built none
    train = load(demo / "train.json")
    assert train["steps"] == 12 and train["stopped_by"] == "max_steps"
    for name in ("ema.safetensors", "hessians.safetensors", "quantized.safetensors", "train/final.safetensors"):
        assert (demo / name).stat().st_size > 10_000, name
    assert load(demo / "calibrate.json")["tokens"] == 2 * 64
    bits = widths(load(demo / "quantize.json"))
    assert {b for n, b in bits.items() if ".attn." in n} == {7}
    assert {b for n, b in bits.items() if ".mlp." in n} == {5}
    assert_artifact(demo)
    standard = load(demo / "eval.json")
    sliding = load(demo / "eval_sliding.json")
    assert standard["mode"] == "standard" and sliding["mode"] == "sliding"
    assert (sliding["window"], sliding["stride"]) == (WINDOW, STRIDE)
    assert_bpb(standard)
    assert_bpb(sliding)
    assert standard["bytes_scored"] == sliding["bytes_scored"]  # the same targets, counted once each


def test_record_1204(small_corpus, tmp_path: Path) -> None:
    out = tmp_path / "record-1204"
    run_example("record_1204_8xh100.sh", PRESET="tiny", OUT=str(out), DATA=str(small_corpus.data_dir),
                TOKENIZER=str(small_corpus.tokenizer), TRAIN_SECONDS="0",
                TRAIN_ARGS="--max-steps 4", QUANT_ARGS="--passthrough-max 1024")
    assert load(out / "train.json")["steps"] == 4
    quant = load(out / "quantize.json")
    assert quant["target_bytes"] == 16_000_000 and quant["fits"] is True
    bits = widths(quant)
    assert bits.pop("tok_emb.weight") == 8  # pinned by a rule
    assert set(bits.values()) <= {5, 6} and bits  # the planner's two widths for every matrix
    assert_artifact(out)
    sliding = load(out / "eval_sliding.json")
    assert (sliding["window"], sliding["stride"]) == (WINDOW, STRIDE)
    assert_bpb(sliding)


def test_recur_3x4(small_corpus, tmp_path: Path) -> None:
    out = tmp_path / "recur-3x4"
    run_example("recur_3x4_8xh100.sh", PRESET="tiny", OUT=str(out), DATA=str(small_corpus.data_dir),
                TOKENIZER=str(small_corpus.tokenizer), TRAIN_SECONDS="0",
                TRAIN_ARGS="--max-steps 4", QUANT_ARGS="--passthrough-max 1024", EVAL_ARGS=HEDGE_SMALL)
    bits = widths(load(out / "quantize.json"))
    assert bits["tok_emb.weight"] == 7
    assert {b for n, b in bits.items() if ".attn." in n} == {7}
    assert {b for n, b in bits.items() if ".mlp." in n} == {5}
    assert_artifact(out)
    sliding, hedge = load(out / "eval_sliding.json"), load(out / "eval_hedge.json")
    assert hedge["mode"] == "hedge"
    bpb = assert_bpb(sliding)
    assert_bpb(hedge)
    assert hedge["neural_bpb"] == pytest.approx(bpb, abs=1e-6)  # hedge's unmixed pass is the sliding eval
    assert hedge["normalization_checks"] > 0 and hedge["max_normalization_error"] <= 1e-6


def test_byte_budget_sweep(demo: Path, small_corpus, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    budgets = [150_000, 105_000]
    stdout = run_example("byte_budget_sweep.sh", CKPT=str(demo / "ema.safetensors"), OUT=str(out),
                         DATA=str(small_corpus.data_dir), BUDGETS=" ".join(map(str, budgets)), CODE_BYTES="0")
    assert "budget" in stdout and "bpb" in stdout
    rows = load(out / "sweep.json")
    assert [r["budget"] for r in rows] == budgets
    for row in rows:
        assert row["fits"] is True and row["model_bytes"] <= row["budget"]
        assert_artifact(out / str(row["budget"]), limit=row["budget"])
        assert_bpb(load(out / str(row["budget"]) / "eval_sliding.json"))
    assert rows[1]["model_bytes"] < rows[0]["model_bytes"]  # a smaller budget really packs smaller
    assert rows[1]["bits"] != rows[0]["bits"]


def test_hedge_ttt_eval(demo: Path, small_corpus, tmp_path: Path) -> None:
    out = tmp_path / "hedge-ttt"
    run_example("hedge_ttt_eval.sh", MODEL=str(demo / "artifact.bin"), OUT=str(out), DATA=str(small_corpus.data_dir),
                HEDGE_ARGS=HEDGE_SMALL, TTT_CHUNK_TOKENS="512", TTT_EPOCHS="1")
    hedge, ttt = load(out / "eval_hedge.json"), load(out / "eval_ttt.json")
    assert_bpb(hedge)
    assert_bpb(ttt)
    assert hedge["max_normalization_error"] <= 1e-6
    # the demo artifact's plain sliding score is the hedge's unmixed pass
    assert hedge["neural_bpb"] == pytest.approx(load(demo / "eval_sliding.json")["val_bpb"], abs=1e-6)
    assert ttt["ttt"] is True and ttt["ttt_chunks"] == 4 and ttt["ttt_trained_chunks"] == 3
    assert ttt["val_bpb"] != hedge["neural_bpb"]  # training on scored chunks changed later scores
