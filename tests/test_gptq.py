"""GPTQ, RTN, clip rules, size estimates and the bit planner on plain tensors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from golfcli.errors import GolfError
from golfcli.qtensor import grid_max
from golfcli.quant.clip import ClipRule, SEARCH_PERCENTILES, candidate_clips, parse_clip, row_quantiles, scales_for
from golfcli.quant.gptq import gptq_codes, prepare_hessian
from golfcli.quant.plan import PlanOption, lower_hull, plan_bits
from golfcli.quant.rtn import rtn_codes
from golfcli.quant.size import code_entropy_bits, codes_bytes, quantized_bytes
from golfcli.quant.tensor import quantize_tensor, weighted_row_error


def correlated_problem(rows=48, cols=64, tokens=512, seed=0):
    """A weight and the Hessian of correlated, unevenly scaled inputs (like real activations)."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(cols, cols, generator=g) / math.sqrt(cols) + torch.eye(cols)
    x = torch.randn(tokens, cols, generator=g) @ mix * torch.linspace(0.2, 3.0, cols)
    h = x.T @ x / tokens
    w = torch.randn(rows, cols, generator=g) * 0.05
    return w, h


def reference_gptq(w, h, scales, qmax, damp=0.01):
    """Textbook GPTQ without blocks, Cholesky or act-order: explicit inverse-Hessian downdates."""
    w = w.double().clone()
    h = h.double().clone()
    h += damp * h.diagonal().mean() * torch.eye(h.shape[0], dtype=torch.float64)
    hinv = torch.linalg.inv(h)
    codes = torch.zeros_like(w)
    for j in range(w.shape[1]):
        q = torch.clamp(torch.round(w[:, j] / scales), -qmax, qmax)
        codes[:, j] = q
        e = (w[:, j] - q * scales) / hinv[j, j]
        w[:, j + 1:] -= e[:, None] * hinv[j, j + 1:][None]
        hinv = hinv - hinv[:, j:j + 1] @ hinv[j:j + 1, :] / hinv[j, j]
    return codes


def test_upper_factor_is_cholesky_of_damped_inverse():
    _, h = correlated_problem(cols=32)
    prep = prepare_hessian(h, damp=0.01, act_order=True)
    hp = h.double()[prep.perm][:, prep.perm]
    damped = hp + 0.01 * hp.diagonal().mean() * torch.eye(32, dtype=torch.float64)
    u = prep.u.double()
    assert torch.allclose(u, u.triu())
    assert torch.allclose(u.T @ u, torch.linalg.inv(damped), rtol=1e-4, atol=1e-6)
    assert prep.damp == 0.01 and prep.retries == 0
    diag = h.diagonal()[prep.perm]
    assert bool((diag[:-1] >= diag[1:]).all()), "act-order processes the largest diag(H) first"


def test_gptq_matches_textbook_algorithm_for_any_block_size():
    w, h = correlated_problem(rows=16, cols=40)
    scales = torch.full((16,), 0.01)
    qmax = torch.full((16,), 7.0)
    expected = reference_gptq(w, h, scales.double(), 7.0)
    prep = prepare_hessian(h, damp=0.01, act_order=False)
    for block in (1, 7, 128):
        codes, _ = gptq_codes(w, prep, scales, qmax, block=block)
        agree = (codes.double() == expected).float().mean().item()
        assert agree > 0.995, f"block {block}: only {agree:.3f} of codes agree"


def test_lazy_blocks_do_not_change_the_result():
    w, h = correlated_problem(rows=32, cols=96)
    prep = prepare_hessian(h)
    scales = w.abs().amax(dim=1) / 15
    qmax = torch.full((32,), 15.0)
    a, _ = gptq_codes(w, prep, scales, qmax, block=1)
    b, _ = gptq_codes(w, prep, scales, qmax, block=32)
    assert (a == b).float().mean() > 0.999


