"""TrainConfig: batch, schedule, optimizers, averaging and QAT of `golf train`.

Defaults are the 1.1063 record's (spec record-1204.md §C) except where a field says otherwise;
presets override what their system did differently (e.g. the naive baseline's Adam without
weight decay and no clipping).
"""

from __future__ import annotations

from dataclasses import dataclass

from golfcli.config.base import require, require_positive, setting

LOADER_KINDS = ("sequential", "coprime", "shuffled")
WARMDOWN_CLOCKS = ("time", "steps")
QAT_MODES = ("off", "ste", "noise")
SHIP_WEIGHTS = ("final", "ema", "swa", "auto")
EMBED_DTYPES = ("fp32", "bf16")
AVERAGE_MODES = ("final", "ema", "swa", "exp", "auto")  # `golf ema --mode`


@dataclass
class TrainConfig:
    """Settings of the training loop."""

    seed: int = 1337  # model init seed (the data order of the coprime loader ignores it)
    seq_len: int = 2048  # tokens per training sequence
    batch_tokens: int = 786432  # tokens per optimizer step, over all ranks and accumulation steps
    grad_accum: int = 1  # micro-batches per optimizer step on each rank
    # "sequential" (reference TokenStream), "coprime" (record-1204 sampler) or "shuffled" (record-1493's)
    loader: str = "coprime"
    iterations: int = 20000  # step horizon of the step-based schedule (also a hard cap)
    max_seconds: float = 600.0  # training wallclock cap (validation excluded); 0 = no cap
    warmdown_clock: str = "time"  # "time": warmdown measured in wallclock; "steps": in steps
    warmdown_iters: int = 3500  # warmdown length in steps (in time mode: × running mean step time)
    warmdown_fraction: float = 0.0  # > 0: warmdown over this final fraction of the run instead
    warmup_steps: int = 20  # compile warmup steps per graph; their effect on weights is rolled back
    # optimizer groups (every lr is multiplied by the schedule's lr scale)
    matrix_lr: float = 0.03  # Muon, 2-D block matrices
    embed_lr: float = 0.035  # AdamW, embedding tables
    scalar_lr: float = 0.025  # AdamW, gains, scales, mixes, small projections
    beta1: float = 0.9
    beta2: float = 0.95
    adam_eps: float = 1e-8
    adam_wd: float = 0.04  # decoupled weight decay of the AdamW scalar group (and of the embeddings by default)
    embed_wd: float = -1.0  # decoupled weight decay of the embedding tables; < 0 = adam_wd
    muon_wd: float = 0.04  # decoupled weight decay of Muon
    muon_momentum: float = 0.99  # Muon momentum after warmup
    muon_momentum_start: float = 0.92  # Muon momentum at step 0
    muon_momentum_warmup: int = 1500  # steps of the linear momentum warmup
    muon_ns_steps: int = 5  # Newton–Schulz iterations
    muon_row_normalize: bool = False  # MuonEq-R: normalise each matrix update's rows (record 1493)
    embed_dtype: str = setting("fp32", help="The token embedding's (and tied head's) dtype in training: fp32, or bf16 "
                               "as record 1493 trains it (AdamW moments bf16 too; EMA/SWA average in fp32).")
    grad_clip: float = 0.3  # global gradient-norm clip; 0 = off
    # averaging
    ema_decay: float = 0.997  # EMA of all weights after every step; 0 = off
    swa_every: int = 0  # SWA snapshot every k steps once lr scale < swa_threshold; 0 = off
    swa_threshold: float = 0.2
    # the weights `golf ema` (and so `golf run`) passes on: "final", "ema", "swa", or "auto" = whichever
    # has the lowest loss on held-out training tokens (never validation); golf run does not retrain for it
    ship_weights: str = "auto"
    # QAT (quantization-aware training) switched on late in the warmdown
    qat_mode: str = "off"  # "off", "ste" (late straight-through fake quant) or "noise" (Noisy QAT)
    qat_threshold: float = 0.15  # switch on once the lr scale drops below this
    qat_min_step: int = 0  # ... and not before this step
    # evaluation and files
    val_every: int = 0  # validation bpb every N steps (0 = only at the end)
    val_tokens: int = 0  # score only the first N validation tokens (0 = all; a subset is not the official number)
    val_batch_tokens: int = 131072  # tokens per validation forward, over all ranks
    log_every: int = 10  # metrics.jsonl line (and the NaN/inf check) every N steps
    checkpoint_every: int = 1000  # full training-state checkpoint every N steps (0 = only at the end)
    keep_checkpoints: int = 0  # keep only the newest N periodic checkpoints (0 = keep all)
    # execution
    device: str = "auto"  # "auto" (cuda when available), "cpu", "cuda"
    compile: bool | str = "auto"  # torch.compile: "auto" = on CUDA only
    distributed_muon: bool = True  # with several ranks, each rank runs Newton–Schulz for a share of matrices

    def embed_weight_decay(self) -> float:
        """The AdamW weight decay of the embedding tables: embed_wd, or adam_wd when embed_wd < 0."""
        return self.adam_wd if self.embed_wd < 0 else self.embed_wd

    def validate(self) -> "TrainConfig":
        """Raise a SettingError (naming the [train] key) for values no run can start with; return self.

        How `batch_tokens` splits over ranks depends on the world size: the run checks that.
        """
        require(self.loader in LOADER_KINDS, "train.loader",
                f"must be one of {', '.join(LOADER_KINDS)}, got {self.loader!r}")
        require(self.qat_mode in QAT_MODES, "train.qat_mode",
                f"must be one of {', '.join(QAT_MODES)}, got {self.qat_mode!r}")
        require(self.embed_dtype in EMBED_DTYPES, "train.embed_dtype",
                f"must be one of {', '.join(EMBED_DTYPES)}, got {self.embed_dtype!r}")
        require(isinstance(self.compile, bool) or self.compile == "auto", "train.compile",
                f"must be true, false or \"auto\", got {self.compile!r}")
        require_positive(self, "train", ("seq_len", "grad_accum", "iterations"))
        return self
