"""The calibrate and quantize benchmarks run end to end at a tiny size (speed is not asserted here)."""

from __future__ import annotations

import golfcli.cli  # noqa: F401  (registers the bench group before its modules are imported)
from golfcli.bench.calibrate import run_bench as bench_calibrate
from golfcli.bench.quantize import run_bench as bench_quantize


def test_bench_quantize_tiny():
    r = bench_quantize("tiny", threads=1, bits=5, passthrough_max=1024)
    assert r["gptq_tensors"] == r["matrices"] + 1  # every linear weight plus the tied head
    assert 0 < r["error_gptq_over_rtn"] < 1, "GPTQ beats round to nearest on the same Hessians"
    assert len(r["per_tensor"]) >= r["gptq_tensors"]


def test_bench_calibrate_tiny():
    r = bench_calibrate("tiny", seq_len=24, seqs=2, batch=2, reference_seqs=2, device_name="cpu")
    assert r["same_tokens"] is True
    assert r["kv_cache"]["tokens"] == 46 and r["full_recompute"]["tokens"] == 46
    assert r["speedup"] > 0
