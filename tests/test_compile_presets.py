"""Every preset's training and eval forwards compile as one graph each (fullgraph, aot_eager on CPU).

Each preset is built at a CPU-test width (test_model.small: every option that is on stays on), so
the graphs have the preset's structure while tracing and running them stays cheap. Presets that are
the same model at that width (record-1493 and its sp1024 variant differ only in vocabulary) trace
the same graphs, so each such group is compiled once."""

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


def _structures() -> dict[str, str]:
    """{"a+b": a} for each group of presets whose test-width model and QAT mode are the same."""
    groups: dict[str, list[str]] = {}
    for name in list_presets():
        cfg = load_config(name)
        groups.setdefault(repr((small(cfg.model), cfg.train.qat_mode)), []).append(name)
    return {"+".join(names): names[0] for names in groups.values()}


STRUCTURES = _structures()


def test_every_preset_is_in_one_compiled_group():
    assert sorted(n for group in STRUCTURES for n in group.split("+")) == sorted(list_presets())


@pytest.mark.parametrize("preset", list(STRUCTURES.values()), ids=list(STRUCTURES))
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
