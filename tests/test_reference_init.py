"""golf's initialisation has each published script's distribution: the same tensors zeroed, the same
constants, and per-tensor standard deviations within 10% (orthogonal, normal or PyTorch-default schemes)."""

from __future__ import annotations

import pytest
import torch

from reference_scripts import banked_pairs, plain_pairs
from test_reference_models import baseline_pair, pr363_pair, record1204_pair, record1493_pair


def _tensor(model, name, index) -> torch.Tensor:
    t = dict(model.named_parameters())[name].detach()
    return t if index is None else t[index]


def init_mismatches(ref, golf, pairs) -> list[str]:
    """Pairs whose zero set, constant value or std differ between the two initialisations."""
    bad = []
    for rname, ridx, gname, gidx in pairs:
        r, g = _tensor(ref, rname, ridx).float(), _tensor(golf, gname, gidx).float()
        label = f"{rname}[{ridx}] ↔ {gname}"
        if (r == 0).all().item() != (g == 0).all().item():
            bad.append(f"{label}: zero in one only")
        elif r.numel() == 1 or r.std().item() == 0:
            if not torch.equal(r, g):
                bad.append(f"{label}: constant {r.flatten()[:3].tolist()} vs {g.flatten()[:3].tolist()}")
        elif abs(g.std().item() / r.std().item() - 1) > 0.10:
            bad.append(f"{label}: std {r.std().item():.4g} vs {g.std().item():.4g}")
    return bad


@pytest.mark.parametrize("script", ["baseline", "record-1204", "record-1493", "pr363"])
def test_golf_initialises_like_the_reference(script):
    if script == "baseline":
        _, ref, golf = baseline_pair()
        pairs = plain_pairs(ref)
    elif script == "record-1204":
        _, ref, golf = record1204_pair()
        pairs = banked_pairs(ref)
    elif script == "record-1493":
        _, _, ref, golf = record1493_pair()
        pairs = plain_pairs(ref)
    else:
        _, ref, golf = pr363_pair()
        pairs = plain_pairs(ref)
    assert init_mismatches(ref, golf, pairs) == []
