"""`golf bench pack` at a tiny scale: every method measured on the same weights, golf bit-exact."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from golfcli.bench.pack import byte_shuffle, records_payload, synthetic_record_model
from golfcli.cli import main


def test_bench_pack_runs_side_by_side():
    res = CliRunner().invoke(main, ["bench", "pack", "--scale", "0.04", "--no-record", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["bit_exact"]
    methods = r["methods"]
    assert {"golf (auto)", "records (shuffle + brotli-11)", "brotli-11 lgwin24", "zstd-22", "lzma-9e"} <= set(methods)
    assert methods["golf (auto)"]["bytes"] == r["artifact_bytes"]
    assert r["codes_bytes"] >= r["entropy_bound_bytes"] > 0
    for row in methods.values():
        assert row["ratio_to_reference"] == round(row["bytes"] / r["reference_bytes"], 5)
    from golfcli.artifact import build_bundle

    assert r["code_bytes"]["bundle"] == len(build_bundle()[0]) < r["code_bytes"]["source"]
    assert r["submission_bytes"] == r["artifact_bytes"] + r["code_bytes"]["bundle"]


def test_records_emulation_holds_every_byte_once():
    qm = synthetic_record_model(0, 0.04)
    raw = records_payload(qm)
    expected = sum(q.codes.numel() + 2 * q.scales.numel() for q in qm.quantized.values())
    expected += sum(t.numel() * t.element_size() for t in qm.passthrough.values())
    assert len(raw) == expected
    shuffled = byte_shuffle(b"\x01\x02\x03\x04\x05")
    assert shuffled == b"BSHF\x02\x00" + b"\x01\x03\x05" + b"\x02\x04"
    body = np.frombuffer(byte_shuffle(raw)[6:], np.uint8)
    assert np.array_equal(np.sort(body), np.sort(np.frombuffer(raw, np.uint8)))  # a permutation of the bytes
