"""The recurrence schedule: which physical block runs at each virtual layer, per training phase.

Every recurrence form is one shape: a prefix of physical blocks, a segment [a..b] run `passes`
times, and a suffix. The forms only differ in which config fields give a, b and the passes:

- none:            a..b = whole stack, 1 pass
- mini (PR #1204):  recur_layers (contiguous), 1 extra pass → [0..5, 4,5, 6..10]
- segment (#1493):  loop_start..loop_end, num_loops extra passes → [0,1,2, 3,4,5, 3,4,5, 3,4,5, 6..10]
- stem_core_tail:   core = loop_core_layers blocks centred, loop_repeats passes (PR #363)
- shared:           all blocks × loop_repeats (PR #1453)
- prelude_coda:     num_prelude + shared × loop_repeats + num_coda (PR #855)

Phases: with `progressive_depth` ("0.30:2,0.50:3,1.0:4") phase i runs n_i passes while the time
fraction is below f_i; with `recur_start_step`/`recur_start_frac` phase 0 runs the segment once and
phase 1 at full depth; otherwise there is one phase at full depth. The last phase is full depth.
"""

from __future__ import annotations

from dataclasses import dataclass

from golfcli.config.model import ModelConfig
from golfcli.errors import GolfError

FORMS = ("none", "mini", "segment", "stem_core_tail", "shared", "prelude_coda")


@dataclass(frozen=True)
class VirtualLayer:
    """One layer of the unrolled stack and everything that depends on its position."""

    index: int  # virtual index in the current layout
    physical: int  # block whose weights run here
    control: int  # index of its per-block scalars (physical or virtual, per config.block_scalars)
    pass_index: int  # 0 outside the looped segment; r for the r-th pass over it
    slot: int  # position inside the looped segment (-1 outside)
    repeat_mlp: int  # index into the untied repeat MLPs, -1 = the block's own MLP
    push_skip: bool  # push this layer's output for a U-Net skip
    skip_slot: int  # pop a skip before this layer into this slot (-1 = none)
    xsa: bool
    ve_slot: int  # index into the value-embedding layer scales (-1 = no VE into V here)
    pass_start: bool  # first layer of a pass over the segment (per-repeat embedding lands here)


@dataclass(frozen=True)
class Layout:
    """The unrolled stack of one phase."""

    passes: int
    layers: tuple[VirtualLayer, ...]

    @property
    def physical(self) -> list[int]:
        """The virtual→physical index list."""
        return [layer.physical for layer in self.layers]

    @property
    def encoder(self) -> list[int]:
        """Physical indices of the layers that push U-Net skips."""
        return [layer.physical for layer in self.layers if layer.push_skip]

    @property
    def decoder(self) -> list[int]:
        """Physical indices of the layers after the encoder."""
        last_push = max((layer.index for layer in self.layers if layer.push_skip), default=-1)
        return [layer.physical for layer in self.layers if layer.index > last_push]


def _parse_progressive(text: str) -> list[tuple[float, int]]:
    stages = []
    for part in text.split(","):
        try:
            frac, count = part.split(":")
            stages.append((float(frac), int(count)))
        except ValueError:
            raise GolfError(f"model.progressive_depth must look like '0.30:2,0.50:3,1.0:4', got {text!r}") from None
    fracs = [f for f, _ in stages]
    if fracs != sorted(fracs):
        raise GolfError(f"model.progressive_depth fractions must increase, got {text!r}")
    return stages


