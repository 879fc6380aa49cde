"""ModelConfig: every architectural option of the one GPT; each defaults to off.

A preset therefore reads as the list of what it turns on. Indices named "virtual" count layers of
the unrolled (recurrent) stack; "physical" ones count weight-owning blocks (see
golfcli/model/recurrence.py for the map between the two).
"""

from __future__ import annotations

from dataclasses import dataclass

from golfcli.config.base import require, require_positive, setting


@dataclass
class ModelConfig:
    """Shape and options of the GPT (see golfcli/model)."""

    # --- shape -------------------------------------------------------------------------------
    vocab_size: int = 1024
    num_layers: int = 9  # physical (weight-owning) blocks
    model_dim: int = 512
    num_heads: int = 8
    num_kv_heads: int = 4
    mlp_mult: float = 2.0
    mlp_activation: str = "relu2"  # relu2 | leaky_relu2
    mlp_negative_slope: float = 0.5  # slope of leaky_relu2
    tie_embeddings: bool = True  # False: a separate zero-init output head
    logit_softcap: float = 30.0  # 0 = off
    init: str = "default"  # default (PyTorch Linear init) | orthogonal (gain 1 for every Linear ≥ 64×64)

    # --- attention ---------------------------------------------------------------------------
    rope_base: float = 10000.0
    rope_dims: int = 0  # 0 = full head_dim; else partial RoPE on the first rope_dims dims of each head
    rope_train_seq_len: int = 0  # >0: base·(T/len)^(r/(r−2)) for sequences longer than this (record NTK rescale)
    rope_dtype: str = setting("fp32", help="RoPE tables: fp32; bf16 as a script's `.bfloat16()` model computes "
                              "them (its bf16 inv_freq buffer: positions, angles and cos/sin in bf16) wherever the "
                              "base is not rescaled (record 1493, the baseline); bf16_inv_freq: only the "
                              "frequencies rounded, the rest fp32 (PR #363 casts that buffer back to float32).")
    qk_gain_init: float = 1.5
    xsa_last_n: int = 0  # exclusive self-attention (XSA) on the last N layers, counted per xsa_index
    xsa_index: str = "virtual"  # virtual: layers v ≥ V_full − N in every phase (record-1204) | physical: blocks
    # p ≥ num_layers − N wherever they run (record-1493; PR #363's 3 of 3) | phase: the last N of the current phase
    disable_layer0_attn: bool = False  # virtual layer 0 runs no attention (its weights stay, unused)

    # --- embeddings front-end ------------------------------------------------------------------
    bigram_vocab_size: int = 0  # BigramHash buckets (0 = off); the last bucket serves position 0
    bigram_dim: int = 128
    bigram_hash: str = "xor"  # xor: record-1204's hash, reserved bucket at position 0, learned scale 0.05 |
    # prime: PR #363's (t_prev·1000003 + t) mod buckets (position 0 pairs a token with itself), no scale,
    # table N(0, 0.02), zero projection trained by Muon
    smear_gate: bool = False
    ve_dim: int = 0  # value embedding into attention V (0 = off): Embedding(V, ve_dim) → proj to kv_dim
    ve_layers: tuple[int, ...] = ()  # virtual layers whose V gets the value embedding
    value_embeds: int = 0  # tables added to the residual stream, scaled per effective layer (PR #1453)

    lora_rank: int = 0  # PR #363: a rank-r q/v adapter per virtual layer, on the normed attention input (0 = off)

    # --- block ---------------------------------------------------------------------------------
    ln_scale: bool = False  # multiply each normed sublayer input by 1/√(index+1)
    ln_scale_index: str = "virtual"  # virtual | physical
    block_scalars: str = "physical"  # physical | virtual: own q_gain/scales/resid_mix per virtual layer
    unet_skips: str = "none"  # none | add | gated (sigmoid-gated lerp)
    parallel_start_layer: int = -1  # physical layer where parallel residuals start (-1 = off)
    parallel_form: str = "lanes"  # lanes (two lanes, learned routing) | gptj (x + attn(n(x)) + mlp(n(x)))

    # --- recurrence ----------------------------------------------------------------------------
    recurrence: str = "none"  # none | mini | segment | stem_core_tail | shared | prelude_coda
    recur_layers: tuple[int, ...] = ()  # mini: contiguous layers repeated once, right after themselves
    repeat_untie_mlp: str = "none"  # none | full: repeat passes use their own MLP copies
    loop_start: int = -1  # segment: first looped physical layer
    loop_end: int = -1  # segment: last looped physical layer (inclusive)
    num_loops: int = 0  # segment: extra passes over loop_start..loop_end
    loop_core_layers: int = 0  # stem_core_tail: core blocks
    loop_repeats: int = 1  # stem_core_tail / shared / prelude_coda: passes over the looped blocks
    num_prelude: int = 0  # prelude_coda
    num_coda: int = 0  # prelude_coda
    recur_start_step: int = -1  # start with one pass; switch to full depth at this step (-1 = off)
    recur_start_frac: float = -1.0  # ... or at this fraction of the training time budget (-1 = off)
    progressive_depth: str = ""  # "f1:n1,f2:n2,..": n_i passes while time fraction < f_i (last n = full)
    loop_embed: bool = False  # learned vector per virtual layer added before it (zero init)
    cross_repeat_scales: bool = False  # x += s[b, r−1] ⊙ (block b's output one pass ago)
    loop_repeat_embed: bool = False  # x += E[r] at the start of pass r of the core (zero init)
    loop_adapter_dim: int = 0  # per (pass, core block) adapter Up(relu(Down(n(x)))²)·γ (0 = off)
    output_ln: bool = False  # MLP reads the raw residual and its output is RMS-normed
    birkhoff_mix: bool = False  # resid_mix → convex σ(λ)·x + (1−σ(λ))·x0
    timestep_scale: bool = False  # FiLM scale γ per virtual layer, clamped to ±timestep_gamma_max
    timestep_gamma_max: float = 4.0
    timestep_bias: bool = False  # FiLM shift β per virtual layer (unclamped)
    depth_encoding: bool = False  # fixed sinusoidal sin(v / base^(i/d)) added after the mix
    depth_encoding_base: float = 10000.0
    qat_noise_core_only: bool = False  # Noisy QAT only on looped blocks; the others use STE

    def validate(self) -> "ModelConfig":
        """Raise a SettingError (naming the [model] key) for a shape no model can be built with; return self."""
        require_positive(self, "model", ("vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads"))
        require(self.mlp_mult > 0, "model.mlp_mult", f"must be positive, got {self.mlp_mult}")
        require(self.model_dim % self.num_heads == 0, "model.model_dim",
                f"must be a multiple of model.num_heads ({self.num_heads}), got {self.model_dim}")
        require(self.num_heads % self.num_kv_heads == 0, "model.num_heads",
                f"must be a multiple of model.num_kv_heads ({self.num_kv_heads}), got {self.num_heads}")
        require(self.rope_dtype in ("fp32", "bf16", "bf16_inv_freq"), "model.rope_dtype",
                f"must be fp32, bf16 or bf16_inv_freq, got {self.rope_dtype!r}")
        return self
