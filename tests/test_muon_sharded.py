"""Banked Muon: batched Newton–Schulz, MuonEq-R, and the sharded step on 2 gloo ranks vs one process."""

from __future__ import annotations

import pytest
import torch

from gloo_ranks import launch
from golfcli.train.distributed import DistInfo, clip_factor
from golfcli.train.muon import Muon, newton_schulz5, row_normalize

# Shapes with counts that do not divide by 2 ranks, so banks are padded; one tall, one wide.
SHAPES = [(8, 8)] * 3 + [(12, 4)] * 2 + [(4, 12)] * 1
STEPS = 3


def _weights():
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(*s, generator=gen) for s in SHAPES]


def _local_grads(rank: int, step: int):
    gen = torch.Generator().manual_seed(100 * step + rank)
    return [torch.randn(*s, generator=gen) for s in SHAPES]


def _single_process(row_norm: bool, clip: float) -> list[torch.Tensor]:
    params = [torch.nn.Parameter(w.clone()) for w in _weights()]
    opt = Muon(params, lr=0.05, momentum=0.9, weight_decay=0.1, row_normalize=row_norm)
    for step in range(STEPS):
        for p, a, b in zip(params, _local_grads(0, step), _local_grads(1, step)):
            p.grad = (a + b) / 2
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
    return [p.detach() for p in params]


RUNS = [(False, 0.0, "float32"), (True, 0.5, "float32"), (False, 0.0, "bfloat16")]  # row_norm, clip, comm


def _rank_main(rank: int, outs: list[str]) -> None:
    """Every run of RUNS on this rank, in one gloo group (one launch pays the two torch imports once)."""
    for (row_norm, clip, comm), out in zip(RUNS, outs):
        _sharded_run(rank, row_norm, clip, comm, out)


def _sharded_run(rank: int, row_norm: bool, clip: float, comm: str, out: str) -> None:
    params = [torch.nn.Parameter(w.clone()) for w in _weights()]
    opt = Muon(params, lr=0.05, momentum=0.9, weight_decay=0.1, rank=rank, world_size=2,
               row_normalize=row_norm, comm_dtype=getattr(torch, comm))
    assert opt.sharded
    for step in range(STEPS):
        for p, g in zip(params, _local_grads(rank, step)):
            p.grad = g
        opt.reduce_gradients()
        scale = clip_factor([], opt.local_grad_sq(), clip, DistInfo(rank, 2)) if clip else None
        opt.step(grad_scale=scale)
    opt.gather_state()
    if rank == 0:
        from safetensors.torch import save_file

        tensors = {f"w{i}": p.detach().contiguous() for i, p in enumerate(params)}
        tensors.update({f"m{i}": opt.state[p]["momentum_buffer"].contiguous() for i, p in enumerate(params)})
        save_file(tensors, out)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> dict[tuple, dict[str, torch.Tensor]]:
    """{(row_norm, clip, comm): rank 0's weights and momenta} from one launch of 2 gloo ranks."""
    from safetensors.torch import load_file

    folder = tmp_path_factory.mktemp("sharded-muon")
    outs = [str(folder / f"run{i}.safetensors") for i in range(len(RUNS))]
    launch(_rank_main, outs, outputs=outs)
    return {run: load_file(out) for run, out in zip(RUNS, outs)}


def test_batched_newton_schulz_equals_per_matrix():
    gen = torch.Generator().manual_seed(3)
    for shape in [(5, 64, 64), (4, 96, 32), (3, 32, 96)]:
        g = torch.randn(*shape, generator=gen)
        batched = newton_schulz5(g)
        one = torch.stack([newton_schulz5(m) for m in g])
        # float32: the batched and single matmuls may sum in another order; 1e-5 relative is ~100 ulps
        torch.testing.assert_close(batched, one, rtol=1e-5, atol=1e-6)


def test_banked_muon_equals_a_per_matrix_loop():
    params = [torch.nn.Parameter(w.clone()) for w in _weights()]
    opt = Muon(params, lr=0.05, momentum=0.9, weight_decay=0.1)
    ws, bufs = [w.clone() for w in _weights()], [torch.zeros(s) for s in SHAPES]
    for step in range(STEPS):
        grads = _local_grads(0, step)
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
        for i, g in enumerate(grads):
            bufs[i] = 0.9 * bufs[i] + g
            u = newton_schulz5(g + 0.9 * bufs[i])
            scale = max(1.0, SHAPES[i][0] / SHAPES[i][1]) ** 0.5
            ws[i] = ws[i] * (1 - 0.05 * 0.1) - 0.05 * scale * u
    for p, w in zip(params, ws):
        torch.testing.assert_close(p.detach(), w, rtol=1e-5, atol=1e-6)
    assert len(opt._banks[0]) == 3  # one bank per shape


def test_row_normalize_is_muoneq_r():
    u = torch.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    torch.testing.assert_close(row_normalize(u), torch.tensor([[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]]))
    p = torch.nn.Parameter(torch.zeros(8, 8))
    q = torch.nn.Parameter(torch.zeros(8, 8))
    g = torch.randn(8, 8, generator=torch.Generator().manual_seed(4)) * torch.arange(1, 9.0)[:, None]
    plain, eq = Muon([p], lr=1.0, momentum=0.0), Muon([q], lr=1.0, momentum=0.0, row_normalize=True)
    p.grad, q.grad = g.clone(), g.clone()
    plain.step(), eq.step()
    torch.testing.assert_close(q.detach(), -newton_schulz5(row_normalize(g)))
    assert not torch.allclose(p.detach(), q.detach(), atol=1e-3)


@pytest.mark.parametrize("row_norm,clip", [(False, 0.0), (True, 0.5)])
def test_sharded_muon_on_two_gloo_ranks_equals_one_process(sharded, row_norm, clip):
    expected = _single_process(row_norm, clip)
    got = sharded[(row_norm, clip, "float32")]
    moved = max((e - w).abs().max().item() for e, w in zip(expected, _weights()))
    assert moved > 0.01
    for i, e in enumerate(expected):
        torch.testing.assert_close(got[f"w{i}"], e, rtol=1e-5, atol=1e-6)
    # after gather_state rank 0 holds the momentum of every matrix, also those rank 1 owned
    assert all(got[f"m{i}"].abs().sum() > 0 for i in range(len(SHAPES)))


def test_sharded_muon_with_bf16_communication_is_close(sharded):
    expected = _single_process(False, 0.0)
    got = sharded[(False, 0.0, "bfloat16")]
    worst = max((got[f"w{i}"] - e).abs().max().item() for i, e in enumerate(expected))
    # bf16 gradients and updates (8 mantissa bits): lr·|update| ≈ 0.05·0.5, rounded at 2^-8 relative
    assert 0 < worst < 2e-3
