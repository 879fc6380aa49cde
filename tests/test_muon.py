"""Muon: Newton–Schulz orthogonalisation, Nesterov momentum, decoupled weight decay, shape scale."""

from __future__ import annotations

import math

import pytest
import torch

from golfcli.train.muon import NS_COEFFS, Muon, newton_schulz5, shape_scale



def test_ns_coefficients_are_the_specs():
    assert NS_COEFFS == (3.4445, -4.7750, 2.0315)


@pytest.mark.parametrize("shape", [(32, 32), (96, 32), (32, 96)])
def test_newton_schulz_flattens_singular_values(shape):
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    s_in = torch.linalg.svdvals(g)
    assert s_in.max() / s_in.min() > 3  # a badly conditioned input...
    s = torch.linalg.svdvals(newton_schulz5(g))
    # ...comes out with every singular value in the quintic's band around 1
    assert s.min() > 0.55 and s.max() < 1.25
    assert newton_schulz5(g).shape == g.shape


def test_newton_schulz_is_scale_invariant_and_batched():
    g = torch.randn(3, 16, 24, generator=torch.Generator().manual_seed(1))
    batched = newton_schulz5(g)
    one = torch.stack([newton_schulz5(m) for m in g])
    torch.testing.assert_close(batched, one, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(newton_schulz5(g * 1000), batched, rtol=1e-4, atol=1e-5)


def _manual_ns(u):
    a, b, c = NS_COEFFS
    x = u / (u.norm() + 1e-7)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    for _ in range(5):
        A = x @ x.T
        x = a * x + (b * A + c * A @ A) @ x
    return x.T if tall else x


def test_muon_two_steps_match_the_formula():
    gen = torch.Generator().manual_seed(2)
    w0 = torch.randn(12, 4, generator=gen)
    grads = [torch.randn(12, 4, generator=gen) for _ in range(2)]
    p = torch.nn.Parameter(w0.clone())
    lr, wd, mu = 0.05, 0.1, 0.9
    opt = Muon([p], lr=lr, momentum=mu, weight_decay=wd)
    w, buf = w0.clone(), torch.zeros_like(w0)
    for g in grads:
        p.grad = g.clone()
        opt.step()
        buf = mu * buf + g
        u = g + mu * buf
        w = w * (1 - lr * wd) - lr * math.sqrt(12 / 4) * _manual_ns(u)
    torch.testing.assert_close(p.detach(), w, rtol=1e-5, atol=1e-6)


def test_shape_scale_and_matrix_only():
    assert shape_scale(torch.zeros(1536, 512)) == pytest.approx(math.sqrt(3))
    assert shape_scale(torch.zeros(512, 1536)) == 1.0
    with pytest.raises(ValueError):
        Muon([torch.nn.Parameter(torch.zeros(5))])


def test_params_without_grad_are_left_alone():
    a, b = torch.nn.Parameter(torch.ones(4, 4)), torch.nn.Parameter(torch.ones(4, 4))
    opt = Muon([a, b], lr=0.1, weight_decay=0.5)
    a.grad = torch.eye(4)
    opt.step()
    assert torch.equal(b.detach(), torch.ones(4, 4))
    assert not torch.equal(a.detach(), torch.ones(4, 4))