def test_gptq_beats_rtn_on_hessian_weighted_error():
    w, h = correlated_problem()
    for bits in (3, 4, 5, 6):
        scales = w.abs().amax(dim=1) / grid_max(bits)
        qmax = torch.full((w.shape[0],), float(grid_max(bits)))
        g, _ = gptq_codes(w, prepare_hessian(h), scales, qmax)
        r = rtn_codes(w, scales, qmax)
        err_g = weighted_row_error(w - g * scales[:, None], h).sum()
        err_r = weighted_row_error(w - r * scales[:, None], h).sum()
        assert err_g < 0.8 * err_r, f"int{bits}: gptq {err_g:.3g} vs rtn {err_r:.3g}"
        assert g.abs().max() <= grid_max(bits) and g.eq(g.round()).all()


def test_dead_columns_get_zero_codes():
    w, h = correlated_problem(cols=24)
    h[5, :] = 0
    h[:, 5] = 0
    h[11, :] = 0
    h[:, 11] = 0
    prep = prepare_hessian(h)
    assert prep.dead.nonzero().flatten().tolist() == [5, 11]
    codes, _ = gptq_codes(w, prep, torch.full((w.shape[0],), 1e-3), torch.full((w.shape[0],), 31.0))
    assert codes[:, [5, 11]].abs().sum() == 0
    assert codes[:, 0].abs().sum() > 0


