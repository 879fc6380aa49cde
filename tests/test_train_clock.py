"""TrainClock on a fake time source: pauses are off the clock, the budget stops the run, and the
ranks' agreement is read one step late."""

from __future__ import annotations

from golfcli.train.clock import TrainClock


class FakeTime:
    """A time source that moves only when told to."""

    def __init__(self) -> None:
        self.t = 100.0
        self.syncs = 0

    def __call__(self) -> float:
        return self.t

    def sync(self) -> None:
        self.syncs += 1


class Local:
    """One rank: the local time is the agreed time at once."""

    def agree(self, local: float) -> float:
        return local

    def settle(self) -> float:
        return 0.0


class Lagged:
    """Like distributed.LaggedClock over ranks whose slowest is `behind` seconds ahead: the max over
    ranks of the step before, and the initial value at the first step."""

    def __init__(self, start: float, behind: float) -> None:
        self.value, self.behind, self.pending, self.settled = start, behind, None, 0

    def agree(self, local: float) -> float:
        if self.pending is not None:
            self.value = self.pending
        self.pending = local + self.behind
        return self.value

    def settle(self) -> float:
        self.settled += 1
        return self.pending


def _clock(agreement, time: FakeTime, **kw) -> TrainClock:
    kw = {"budget": 0.0, "spent": 0.0, "iterations": 1000, **kw}
    return TrainClock(agreement, now=time, sync=time.sync, **kw)


def test_pauses_are_off_the_clock_and_a_resumed_run_counts_from_its_seconds():
    time = FakeTime()
    clock = _clock(Local(), time, spent=7.0)
    time.t += 2.0
    assert clock.tick() == 9.0
    with clock.paused():
        assert clock.spent == 9.0 and time.syncs == 1  # the device finished before the reading counts
        time.t += 50.0  # validation, a checkpoint
    time.t += 1.5
    assert clock.tick() == 10.5
    assert clock.lap() == 1.5  # the throughput window restarts after a pause, too
    time.t += 0.25
    assert clock.stop() == 10.75 and clock.elapsed == 10.75 and time.syncs == 2


def test_the_budget_stops_the_run_and_the_step_caps_come_first():
    time = FakeTime()
    # a 600 s wallclock less the export's 30 s reserve for GPTQ is the budget train() is given
    clock = _clock(Local(), time, budget=600.0 - 30.0, iterations=20_000)
    reasons = []
    for _ in range(6):
        time.t += 100.0
        clock.tick()
        reasons.append(clock.stop_reason(10))
    assert reasons == [None, None, None, None, None, "max_seconds"]  # 570 s reached at 600 s
    assert clock.stop_reason(20_000) == "iterations"
    capped = _clock(Local(), time, iterations=50, max_steps=8)
    assert [capped.stop_reason(s) for s in (7, 8, 50)] == [None, "max_steps", "iterations"]
    assert _clock(Local(), time, iterations=50, max_steps=80).stop_reason(50) == "iterations"
    assert _clock(Local(), time, spent=1e9).stop_reason(0) is None  # budget 0: no cap


def test_the_agreed_time_is_read_one_step_late_so_every_rank_stops_together():
    time = FakeTime()
    agreement = Lagged(start=0.0, behind=0.5)  # another rank is half a second further
    clock = _clock(agreement, time, budget=3.0)
    seen, stops = [], []
    for _ in range(5):
        time.t += 1.0
        seen.append(clock.tick())
        stops.append(clock.stop_reason(1))
    assert seen == [0.0, 1.5, 2.5, 3.5, 4.5]  # step k sees step k-1's max over ranks
    assert stops == [None, None, None, "max_seconds", "max_seconds"]  # one step after 3.0 s is crossed
    assert clock.stop() == 5.0 and agreement.settled == 1  # the last agreement is waited for; local seconds kept
