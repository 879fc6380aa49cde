"""Eval without per-batch host syncs: the masked device sums equal the indexed per-target path."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from eval_helpers import TinyCausalLM, byte_tables, repetitive_stream, small_cfg
from golfcli.eval import plan_for
from golfcli.eval.forward import WindowScorer
from golfcli.metric import BpbMeter

SYNCING = {torch.ops.aten.nonzero.default, torch.ops.aten.masked_select.default}


class Ops(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.seen: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.append((func, args))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("mode", ["standard", "sliding"])
def test_device_sums_equal_the_indexed_path_and_do_not_sync(mode):
    tokens = repetitive_stream(700)
    cfg = small_cfg()
    tables = byte_tables()
    model = TinyCausalLM().eval()
    scorer = WindowScorer(model, tokens, cfg.batch_seqs)
    plan = plan_for(mode, tokens.numel(), cfg)
    meter, sums = BpbMeter(), torch.zeros(3, dtype=torch.float64)
    per_target = torch.zeros(tokens.numel())
    expected_nll = torch.zeros(tokens.numel() - 1)
    batches = plan.batches(cfg.batch_seqs)
    assert len(batches) > 2 and len(batches[-1]) < cfg.batch_seqs  # a short last batch is covered
    for batch in batches:
        out = scorer.score(batch)
        meter.add(out.nll, tokens[out.slots], tokens[out.slots + 1], tables)
        expected_nll[out.slots] = out.nll
        ops = Ops()
        with ops:
            sums += scorer.score_sums(batch, tables, per_target)
        assert not [f for f, _ in ops.seen if f in SYNCING]
        bool_index = [f for f, a in ops.seen if f is torch.ops.aten.index.Tensor
                      and any(t is not None and t.dtype == torch.bool for t in a[1])]
        assert not bool_index
        # the only scalar reads are of the host-side plan (window width, first scored column)
        assert sum(f is torch.ops.aten._local_scalar_dense.default for f, _ in ops.seen) == 2
    assert sums[1].item() == meter.tokens == tokens.numel() - 1
    assert sums[2].item() == meter.bytes
    torch.testing.assert_close(sums[0].item(), float(meter.sums[0]), rtol=1e-12, atol=0)
    assert torch.equal(per_target[:-1], expected_nll)
