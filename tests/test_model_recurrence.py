"""The recurrence schedule: virtual→physical maps, skip pairing and phases equal the specs' lists."""

from __future__ import annotations

import dataclasses

import pytest

from golfcli.config import ModelConfig, load_config
from golfcli.model import RecurrenceSchedule


def schedule(preset: str, **changes) -> RecurrenceSchedule:
    return RecurrenceSchedule(dataclasses.replace(load_config(preset).model, **changes))


def test_record_1204_mini_recurrence():
    s = schedule("record-1204")
    assert s.num_phases == 2 and s.final_phase == 1
    assert s.layout(0).physical == list(range(11))
    full = s.layout(1)
    assert full.physical == [0, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 10]
    assert full.encoder == [0, 1, 2, 3, 4, 5] and full.decoder == [4, 5, 6, 7, 8, 9, 10]
    assert (len(s.layout(0).encoder), len(s.layout(0).decoder)) == (5, 6)
    assert s.num_skips == 6 and s.num_controls == 13 and s.num_repeat_mlps == 2
    assert [l.repeat_mlp for l in full.layers] == [-1] * 6 + [0, 1] + [-1] * 5
    assert [l.control for l in full.layers] == list(range(13))  # per-virtual scalars
    assert [l.index for l in full.layers if l.xsa] == list(range(2, 13))
    # XSA is fixed on virtual layers 2..12 of the full stack: phase 0 runs it on 2..10, not on 1
    assert [l.index for l in s.layout(0).layers if l.xsa] == list(range(2, 11))
    assert [l.index for l in full.layers if l.ve_slot >= 0] == [9, 10]
    assert [l.index for l in full.layers if l.physical >= 7] == [9, 10, 11, 12]  # parallel lanes
    # the last decoder layer gets no skip; slot 5 is unused before recurrence
    assert [l.skip_slot for l in full.layers] == [-1] * 6 + [0, 1, 2, 3, 4, 5, -1]
    assert [l.skip_slot for l in s.layout(0).layers] == [-1] * 5 + [0, 1, 2, 3, 4, -1]


def test_record_1204_switches_at_step_3000():
    s = schedule("record-1204")
    assert [s.phase_for(step, 0.9) for step in (0, 2999, 3000, 6000)] == [0, 0, 1, 1]


def test_loop_segment_matches_the_1_0810_record():
    s = schedule("loop-segment")
    full = s.layout(s.final_phase)
    assert full.encoder == [0, 1, 2, 3, 4, 5, 3, 4]
    assert full.decoder == [5, 3, 4, 5, 6, 7, 8, 9, 10]
    assert s.num_skips == 8
    assert s.layout(0).physical == list(range(11))
    assert [l.control for l in full.layers] == full.physical  # all per-block scalars shared
    assert [s.phase_for(0, f) for f in (0.0, 0.349, 0.35, 1.0)] == [0, 0, 1, 1]
    # all 11 blocks carry XSA, so every one of the 17 looped layers (and the 11 of phase 0) uses it
    assert all(l.xsa for l in full.layers) and all(l.xsa for l in s.layout(0).layers)


def test_xsa_index_modes_differ_only_under_recurrence():
    """Last 3 of 17: virtual → v 14..16; physical → blocks 8..10 (v 14..16 too); phase → v 8..10 in phase 0."""
    s = {m: schedule("loop-segment", xsa_last_n=3, xsa_index=m) for m in ("virtual", "physical", "phase")}
    assert [l.index for l in s["virtual"].full.layers if l.xsa] == [14, 15, 16]
    assert [l.index for l in s["virtual"].layout(0).layers if l.xsa] == []
    assert [l.index for l in s["phase"].layout(0).layers if l.xsa] == [8, 9, 10]
    assert [l.index for l in s["physical"].layout(0).layers if l.xsa] == [8, 9, 10]
    assert [l.physical for l in schedule("loop-segment", xsa_last_n=7, xsa_index="physical").full.layers
            if l.xsa] == [4, 5, 4, 5, 4, 5, 6, 7, 8, 9, 10]


def test_segment_sweep_is_one_set_away():
    """PR #1726-style sweep: layers 4–5 looped twice more, from half of the run (#1394)."""
    s = schedule("loop-segment", loop_start=4, loop_end=5, recur_start_frac=0.5)
    assert s.layout(1).physical == [0, 1, 2, 3, 4, 5, 4, 5, 4, 5, 6, 7, 8, 9, 10]
    assert s.phase_for(0, 0.49) == 0 and s.phase_for(0, 0.5) == 1


def test_progressive_segment_1412():
    s = schedule("loop-segment", loop_start=4, loop_end=5, recur_start_frac=-1.0,
                 progressive_depth="0.50:0,0.65:1,1.0:2")
    assert [len(s.layout(p).layers) for p in range(3)] == [11, 13, 15]
    assert [s.phase_for(0, f) for f in (0.2, 0.5, 0.6, 0.65, 0.99)] == [0, 1, 1, 2, 2]


def test_recur_3x4_progressive_depth():
    s = schedule("recur-3x4")
    assert [s.layout(p).physical for p in range(3)] == [[0, 1, 2] * 2, [0, 1, 2] * 3, [0, 1, 2] * 4]
    assert [s.phase_for(0, f) for f in (0.0, 0.29, 0.30, 0.49, 0.50, 0.99, 1.0)] == [0, 0, 1, 1, 2, 2, 2]
    # XSA is "the last 4 of the current depth" (xsa_index = "phase")
    assert [l.index for l in s.layout(0).layers if l.xsa] == [2, 3, 4, 5]
    assert [l.index for l in s.layout(2).layers if l.xsa] == [8, 9, 10, 11]
    assert [l.pass_index for l in s.layout(2).layers] == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert s.num_skips == 0 and s.num_controls == 3


def test_middle_cycle_stem_core_tail():
    s = schedule("middle-cycle")
    full = s.full
    assert full.physical == [0, 1, 2, 3, 4, 5, 3, 4, 5, 3, 4, 5, 6, 7, 8]
    assert [l.index for l in full.layers if l.push_skip] == [0, 1, 2]  # stem only
    assert {l.index: l.skip_slot for l in full.layers if l.skip_slot >= 0} == {12: 0, 13: 1, 14: 2}
    assert [l.index for l in full.layers if l.pass_start] == [3, 6, 9]
    assert s.is_looped(4) and not s.is_looped(2) and not s.is_looped(6)


def test_stabilized_loop_prelude_shared_coda():
    s = schedule("stabilized-loop")
    assert s.full.physical == [0, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 5]
    assert s.num_virtual == 14 and s.num_skips == 0


def test_no_recurrence_is_identity():
    s = RecurrenceSchedule(ModelConfig(num_layers=9, unet_skips="add"))
    assert s.num_phases == 1 and s.full.physical == list(range(9))
    assert s.full.encoder == [0, 1, 2, 3] and s.num_skips == 4
    assert s.phase_for(10**6, 1.0) == 0


@pytest.mark.parametrize("preset", ["record-1204", "loop-segment", "recur-3x4"])
def test_describe_lists_every_phase(preset):
    s = schedule(preset)
    d = s.describe()
    assert len(d["phases"]) == s.num_phases
    assert d["phases"][-1]["physical"] == s.full.physical
