"""The artifact container: bit-exact round trips, determinism, codecs, rANS at the entropy bound."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from golfcli.artifact import estimate_packed_bytes, is_artifact, pack_bytes, read_artifact, write_artifact
from golfcli.artifact import rans
from golfcli.artifact import classes
from golfcli.artifact.classes import encode_classed_codes
from golfcli.artifact.codes import build_tables, decode_classed_codes, decode_codes, encode_codes
from golfcli.artifact.reader import decode_artifact
from golfcli.errors import FormatError, GolfError
from golfcli.qtensor import QuantizedModel, QuantizedTensor, grid_max, quantize_with_scales, role_of

SHAPES = [
    ("blocks.0.attn.c_q.weight", (48, 32), 7, "gauss"),
    ("blocks.0.attn.c_k.weight", (24, 32), 6, "gauss"),
    ("blocks.0.mlp.fc.weight", (96, 32), 5, "laplace"),
    ("blocks.0.mlp.proj.weight", (32, 96), 5, "laplace"),
    ("tok_emb.weight", (64, 16), 8, "gauss"),
    ("bigram.conv.weight", (4, 3, 5), 6, "laplace"),
]


def make_model(seed: int = 0, shapes=SHAPES, clip: float = 0.999) -> QuantizedModel:
    """A small QuantizedModel: Gaussian/Laplacian rows quantized per row at int5..int8, with fp16,
    fp32, bf16 and int64 passthrough tensors, a config and metadata."""
    g = torch.Generator().manual_seed(seed)
    qm = QuantizedModel(config={"model": {"n_layer": 1, "d_model": 32}, "pack": {"codec": "auto"}},
                        meta={"provenance": {"seed": seed, "note": "tést"}})
    for name, shape, bits, dist in shapes:
        w = torch.randn(shape, generator=g)
        if dist == "laplace":
            u = torch.rand(shape, generator=g) - 0.5
            w = -torch.sign(u) * torch.log1p(-2 * u.abs())
        w = w * torch.exp(0.3 * torch.randn(shape[0], *[1] * (len(shape) - 1), generator=g))
        rows = w.reshape(shape[0], -1)
        scales = (torch.quantile(rows.abs(), clip, dim=1) / grid_max(bits)).half()
        qm.quantized[name] = QuantizedTensor(quantize_with_scales(rows, scales, bits), scales, bits, shape,
                                             "float32", role_of(name))
    qm.passthrough["blocks.0.attn_scale"] = torch.randn(32, generator=g).half()
    qm.passthrough_dtypes["blocks.0.attn_scale"] = "float32"
    qm.passthrough["skip_weights"] = torch.randn(2, 32, generator=g)
    qm.passthrough_dtypes["skip_weights"] = "float32"
    qm.passthrough["bigram.scale"] = torch.tensor(0.25, dtype=torch.float16)
    qm.passthrough_dtypes["bigram.scale"] = "float32"
    qm.passthrough["ve.embed"] = torch.randn(3, 5, generator=g).bfloat16()
    qm.passthrough_dtypes["ve.embed"] = "bfloat16"
    qm.passthrough["positions"] = torch.arange(7)
    qm.passthrough_dtypes["positions"] = "int64"
    return qm


def assert_same_model(a: QuantizedModel, b: QuantizedModel) -> None:
    assert sorted(a.quantized) == sorted(b.quantized) and sorted(a.passthrough) == sorted(b.passthrough)
    for name, q in a.quantized.items():
        r = b.quantized[name]
        assert r.codes.dtype == torch.int8 and r.scales.dtype == torch.float16
        assert torch.equal(q.codes, r.codes), name
        assert torch.equal(q.scales.view(torch.int16), r.scales.view(torch.int16)), name  # bit-exact fp16
        assert (q.bits, tuple(q.shape), q.dtype, q.role) == (r.bits, tuple(r.shape), r.dtype, r.role), name
    for name, t in a.passthrough.items():
        r = b.passthrough[name]
        assert r.dtype == t.dtype and r.shape == t.shape, name
        assert torch.equal(t.reshape(-1).view(torch.uint8), r.reshape(-1).view(torch.uint8)), name
    assert a.passthrough_dtypes == b.passthrough_dtypes
    assert a.config == b.config and a.meta == b.meta


def test_round_trip_is_bit_exact(tmp_path):
    qm = make_model()
    report = write_artifact(qm, tmp_path / "a.bin")
    assert is_artifact(tmp_path / "a.bin")
    assert report["artifact_bytes"] == (tmp_path / "a.bin").stat().st_size
    back = read_artifact(tmp_path / "a.bin")
    assert_same_model(qm, back)
    for name in qm.quantized:  # and the weights they stand for
        assert torch.equal(qm.quantized[name].dequantize(), back.quantized[name].dequantize())


@pytest.mark.parametrize("codec", ["rans", "rans-classes", "brotli", "zstd", "lzma", "raw"])
def test_every_codec_round_trips(codec):
    qm = make_model(1)
    blob, report = pack_bytes(qm, codec)
    assert report["codecs"]["codes"] == codec
    if not codec.startswith("rans"):  # a forced general codec is used for every section
        assert all(c.split("+")[0] == codec for c in report["codecs"].values())
    assert_same_model(qm, decode_artifact(blob))


@pytest.mark.parametrize("codec", ["auto", "rans-classes"])
def test_same_input_same_bytes_across_processes(codec):
    qm = make_model(2)
    blob, _ = pack_bytes(qm, codec)
    assert pack_bytes(make_model(2), codec)[0] == blob
    code = (
        "import sys; sys.path.insert(0, 'tests'); from test_artifact import make_model; "
        f"from golfcli.artifact import pack_bytes; sys.stdout.buffer.write(pack_bytes(make_model(2), {codec!r})[0])"
    )
    # Another BLAS thread count sums matrix products in another order: the bytes must not change.
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, env=env).stdout
    assert other == blob


def test_auto_keeps_the_smallest_candidate_per_section():
    qm = make_model(3)
    _, report = pack_bytes(qm, "auto", sample_bytes=0)
    for section in report["sections"]:
        sizes = {name: c["bytes"] for name, c in section["candidates"].items()}
        assert section["bytes"] == min(sizes.values())
        winner = section["codec"] + ("+planes" if section["transform"] == "planes" else "")
        assert sizes[winner] == section["bytes"]
    sizes = sum(s["bytes"] for s in report["sections"]) + report["container_bytes"]
    assert sizes == report["artifact_bytes"]


def test_report_accounts_codes_by_role_and_tensor():
    qm = make_model(4)
    _, report = pack_bytes(qm, "rans")
    assert set(report["roles"]) == {role_of(n) for n in qm.quantized}
    # rANS shares are exact per tensor and add up to the codes section.
    assert sum(t["bytes"] for t in report["tensors"]) == pytest.approx(report["codes_bytes"], abs=1.0)
    assert sum(r["codes"] for r in report["roles"].values()) == sum(q.codes.numel() for q in qm.quantized.values())
    bound = sum(t["entropy_bytes"] for t in report["tensors"])
    assert report["entropy_bound_bytes"] == pytest.approx(bound, abs=1.0)
    assert report["codes_bytes"] > report["entropy_bound_bytes"]


def _codes(n: int, bits: int, dist: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n) if dist == "gauss" else rng.laplace(size=n)
    step = np.quantile(np.abs(w), 0.9995) / grid_max(bits)
    return np.clip(np.round(w / step), -grid_max(bits), grid_max(bits)).astype(np.int8)


def test_rans_reaches_the_order0_bound():
    """Packed codes (tables and lane states included) within 0.5% of n·H(p̂) at realistic sizes."""
    arrays = [_codes(400_000, 6, "gauss", 0), _codes(300_000, 5, "laplace", 1), _codes(200_000, 8, "gauss", 2),
              _codes(100_000, 7, "laplace", 3)]
    payload, shares = encode_codes(arrays)
    bound = sum(rans.entropy_bits(rans.symbol_counts(a)[1]) for a in arrays) / 8
    assert bound < len(payload) < 1.005 * bound
    assert sum(shares) == pytest.approx(len(payload), abs=1.0)
    decoded = decode_codes(payload, [a.size for a in arrays], "codes")
    assert all(np.array_equal(a, d) for a, d in zip(arrays, decoded))
    # The byte-budget estimate agrees with what the coder spends, tensor by tensor.
    for a, share in zip(arrays, shares):
        assert estimate_packed_bytes(torch.from_numpy(a)) == pytest.approx(share, rel=0.002)


@pytest.mark.parametrize("steps", [1, 4, 64])
def test_rans_edge_cases(steps):
    streams = [
        np.zeros(0, np.int8),  # empty
        np.full(50, 3, np.int8),  # one symbol: costs nothing but its lane state
        np.array([-127, 127, 0, -127], np.int8),  # grid extremes
        np.arange(-100, 100, dtype=np.int8).repeat(3),  # wide alphabet
        _codes(1000, 5, "laplace", 9),
    ]
    tables, _ = build_tables(streams)
    states, words, per = rans.encode(streams, tables, steps=steps)
    assert sum(per) == words.size
    out = rans.decode(states, words, [s.size for s in streams], tables, steps=steps)
    assert all(np.array_equal(s.astype(np.int16), o) for s, o in zip(streams, out))
    with pytest.raises(rans.RansError):  # one wrong word or state no longer decodes to the initial states
        damaged_words, damaged_states = words.copy(), states.copy()
        if words.size:
            damaged_words[len(words) // 2] ^= 0x40
        else:
            damaged_states[0] += 1
        rans.decode(damaged_states, damaged_words, [s.size for s in streams], tables, steps=steps)


def test_quantize_counts_sums_and_keeps_every_symbol():
    counts = np.array([1, 0, 5, 100000, 3, 0, 1], dtype=np.int64)
    for prec in (8, 12, 15):
        f = rans.quantize_counts(counts, prec)
        assert f.sum() == 1 << prec
        assert np.all((f > 0) == (counts > 0))
    f = rans.quantize_counts(counts, 15)  # never worse than 0.1% above the bound here
    assert rans.coded_bits(counts, f, 15) < rans.entropy_bits(counts) * 1.001 + 40


def test_manifest_is_compact():
    qm = make_model()
    _, report = pack_bytes(qm)
    names = sum(len(n) for n in [*qm.quantized, *qm.passthrough])
    assert report["manifest_bytes"] < names + 120  # config and meta JSON included, compressed
    assert report["container_bytes"] <= 40


def test_pack_rejects_bad_models():
    qm = make_model()
    name = "blocks.0.attn.c_q.weight"
    qm.quantized[name].codes[0, 0] = grid_max(7) + 1
    with pytest.raises(GolfError, match="grid"):
        pack_bytes(qm)
    qm = make_model()
    qm.quantized[name].role = "weird"
    with pytest.raises(GolfError, match="role"):
        pack_bytes(qm)
    qm = make_model()
    qm.quantized[name].scales = qm.quantized[name].scales[:-1]
    with pytest.raises(GolfError, match="scales"):
        pack_bytes(qm)
    with pytest.raises(GolfError, match="codec"):
        pack_bytes(make_model(), "gzip")


def test_read_rejects_non_artifacts(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"hello world, not an artifact")
    assert not is_artifact(tmp_path / "x.bin") and not is_artifact(tmp_path / "missing.bin")
    with pytest.raises(FormatError, match="magic"):
        read_artifact(tmp_path / "x.bin")
    with pytest.raises(GolfError, match="not found"):
        read_artifact(tmp_path / "missing.bin")


def _two_spreads(shape: tuple[int, int], bits: int, axis: int, seed: int) -> np.ndarray:
    """Gaussian codes whose rows (axis 0) or columns (axis 1) have code spread 3 or 12 at random."""
    rng = np.random.default_rng(seed)
    spread = np.where(rng.random(shape[axis]) < 0.5, 3.0, 12.0)
    sigma = spread[:, None] if axis == 0 else spread[None, :]
    g = grid_max(bits)
    return np.clip(np.round(rng.standard_normal(shape) * sigma), -g, g).astype(np.int8)


def _class_bound_bytes(codes: np.ndarray, axis: int) -> float:
    """Order-0 bound of the codes split by their true spread class (what classing can reach)."""
    lines = codes if axis == 0 else codes.T
    wide = np.array([np.abs(line).mean() > 5 for line in lines])
    return sum(rans.entropy_bits(rans.symbol_counts(lines[m])[1]) for m in (wide, ~wide)) / 8


@pytest.mark.parametrize("axis", [0, 1])
def test_line_classes_beat_order0_when_lines_differ(axis):
    mats = [_two_spreads((192, 256), 6, axis, 0), _two_spreads((256, 128), 6, axis, 1)]
    order0, _ = encode_codes([m.reshape(-1) for m in mats])
    classed, shares = encode_classed_codes(mats, [6, 6])
    bound = sum(_class_bound_bytes(m, axis) for m in mats)
    assert len(classed) < 0.93 * len(order0)  # ~7% smaller: two spreads coded apart
    assert len(classed) < 1.01 * bound  # and within 1% of coding the true classes apart
    assert sum(shares) == pytest.approx(len(classed), abs=1.0)
    plan, _ = classes.plan_classes(mats, [6, 6])
    assert plan.axes == [classes.ROWS if axis == 0 else classes.COLUMNS] * 2
    decoded = decode_classed_codes(classed, [m.shape for m in mats], "codes")
    assert all(np.array_equal(m.reshape(-1), d) for m, d in zip(mats, decoded))


def test_line_classes_cost_little_on_alike_lines():
    mats = [_codes(256 * 128, 5, "laplace", 7).reshape(256, 128), _codes(64 * 512, 7, "gauss", 8).reshape(64, 512)]
    order0, _ = encode_codes([m.reshape(-1) for m in mats])
    classed, _ = encode_classed_codes(mats, [5, 7])
    assert len(classed) < 1.01 * len(order0)


def test_rans_with_per_symbol_tables_round_trips_and_detects_damage():
    rng = np.random.default_rng(3)
    streams = [_codes(3000, 5, "laplace", 4), _codes(777, 8, "gauss", 5), np.zeros(0, np.int8)]
    tables, _ = build_tables([np.concatenate(streams), streams[0]])  # table 1 covers only stream 0's codes
    ids = [rng.integers(0, 2, s.size) for s in streams[:1]] + [np.zeros(s.size, np.int64) for s in streams[1:]]
    for steps in (1, 16, 4096):
        states, words, _ = rans.encode(streams, tables, steps=steps, table_ids=ids)
        out = rans.decode(states, words, [s.size for s in streams], tables, steps=steps, table_ids=ids)
        assert all(np.array_equal(s, o) for s, o in zip(streams, out))
    with pytest.raises(ValueError, match="no frequency"):  # stream 1 has codes table 1 lacks
        rans.encode(streams, tables, table_ids=[ids[0], np.ones(777, np.int64), ids[2]])
    wrong = [1 - ids[0], *ids[1:]]  # decoding under other tables never returns to the initial states
    with pytest.raises(rans.RansError):
        rans.decode(states, words, [s.size for s in streams], tables, steps=4096, table_ids=wrong)


def test_classed_codes_reject_damaged_side_info():
    mats = [_two_spreads((32, 64), 6, 0, 9)]
    payload, _ = encode_classed_codes(mats, [6])
    for shape in [(32, 64), (64, 32), (31, 64)]:
        if shape != (32, 64):
            with pytest.raises(FormatError):
                decode_classed_codes(payload, [shape], "codes")
    for cut in (1, 5, len(payload) // 2, len(payload) - 1):
        with pytest.raises(FormatError):
            decode_classed_codes(payload[:cut], [(32, 64)], "codes")


def test_classed_codes_reject_forged_side_blocks():
    from golfcli.artifact.codes import payload_bytes, table_bytes
    from golfcli.artifact.format import write_varint

    codes = np.array([[1, -1, 0, 2], [0, 0, 1, -2]], np.int8)
    tables, _ = build_tables([codes.reshape(-1)])
    empty = rans.Table(0, np.zeros(0, np.int64))
    states, words, _ = rans.encode([codes.reshape(-1)], tables, table_ids=[np.zeros(8, np.int64)])

    def payload(tabs, axis, ids):
        side = bytearray()
        write_varint(side, len(tabs))
        side += table_bytes(tabs)
        side.append(axis)
        for t in ids:
            write_varint(side, t)
        return payload_bytes(rans.DEFAULT_PREC, 13, bytes(side), states, words)[0]

    good = decode_classed_codes(payload(tables, 1, [0, 0]), [(2, 4)], "codes")
    assert np.array_equal(good[0], codes.reshape(-1))
    for tabs, axis, ids, message in [
        (tables, 3, [0, 0], "axis"),  # neither rows nor columns
        (tables, 1, [0, 1], "limit"),  # a table id past the last table
        ([*tables, empty], 1, [0, 1], "empty"),  # a line coded with an empty table
        (tables, 2, [0, 0], "truncated"),  # columns need four ids, two are there
        (tables, 1, [0, 0, 0], "trailing"),  # one id too many
    ]:
        with pytest.raises(FormatError, match=message):
            decode_classed_codes(payload(tabs, axis, ids), [(2, 4)], "codes")


def test_more_tensors_than_rans_tables():
    shapes = [(f"blocks.{i}.mlp.fc.weight", (2, 3), 5, "gauss") for i in range(rans.MAX_TABLES + 1)]
    qm = make_model(6, shapes)
    with pytest.raises(GolfError, match="at most 512 tensors"):
        pack_bytes(qm, "rans")
    blob, report = pack_bytes(qm, "auto")
    assert "rans" not in report["sections"][1]["candidates"]  # order-0 would need 513 tables
    assert_same_model(qm, decode_artifact(blob))
