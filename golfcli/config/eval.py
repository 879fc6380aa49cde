"""EvalConfig: windows, strides and the Hedge / TTT options of `golf eval`.

Defaults follow the 1.1063 record (record-1204.md §F): 2048-token windows, stride 64, 32
windows per batch, the validation stream truncated to whole 2048-token sequences. The Hedge and
TTT defaults are ours (spec recurrence-hedge.md §D–E restated as legal distributions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from golfcli.config.base import require, setting

HEDGE_EXPERTS = ("neural", "unigram", "bigram", "trigram")
HEDGE_RULES = ("hedge", "eg")


@dataclass
class EvalConfig:
    """Evaluation settings."""

    seq_len: int = setting(2048, flag="--seq-len", help="Standard eval: non-overlapping sequences of this length.")
    window: int = setting(2048, flag="--window", help="Sliding eval: tokens of context + targets per window.")
    stride: int = setting(64, flag="--stride",
                          help="Sliding eval: new targets scored per window (the first window scores all).")
    batch_seqs: int = setting(32, flag="--batch-seqs", help="Windows per forward batch on each rank.")
    grid_tail: bool = setting(False, help="Sliding eval: the last window starts on the stride grid and is shorter "
                              "(record 1493), instead of a full window aligned to the stream's end.")
    truncate: bool = True  # like the challenge: keep ((N-1)//seq_len)*seq_len + 1 validation tokens
    compile: bool = True  # torch.compile the forward on CUDA (ignored on CPU)
    autocast: str = "bf16"  # "bf16" or "off": autocast of the forward on CUDA (CPU runs in float32)

    # Hedge mixer: a mixture of normalized distributions built only from already-scored tokens.
    hedge_experts: list[str] = field(default_factory=lambda: list(HEDGE_EXPERTS))
    hedge_temperatures: list[float] = field(default_factory=list)  # extra neural copies softmax(z/T)
    hedge_init_weights: list[float] | None = None  # one per expert (neural, copies, n-grams); None: neural 0.9
    hedge_rule: str = "eg"  # "eg": exponentiated gradient on the mixture loss; "hedge": on each expert's loss
    hedge_eta: float = 0.5  # learning rate of the weight update (per update, on the mean over its tokens)
    hedge_alpha: float = 0.02  # additive smoothing of the unigram and bigram experts
    hedge_trigram_alpha: float = 0.002  # additive smoothing of the hashed trigram expert
    hedge_table_size: int = 65536  # hashed trigram buckets (table = buckets x vocab int32 counts)
    hedge_update_tokens: int = 2048  # weights move after every this many scored tokens (counts: every token)

    # Score-first test-time training (--ttt).
    ttt_chunk_tokens: int = setting(32768, flag="--ttt-chunk-tokens",
                                    help="TTT targets per chunk: score the chunk, then train on it.")
    ttt_epochs: int = setting(3, flag="--ttt-epochs", help="TTT epochs per chunk.")
    ttt_lr: float = setting(0.002, flag="--ttt-lr", help="Peak TTT SGD learning rate, cosine-decayed over the chunks.")
    ttt_momentum: float = 0.9
    ttt_grad_clip: float = 1.0  # global gradient-norm clip; 0 = none
    ttt_seq_len: int = 2048  # training sequence length inside a chunk
    ttt_batch_seqs: int = 32  # training sequences per step over all ranks
    ttt_whole_seqs: bool = setting(False, help="TTT trains only on a chunk's whole ttt_seq_len sequences "
                                   "(record 1493), not also on the shorter one left at its end.")
    ttt_embed_dtype: str = setting("fp32", help="Dtype of the token embedding during the TTT eval: bf16 as "
                                   "record 1493's eval model has it (SGD updates and momentum in bf16 too).")

    def validate(self) -> "EvalConfig":
        """Raise a SettingError (naming the [eval] key) for values no evaluation can run with; return self."""
        for name in ("seq_len", "window", "stride", "batch_seqs", "hedge_table_size", "hedge_update_tokens",
                     "ttt_chunk_tokens", "ttt_seq_len", "ttt_batch_seqs"):
            require(getattr(self, name) > 0, f"eval.{name}", f"must be positive, got {getattr(self, name)}")
        require(self.stride <= self.window, "eval.stride",
                f"cannot exceed eval.window ({self.window}), got {self.stride}")
        for name in ("ttt_epochs", "ttt_lr"):
            require(getattr(self, name) >= 0, f"eval.{name}", f"must be >= 0, got {getattr(self, name)}")
        require(0 <= self.ttt_momentum < 1, "eval.ttt_momentum", f"must be in [0, 1), got {self.ttt_momentum}")
        for name, options in (("autocast", ("bf16", "off")), ("ttt_embed_dtype", ("fp32", "bf16"))):
            value = getattr(self, name)
            require(value in options, f"eval.{name}", f"must be {' or '.join(map(repr, options))}, got {value!r}")
        unknown = [e for e in self.hedge_experts if e not in HEDGE_EXPERTS]
        require(not unknown and len(set(self.hedge_experts)) == len(self.hedge_experts), "eval.hedge_experts",
                f"must be distinct names from {', '.join(HEDGE_EXPERTS)}, got {self.hedge_experts}")
        require("neural" in self.hedge_experts or not self.hedge_temperatures, "eval.hedge_temperatures",
                "needs the neural expert in eval.hedge_experts")
        require(all(t > 0 for t in self.hedge_temperatures), "eval.hedge_temperatures",
                f"must be positive, got {self.hedge_temperatures}")
        require(self.hedge_rule in HEDGE_RULES, "eval.hedge_rule",
                f"must be one of {', '.join(HEDGE_RULES)}, got {self.hedge_rule!r}")
        require(self.hedge_eta >= 0, "eval.hedge_eta", f"must be >= 0, got {self.hedge_eta}")
        for name in ("hedge_alpha", "hedge_trigram_alpha"):
            require(getattr(self, name) > 0, f"eval.{name}", f"must be > 0, got {getattr(self, name)}")
        require(bool(self.hedge_experts), "eval.hedge_experts", "is empty")
        if self.hedge_init_weights is not None:
            n = len(self.hedge_experts) + len(self.hedge_temperatures)
            require(len(self.hedge_init_weights) == n and all(w > 0 for w in self.hedge_init_weights),
                    "eval.hedge_init_weights", f"needs {n} positive numbers (neural, temperature copies, "
                    f"n-gram experts in that order), got {self.hedge_init_weights}")
        return self
