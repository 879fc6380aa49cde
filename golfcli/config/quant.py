"""CalibConfig and QuantConfig: `golf gptq-calibrate` and `golf quantize` defaults."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CalibConfig:
    """Calibration: where the activations behind the GPTQ Hessians come from, and how many.

    source: "selfgen" (the model samples its own text: no training or validation data),
    "random" (uniform random tokens) or "shards" (windows of training shards: reads training data).
    """

    source: str = "selfgen"
    seqs: int = 64  # calibration sequences
    seq_len: int = 2048  # tokens per sequence (the first is drawn uniformly)
    temperature: float = 0.8  # sampling temperature of self-generation (0 = greedy)
    batch: int = 8  # sequences generated / forwarded together
    seed: int = 0  # generator seed (first tokens, sampling, random source, shard windows)
    kv_cache: bool = True  # generate with the KV cache (False: recompute the whole prefix per token)
    data_dir: str = ""  # shard directory for source = "shards"
    device: str = "auto"  # "auto" (cuda when available), "cpu", "cuda", "cuda:N"


@dataclass
class QuantConfig:
    """Quantization: method, bit widths per role and per name, clipping, GPTQ knobs, byte budget.

    intN is the symmetric grid ±(2^(N−1)−1) (int5 → ±15, int6 → ±31), codes stored as int8 with one
    fp16 scale per row.
    """

    method: str = "gptq"  # "gptq" (needs Hessians) or "rtn"
    attn_bits: int = 6
    mlp_bits: int = 6
    embed_bits: int = 8
    other_bits: int = 8
    rules: list[str] = field(default_factory=list)  # "REGEX=BITS", later rules win over earlier ones
    clip: str = "search"  # "search" | "sdclip:K" | "percentile:P"
    clip_rules: list[str] = field(default_factory=list)  # "REGEX=CLIP" (e.g. "tok_emb=sdclip:20"); later win over clip
    hessian_top_n: int = 0  # record-1204: the N attn/mlp matrices of largest tr(H), looped layers first, get
    hessian_top_bits: int = 6  # ... this width, the other attn/mlp matrices hessian_rest_bits (0 = off;
    hessian_rest_bits: int = 5  # `rules` still win over it)
    damp: float = 0.01  # GPTQ damping, a fraction of mean(diag H); raised automatically on failure
    block: int = 128  # GPTQ lazy-update block size (columns)
    act_order: bool = True  # GPTQ columns in order of decreasing diag(H)
    passthrough_max: int = 65536  # float tensors with at most this many elements stay float (fp16)
    fp32_rules: list[str] = field(default_factory=list)  # regexes of passthrough tensors kept fp32
    target_bytes: int = 0  # byte budget for packed model + code (0 = off: use the role/rule widths)
    code_bytes: int = 0  # bytes of code counted against target_bytes
    plan_bits: list[int] = field(default_factory=lambda: [4, 5, 6, 7, 8])  # widths the planner may pick
