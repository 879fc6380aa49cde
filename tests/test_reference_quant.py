"""golf's GPTQ with SDClip equals record1493_train_gpt.py's `gptq_quantize_weight` code for code."""

from __future__ import annotations

import pytest
import torch

from golfcli.quant.clip import ClipRule
from golfcli.quant.tensor import quantize_tensor
from reference_scripts import load_script
from test_reference_models import RECORD1493_ENV, RECORD1493_MODEL_END

GPTQ_REGION = ("def gptq_quantize_weight(", "def gptq_mixed_quantize(")


@pytest.mark.parametrize("k, bits", [(12.85, 6), (20.0, 8)], ids=["matrices-int6", "embedding-int8"])
def test_sdclip_gptq_equals_the_record(k, bits):
    mod = load_script("record1493_train_gpt.py", env=RECORD1493_ENV, stop_at=RECORD1493_MODEL_END, extra=GPTQ_REGION)
    g = torch.Generator().manual_seed(0)
    w = torch.randn(96, 256, generator=g) * 0.05
    x = torch.randn(4096, 256, generator=g) @ (torch.eye(256) + 0.3 * torch.randn(256, 256, generator=g) / 16)
    h = x.T @ x / 4096  # correlated inputs: the error feedback matters
    codes, scales = mod.gptq_quantize_weight(w, h, clip_sigmas=k, clip_range=2 ** (bits - 1) - 1)
    ours = quantize_tensor(w, [bits], ClipRule("sdclip", k), h=h, method="gptq", damp=0.01, block=128,
                           act_order=True).options[bits]
    assert torch.equal(ours.scales.view(-1).half(), scales)
    assert torch.equal(ours.codes, codes)
