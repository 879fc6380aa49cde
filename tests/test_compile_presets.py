"""Every preset's training and eval forwards compile as one graph each (fullgraph, aot_eager on CPU).

Each preset is built at a CPU-test width (test_model.small: every option that is on stays on), so
the graphs have the preset's structure while tracing and running them stays cheap."""

from __future__ import annotations

import pytest
import torch

from golfcli.config import list_presets, load_config
from golfcli.model import GPT
from golfcli.train.qat import export_bits
from test_model import small

# dynamo finds the graph breaks; the "eager" backend runs what it captured without AOT-tracing
# backward, which keeps 7 presets × phases cheap (the bench traces record-1204 with aot_eager)
BACKEND = "eager"


@pytest.mark.parametrize("preset", list_presets())
def test_preset_compiles_with_no_graph_breaks(preset):
    import torch._dynamo as dynamo
    from torch._dynamo.utils import counters

    cfg = load_config(preset)
    torch.manual_seed(0)
    model = GPT(small(cfg.model))
    dynamo.reset()
    counters.clear()
    # fullgraph=True raises on any graph break, so getting through is the assertion
    compiled = torch.compile(model, backend=BACKEND, fullgraph=True, dynamic=False)
    x = torch.randint(0, model.cfg.vocab_size, (1, 16), generator=torch.Generator().manual_seed(0))
    modes = ["off"] + ([cfg.train.qat_mode] if cfg.train.qat_mode != "off" else [])
    for phase in range(model.num_phases):
        model.set_phase(phase, copy_untied=True)
        for mode in modes:
            model.set_qat(mode, export_bits(cfg.quant), seed=0)
            loss = compiled(x, x)
            loss.backward()
            torch.testing.assert_close(loss, model(x, x))  # the compiled graph computes the eager loss
    model.eval()
    with torch.inference_mode():
        torch.testing.assert_close(compiled(x), model(x))
    assert sum(counters["graph_break"].values()) == 0
    # one graph per phase × QAT mode for training, one for evaluation
    assert counters["stats"]["unique_graphs"] == model.num_phases * len(modes) + 1
    dynamo.reset()
