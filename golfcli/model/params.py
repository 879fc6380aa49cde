"""Parameter accounting for `golf params`: totals by component and by optimizer group."""

from __future__ import annotations

from typing import Any

import torch

from golfcli.config.model import ModelConfig

# Top-level module/parameter name → the component it is reported under.
COMPONENTS = {
    "tok_emb": "embed", "lm_head": "embed",
    "bigram": "bigram", "smear": "smear",
    "ve_shared": "value_embed", "ve_layer_scales": "value_embed", "value_embeds": "value_embed",
    "value_scales": "value_embed",
    "repeat_mlp": "repeat_mlp", "controls": "block_scalars",
    "skip_weights": "skips", "skip_gates": "skips",
    "parallel_post_lambdas": "parallel", "parallel_resid_lambdas": "parallel",
    "loop_embed": "loop", "repeat_embed": "loop", "cross_repeat_scales": "loop", "adapters": "loop",
    "film_gamma": "loop", "film_beta": "loop", "lora": "lora",
}


def component_of(name: str) -> str:
    """The report group of a parameter name (attn and mlp for the physical blocks' matrices)."""
    parts = name.split(".")
    if parts[0] == "blocks":
        return parts[2]  # blocks.P.attn.* / blocks.P.mlp.*
    return COMPONENTS.get(parts[0], "other")


def param_report(cfg: ModelConfig) -> dict[str, Any]:
    """{"total", "groups" (by component), "optimizer" (matrix/embed/scalar), "layers" (phase maps)}.

    The model is built on the meta device, so no memory is used and nothing is initialized.
    """
    from golfcli.model.gpt import GPT

    with torch.device("meta"):
        model = GPT(cfg)
    groups: dict[str, int] = {}
    optimizer = {"matrix": 0, "embed": 0, "scalar": 0}
    for name, p in model.named_parameters():
        groups[component_of(name)] = groups.get(component_of(name), 0) + p.numel()
        optimizer[model.group_of(name, p)] += p.numel()
    order = ["embed", "attn", "mlp", "repeat_mlp", "block_scalars", "skips", "parallel", "bigram", "smear",
             "value_embed", "loop", "lora", "other"]
    return {
        "total": model.num_params(),
        "groups": {k: groups[k] for k in order if k in groups},
        "optimizer": optimizer,
        "layers": model.schedule.describe(),
    }