def test_damping_rises_until_cholesky_succeeds():
    h = torch.tensor([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and −1: needs damping > 1
    prep = prepare_hessian(h, damp=0.01)
    assert prep.retries >= 3 and prep.damp >= 1.0
    with pytest.raises(GolfError):
        prepare_hessian(torch.tensor([[1.0, 1e12], [1e12, 1.0]]), damp=0.01)


def test_rtn_rounds_to_nearest_inside_the_grid():
    w = torch.tensor([[0.26, -0.74, 1.0, -3.0]])
    codes = rtn_codes(w, torch.tensor([0.5]), torch.tensor([3.0]))
    assert codes.tolist() == [[1.0, -1.0, 2.0, -3.0]]


def test_parse_clip():
    assert parse_clip("search") == ClipRule("search")
    assert parse_clip("sdclip:12.85") == ClipRule("sdclip", 12.85)
    assert parse_clip("percentile:0.9999") == ClipRule("percentile", 0.9999)
    assert parse_clip("percentile:99.9") == ClipRule("percentile", 0.999)
    for bad in ("mse", "sdclip", "sdclip:-1", "percentile:0", "percentile:abc", "percentile:150"):
        with pytest.raises(GolfError):
            parse_clip(bad)


def test_clip_candidates():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(8, 1000, generator=g)
    q = row_quantiles(w, (0.5, 1.0))
    assert torch.allclose(q[1], w.abs().amax(dim=1))
    assert torch.allclose(q[0], w.abs().median(dim=1).values, rtol=0.02)
    assert candidate_clips(w, ClipRule("search")).shape == (len(SEARCH_PERCENTILES), 8)
    sd = candidate_clips(w, ClipRule("sdclip", 3.0))[0]
    assert torch.allclose(sd, 3.0 * w.std(dim=1))  # unbiased, as the records' SDClip
    s = scales_for(sd[None], 5)[0]
    assert torch.equal(s, s.half().float()), "scales are exactly representable in fp16"
    assert torch.allclose(s, sd / 15, rtol=1e-3)


def test_search_keeps_each_rows_best_clip():
    w, h = correlated_problem(rows=24, cols=64)
    w[0, 0] = 2.0  # an outlier row that wants clipping at low bits
    searched = quantize_tensor(w, [4], ClipRule("search"), h=h, method="gptq").options[4]
    for p in SEARCH_PERCENTILES:
        single = quantize_tensor(w, [4], ClipRule("percentile", p), h=h, method="gptq").options[4]
        assert searched.error <= single.error * (1 + 1e-6)
    full = quantize_tensor(w, [4], ClipRule("percentile", 1.0), h=h, method="gptq").options[4]
    assert searched.error < full.error


def test_quantize_tensor_reports_consistent_errors_and_sizes():
    w, h = correlated_problem(rows=40, cols=64)
    result = quantize_tensor(w, [4, 6, 8], ClipRule("search"), h=h, method="gptq")
    assert result.method == "gptq" and result.weighted
    errors = []
    for bits, opt in result.options.items():
        assert opt.codes.dtype == torch.int8 and opt.scales.dtype == torch.float16
        assert opt.codes.abs().max() <= grid_max(bits)
        deq = opt.codes.float() * opt.scales.float()[:, None]
        assert opt.error == pytest.approx(float(weighted_row_error(w - deq, h).sum()), rel=1e-4)
        assert opt.sq_error == pytest.approx(float(((w - deq) ** 2).sum()), rel=1e-4)
        assert opt.bytes == quantized_bytes(opt.codes)
        errors.append(opt.error)
    assert errors[0] > errors[1] > errors[2]
    assert result.options[4].bytes < result.options[6].bytes < result.options[8].bytes
    assert result.reference == pytest.approx(float(weighted_row_error(w, h).sum()), rel=1e-5)
    rtn = quantize_tensor(w, [4], ClipRule("search"), h=None, method="gptq")
    assert rtn.method == "rtn" and not rtn.weighted


def test_entropy_estimate():
    codes = torch.tensor([0, 1, 2, 3] * 250, dtype=torch.int8)
    assert code_entropy_bits(codes) == pytest.approx(2000.0)
    assert codes_bytes(codes) == 250 + 8 + 2 * 4
    assert code_entropy_bits(torch.zeros(100, dtype=torch.int8)) == 0.0
    g = torch.Generator().manual_seed(0)
    gauss = torch.clamp(torch.round(torch.randn(200_000, generator=g) / 0.41), -31, 31)
    bits_per = code_entropy_bits(gauss) / gauss.numel()
    assert 2.05 + math.log2(1 / 0.41) - 0.05 < bits_per < 2.05 + math.log2(1 / 0.41) + 0.05


def test_lower_hull_drops_dominated_and_concave_points():
    opts = [PlanOption(4, 100, 10.0), PlanOption(5, 200, 9.9), PlanOption(6, 300, 2.0), PlanOption(7, 400, 3.0)]
    assert [o.bits for o in lower_hull(opts)] == [4, 6]


def test_planner_fits_budget_and_is_near_optimal():
    g = torch.Generator().manual_seed(3)
    options = {}
    for t in range(4):
        n = int(torch.randint(1000, 5000, (1,), generator=g))
        a = float(torch.rand(1, generator=g)) * 10 + 0.1
        options[f"t{t}"] = [PlanOption(b, int(n * (b - 2.5) / 8), a * n * 4.0 ** -b) for b in range(4, 9)]
    names = sorted(options)
    lo = sum(min(o.bytes for o in options[n]) for n in names)
    hi = sum(max(o.bytes for o in options[n]) for n in names)
    for budget in range(lo, hi + 1, max((hi - lo) // 23, 1)):
        plan = plan_bits(options, budget)
        spent = sum(p.bytes for p in plan.values())
        assert spent <= budget
        err = sum(p.error for p in plan.values())
        best = min(
            sum(c.error for c in combo)
            for combo in itertools.product(*(options[n] for n in names))
            if sum(c.bytes for c in combo) <= budget
        )
        assert err <= best * 1.6 + 1e-12, f"budget {budget}: greedy {err:.4g} vs optimum {best:.4g}"
    assert {p.bits for p in plan_bits(options, hi).values()} == {8}
    assert {p.bits for p in plan_bits(options, lo).values()} == {4}
    with pytest.raises(GolfError, match="cannot be met"):
        plan_bits(options, lo - 1)


def test_row_error_from_the_loop_is_the_damped_objective():
    w, h = correlated_problem(rows=12, cols=48)
    prep = prepare_hessian(h, damp=0.05)
    scales = w.abs().amax(dim=1) / 7
    codes, row_error = gptq_codes(w, prep, scales, torch.full((12,), 7.0), block=16)
    damped = h.double() + 0.05 * h.diagonal().mean().double() * torch.eye(48, dtype=torch.float64)
    diff = w.double() - codes.double() * scales.double()[:, None]
    assert torch.allclose(row_error, ((diff @ damped) * diff).sum(dim=1), rtol=1e-3)
