"""LR warmdown (wallclock and steps) and Muon momentum warmup."""

from __future__ import annotations

import pytest

from golfcli.config import TrainConfig
from golfcli.errors import GolfError
from golfcli.train.schedule import Schedule, muon_momentum


def test_wallclock_warmdown_follows_the_record_rule():
    s = Schedule.from_config(TrainConfig(max_seconds=600.0, warmdown_iters=3500))
    assert s.clock == "time"
    # 100 ms/step: the warmdown spans 350 s, so it starts at 250 s
    assert s.lr_scale(2000, 200.0) == 1.0
    assert s.lr_scale(3000, 300.0) == pytest.approx((600 - 300) / (3500 * 0.1))
    assert s.lr_scale(5000, 500.0) == pytest.approx(100 / 350)
    assert s.lr_scale(6000, 600.0) == 0.0
    assert s.lr_scale(0, 0.0) == 1.0
    assert s.progress(10, 150.0) == pytest.approx(0.25)


def test_step_warmdown_and_fraction():
    s = Schedule.from_config(TrainConfig(warmdown_clock="steps", iterations=100, warmdown_iters=20))
    assert [s.lr_scale(k, 0.0) for k in (0, 80, 90, 100, 120)] == [1.0, 1.0, 0.5, 0.0, 0.0]
    f = Schedule.from_config(TrainConfig(warmdown_clock="steps", iterations=100, warmdown_fraction=0.72))
    assert f.lr_scale(28, 0.0) == pytest.approx(1.0)
    assert f.lr_scale(64, 0.0) == pytest.approx(0.5)
    t = Schedule.from_config(TrainConfig(max_seconds=100.0, warmdown_fraction=0.5))
    assert t.lr_scale(1, 75.0) == pytest.approx(0.5)


def test_no_time_cap_means_steps():
    s = Schedule.from_config(TrainConfig(warmdown_clock="time", iterations=10, warmdown_iters=5), max_seconds=0)
    assert s.clock == "steps" and s.lr_scale(8, 123.0) == pytest.approx(0.4)
    with pytest.raises(GolfError, match="warmdown_clock"):
        Schedule.from_config(TrainConfig(warmdown_clock="wall"))


def test_momentum_warmup():
    assert muon_momentum(0, 0.92, 0.99, 1500) == pytest.approx(0.92)
    assert muon_momentum(750, 0.92, 0.99, 1500) == pytest.approx(0.955)
    assert muon_momentum(5000, 0.92, 0.99, 1500) == pytest.approx(0.99)
    assert muon_momentum(3, 0.85, 0.95, 0) == 0.95