class RecurrenceSchedule:
    """Owns the virtual→physical map of every phase and decides the phase from step/time."""

    def __init__(self, cfg: ModelConfig):
        self.cfg = cfg
        if cfg.recurrence not in FORMS:
            raise GolfError(f"model.recurrence must be one of {', '.join(FORMS)}, got {cfg.recurrence!r}")
        self.seg_start, self.seg_end, full = self._segment()
        self.extra_counts = cfg.recurrence in ("mini", "segment")  # counts are extra passes, not passes
        self.progressive = _parse_progressive(cfg.progressive_depth) if cfg.progressive_depth else []
        if self.progressive:
            counts = [c + 1 if self.extra_counts else c for _, c in self.progressive]
            if counts[-1] != full or min(counts) < 1 or counts != sorted(counts):
                raise GolfError(
                    f"model.progressive_depth {cfg.progressive_depth!r} must grow to full depth "
                    f"({full - 1 if self.extra_counts else full})"
                )
        elif cfg.recur_start_step >= 0 or cfg.recur_start_frac >= 0:
            counts = [1, full]
        else:
            counts = [full]
        self.full_passes = full
        seg_len = self.seg_end - self.seg_start + 1
        self._full_virtual = cfg.num_layers + (full - 1) * seg_len  # layers of the full-depth stack
        self.layouts = [self._layout(p) for p in counts]
        if cfg.unet_skips != "none" and self.num_skips == 0:
            raise GolfError("model.unet_skips needs an encoder and a decoder (more than one layer)")

    # --- shape of the stack -------------------------------------------------------------------
    def _segment(self) -> tuple[int, int, int]:
        """(first, last physical index of the looped segment, passes at full depth)."""
        c, n = self.cfg, self.cfg.num_layers
        form = c.recurrence
        if form == "none":
            a, b, passes = 0, n - 1, 1
        elif form == "mini":
            layers = sorted(c.recur_layers)
            if not layers or layers != list(range(layers[0], layers[-1] + 1)):
                raise GolfError(f"model.recur_layers must be contiguous layer indices, got {list(c.recur_layers)}")
            a, b, passes = layers[0], layers[-1], 2
        elif form == "segment":
            a, b, passes = c.loop_start, c.loop_end, c.num_loops + 1
        elif form == "stem_core_tail":
            a = (n - c.loop_core_layers) // 2
            a, b, passes = a, a + c.loop_core_layers - 1, c.loop_repeats
        elif form == "shared":
            a, b, passes = 0, n - 1, c.loop_repeats
        else:  # prelude_coda
            a, b, passes = c.num_prelude, n - c.num_coda - 1, c.loop_repeats
        if not (0 <= a <= b < n) or passes < 1:
            raise GolfError(
                f"model recurrence {form!r}: looped layers {a}..{b} × {passes} passes do not fit {n} layers"
            )
        return a, b, passes

    def _layout(self, passes: int) -> Layout:
        c = self.cfg
        a, b = self.seg_start, self.seg_end
        plan: list[tuple[int, int, int]] = [(p, 0, -1) for p in range(a)]
        for r in range(passes):
            plan += [(p, r, p - a) for p in range(a, b + 1)]
        plan += [(p, 0, -1) for p in range(b + 1, c.num_layers)]
        n_virtual = len(plan)
        push, pops = self._skip_plan(plan)
        untie = c.repeat_untie_mlp == "full"
        seg_len = b - a + 1
        layers = []
        for v, (p, r, slot) in enumerate(plan):
            layers.append(VirtualLayer(
                index=v,
                physical=p,
                control=v if c.block_scalars == "virtual" else p,
                pass_index=r,
                slot=slot,
                repeat_mlp=(r - 1) * seg_len + slot if untie and r > 0 else -1,
                push_skip=v in push,
                skip_slot=pops.get(v, -1),
                xsa=self._xsa(v, p, n_virtual),
                ve_slot=c.ve_layers.index(v) if c.ve_dim and v in c.ve_layers else -1,
                pass_start=slot == 0,
            ))
        return Layout(passes=passes, layers=tuple(layers))

    def _xsa(self, v: int, p: int, n_virtual: int) -> bool:
        """Whether virtual layer v (block p) of a layout with n_virtual layers uses XSA.

        XSA is fixed when the model is built, as in the published scripts: "virtual" flags the last
        xsa_last_n virtual layers of the full-depth stack, so a shallower phase keeps XSA off its first
        layers; "physical" flags the last xsa_last_n blocks, so every pass over them uses it; "phase"
        takes the last xsa_last_n layers of whatever stack the phase runs.
        """
        n = self.cfg.xsa_last_n
        if n <= 0:
            return False
        if self.cfg.xsa_index == "physical":
            return p >= self.cfg.num_layers - n
        if self.cfg.xsa_index == "phase":
            return v >= n_virtual - n
        return v >= self._full_virtual - n

    def _skip_plan(self, plan: list[tuple[int, int, int]]) -> tuple[set[int], dict[int, int]]:
        """Virtual layers that push a skip, and {virtual layer: skip slot} for those that pop one."""
        if self.cfg.unet_skips == "none":
            return set(), {}
        if self.cfg.recurrence == "stem_core_tail":  # skips join the stem to the tail only
            stem = [v for v, (p, _, _) in enumerate(plan) if p < self.seg_start]
            tail = [v for v, (p, _, _) in enumerate(plan) if p > self.seg_end]
        else:
            n_enc = len(plan) // 2
            stem, tail = list(range(n_enc)), list(range(n_enc, len(plan)))
        n = min(len(stem), len(tail))
        return set(stem), {v: i for i, v in enumerate(tail[:n])}

    # --- sizes of per-layer parameters (taken at full depth) ----------------------------------
    @property
    def full(self) -> Layout:
        """The full-depth layout (the last phase)."""
        return self.layouts[-1]

    @property
    def num_virtual(self) -> int:
        """Virtual layers at full depth."""
        return len(self.full.layers)

    @property
    def num_skips(self) -> int:
        """Skip slots, sized for the full-depth layout."""
        return len(self.full_skip_slots())

    def full_skip_slots(self) -> set[int]:
        return {layer.skip_slot for layer in self.full.layers if layer.skip_slot >= 0}

    @property
    def num_controls(self) -> int:
        """Sets of per-block scalars."""
        return self.num_virtual if self.cfg.block_scalars == "virtual" else self.cfg.num_layers

    @property
    def num_repeat_mlps(self) -> int:
        """Untied MLP copies used by repeat passes at full depth."""
        return max((layer.repeat_mlp + 1 for layer in self.full.layers), default=0)

    @property
    def seg_len(self) -> int:
        return self.seg_end - self.seg_start + 1

    def repeat_mlp_base(self, j: int) -> int:
        """The physical block whose MLP untied copy j starts from."""
        return self.seg_start + j % self.seg_len

    def is_looped(self, physical: int) -> bool:
        """Whether a physical block runs more than once at full depth."""
        return self.full_passes > 1 and self.seg_start <= physical <= self.seg_end

    # --- phases -------------------------------------------------------------------------------
    @property
    def num_phases(self) -> int:
        return len(self.layouts)

    @property
    def final_phase(self) -> int:
        return len(self.layouts) - 1

    def layout(self, phase: int) -> Layout:
        """The layout of one phase."""
        if not 0 <= phase < len(self.layouts):
            raise GolfError(f"recurrence phase must be in 0..{len(self.layouts) - 1}, got {phase}")
        return self.layouts[phase]

    def phase_for(self, step: int, time_frac: float) -> int:
        """The phase to train in at `step`, `time_frac` of the time budget gone."""
        c = self.cfg
        if self.progressive:
            for i, (frac, _) in enumerate(self.progressive):
                if time_frac < frac:
                    return i
            return self.final_phase
        if self.num_phases == 1:
            return 0
        on_step = c.recur_start_step >= 0 and step >= c.recur_start_step
        on_frac = c.recur_start_frac >= 0 and time_frac >= c.recur_start_frac
        return 1 if on_step or on_frac else 0

    def describe(self) -> dict:
        """The layer maps of every phase (for logs and `golf params`)."""
        return {
            "form": self.cfg.recurrence,
            "phases": [
                {"passes": lay.passes, "physical": lay.physical, "encoder": lay.encoder, "decoder": lay.decoder}
                for lay in self.layouts
            ],
        }
