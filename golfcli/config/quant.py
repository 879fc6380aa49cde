"""CalibConfig and QuantConfig: `golf gptq-calibrate` and `golf quantize` settings (and their flags)."""

from __future__ import annotations

from dataclasses import dataclass

from golfcli.config.base import require, require_positive, setting

CALIB_SOURCES = ("selfgen", "random", "shards")
QUANT_METHODS = ("gptq", "rtn")


@dataclass
class CalibConfig:
    """Calibration: where the activations behind the GPTQ Hessians come from, and how many.

    source: "selfgen" (the model samples its own text: no training or validation data),
    "random" (uniform random tokens) or "shards" (windows of training shards: reads training data).
    """

    source: str = setting("selfgen", flag="--source", choices=CALIB_SOURCES,
                          help="selfgen: the model samples its own text; random: uniform tokens; shards: windows "
                               "of training shards (reads training data).")
    seqs: int = setting(64, flag="--seqs", help="Calibration sequences.")
    seq_len: int = setting(2048, flag="--seq-len", help="Tokens per sequence (the first is drawn uniformly).")
    temperature: float = setting(0.8, flag="--temperature", help="Sampling temperature of selfgen (0 = greedy).")
    batch: int = setting(8, flag="--batch", help="Sequences generated / forwarded together.")
    seed: int = setting(0, flag="--seed", help="Seed of first tokens, sampling, random source and shard windows.")
    kv_cache: bool = setting(True, flag="--kv-cache",
                             help="Generate with the KV cache (--no-kv-cache: recompute the whole prefix per token).")
    data_dir: str = setting("", flag="--data-dir", help="Shard directory for source shards (empty: data.data_dir).")
    device: str = setting("auto", flag="--device", help="auto (cuda when available), cpu, cuda or cuda:N.")

    def validate(self) -> "CalibConfig":
        """Raise a SettingError (naming the [calib] key) for impossible calibration settings; return self."""
        require(self.source in CALIB_SOURCES, "calib.source",
                f"must be one of {', '.join(CALIB_SOURCES)}, got {self.source!r}")
        require_positive(self, "calib", ("seqs", "batch"))
        require_positive(self, "calib", ("seq_len",), least=2)
        require(self.temperature >= 0, "calib.temperature", f"must be ≥ 0, got {self.temperature}")
        return self


@dataclass
class QuantConfig:
    """Quantization: method, bit widths per role and per name, clipping, GPTQ knobs, byte budget.

    intN is the symmetric grid ±(2^(N−1)−1) (int5 → ±15, int6 → ±31), codes stored as int8 with one
    fp16 scale per row.
    """

    method: str = setting("gptq", flag="--method", choices=QUANT_METHODS, help="gptq (needs --hessians) or rtn.")
    attn_bits: int = setting(6, flag="--attn", metavar="intN", bits=True, help="Width of attention matrices.")
    mlp_bits: int = setting(6, flag="--mlp", metavar="intN", bits=True, help="Width of MLP matrices.")
    embed_bits: int = setting(8, flag="--embed", metavar="intN", bits=True,
                              help="Width of embedding tables (incl. value tables).")
    other_bits: int = setting(8, flag="--other", metavar="intN", bits=True, help="Width of other large tensors.")
    rules: list[str] = setting(flag="--rule", metavar="REGEX=BITS", default_factory=list,
                               help="Width for tensors whose name matches REGEX (repeatable; later rules win).")
    clip: str = setting("search", flag="--clip", help="Row scale rule: search | sdclip:K | percentile:P.")
    clip_rules: list[str] = setting(flag="--clip-rule", metavar="REGEX=CLIP", default_factory=list,
                                    help="Clip rule for tensors whose name matches REGEX, e.g. tok_emb=sdclip:20 "
                                         "(repeatable; later rules win over --clip).")
    hessian_top_n: int = setting(0, flag="--hessian-top-n",
                                 help="record-1204's rule: the N attn/mlp matrices of largest tr(H), looped layers "
                                      "first, get --hessian-top-bits, the rest --hessian-rest-bits (0 = off; "
                                      "--rule still wins).")
    hessian_top_bits: int = setting(6, flag="--hessian-top-bits", metavar="intN", bits=True,
                                    help="Width of the matrices --hessian-top-n picks.")
    hessian_rest_bits: int = setting(5, flag="--hessian-rest-bits", metavar="intN", bits=True,
                                     help="Width of the other attn/mlp matrices under --hessian-top-n.")
    damp: float = setting(0.01, flag="--damp",
                          help="GPTQ damping, a fraction of mean diag(H); raised automatically on failure.")
    block: int = setting(128, flag="--block", help="GPTQ lazy-update block size (columns).")
    act_order: bool = setting(True, flag="--act-order",
                              help="GPTQ columns in order of decreasing diag(H) (--no-act-order: natural order).")
    passthrough_max: int = setting(65536, flag="--passthrough-max",
                                   help="Float tensors with at most this many elements stay float (fp16).")
    fp32_rules: list[str] = setting(flag="--keep-fp32", metavar="REGEX", default_factory=list,
                                    help="Passthrough tensors matching REGEX stay fp32 (repeatable).")
    target_bytes: int = setting(0, flag="--target-bytes",
                                help="Byte budget for packed model + code: choose widths to fit (0 = off).")
    code_bytes: int = setting(0, flag="--code-bytes", help="Code bytes counted against target_bytes.")
    plan_bits: list[int] = setting(flag="--plan-bits", metavar="N,N,...", sep=",", bits=True,
                                   default_factory=lambda: [4, 5, 6, 7, 8], help="Widths the planner may pick.")

    def validate(self) -> "QuantConfig":
        """Raise a SettingError (naming the [quant] key) for impossible settings; return self."""
        from golfcli.bitwidths import parse_bits, parse_clip, parse_clip_rules, parse_rules  # (it imports config)

        for name in ("attn_bits", "mlp_bits", "embed_bits", "other_bits", "hessian_top_bits", "hessian_rest_bits"):
            parse_bits(getattr(self, name), f"quant.{name}")
        for bits in self.plan_bits:
            parse_bits(bits, "quant.plan_bits")
        parse_rules(self.rules)
        parse_clip(self.clip)
        parse_clip_rules(self.clip_rules)
        require(self.method in QUANT_METHODS, "quant.method",
                f"must be one of {', '.join(QUANT_METHODS)}, got {self.method!r}")
        for name in ("hessian_top_n", "damp", "passthrough_max", "target_bytes", "code_bytes"):
            require(getattr(self, name) >= 0, f"quant.{name}", f"must be ≥ 0, got {getattr(self, name)}")
        require(self.block >= 1, "quant.block", f"must be ≥ 1, got {self.block}")
        require(not self.target_bytes or bool(self.plan_bits), "quant.target_bytes",
                "needs at least one width in quant.plan_bits")
        return self
