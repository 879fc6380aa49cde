"""GPT: one model for every seed architecture; ModelConfig options select the shape.

Forward, in order (each step only when its option is on):
  x = tok_emb(ids) [+ bigram(ids)] → rms_norm → [SmearGate] → x0 = x
  for each virtual layer of the current phase (see recurrence.py):
      [pop U-Net skip] [+ repeat embed] [+ loop embed] [+ value embeds] [+ cross-repeat] → block
      (its q/v plus the layer's LoRA deltas) [+ loop adapter] [push skip]
  final_norm(h) → tied head (h·tok_embᵀ) → softcap·tanh(z/softcap)
Weights live in physical blocks (`blocks.P.attn.*`, `blocks.P.mlp.*`); per-block scalars live in
`controls.C` (C = physical or virtual index, per `block_scalars`).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from golfcli.config.model import ModelConfig
from golfcli.errors import GolfError
from golfcli.model.attention import Rotary
from golfcli.model.blocks import Block, BlockControls, RepeatMLP
from golfcli.model.cache import GenerationCache
from golfcli.model.embeddings import BigramHash, SmearGate, ValueEmbedding, rms_norm
from golfcli.model.linear import QAT_MODES, CastedLinear
from golfcli.model.lora import DepthLoRA
from golfcli.model.mlp import LoopAdapter
from golfcli.model.recurrence import RecurrenceSchedule, VirtualLayer

CHOICES = {
    "mlp_activation": ("relu2", "leaky_relu2"),
    "init": ("default", "orthogonal"),
    "ln_scale_index": ("virtual", "physical"),
    "xsa_index": ("virtual", "physical", "phase"),
    "bigram_hash": ("xor", "prime"),
    "block_scalars": ("physical", "virtual"),
    "unet_skips": ("none", "add", "gated"),
    "parallel_form": ("lanes", "gptj"),
    "repeat_untie_mlp": ("none", "full"),
}
DEFAULT_QAT_BITS = 6
Lanes = tuple[torch.Tensor, torch.Tensor]


def check_config(cfg: ModelConfig) -> None:
    """Raise GolfError for option values the model cannot build."""
    for key, allowed in CHOICES.items():
        if getattr(cfg, key) not in allowed:
            raise GolfError(f"model.{key} must be one of {', '.join(allowed)}, got {getattr(cfg, key)!r}")
    if cfg.model_dim % cfg.num_heads or cfg.num_heads % max(cfg.num_kv_heads, 1):
        raise GolfError(
            f"model_dim {cfg.model_dim}, num_heads {cfg.num_heads} and num_kv_heads {cfg.num_kv_heads} must divide"
        )
    head_dim = cfg.model_dim // cfg.num_heads
    rope = cfg.rope_dims or head_dim
    if rope % 2 or rope > head_dim or (cfg.rope_train_seq_len and rope <= 2):
        raise GolfError(f"model.rope_dims must be even, > 2 with a rescale, and ≤ head_dim {head_dim}; got {rope}")
    if cfg.bigram_vocab_size == 1 or cfg.bigram_vocab_size < 0:
        raise GolfError(f"model.bigram_vocab_size must be 0 (off) or ≥ 2, got {cfg.bigram_vocab_size}")
    if cfg.ve_layers and not cfg.ve_dim:
        raise GolfError("model.ve_layers needs model.ve_dim > 0")


class FinalNorm(nn.Module):
    """RMS norm of the last hidden state (no weight); forward hooks here see what feeds the head."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x)


class GPT(nn.Module):
    """The GPT of every preset. `model(ids)` → logits (B, T, V) fp32; `model(ids, targets)` → mean CE."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        check_config(cfg)
        self.cfg = cfg
        self.schedule = RecurrenceSchedule(cfg)
        sched = self.schedule
        d, n_virtual = cfg.model_dim, sched.num_virtual
        head_dim = d // cfg.num_heads
        kv_dim = cfg.num_kv_heads * head_dim
        self.rotary = Rotary(head_dim, cfg.rope_dims, cfg.rope_base, cfg.rope_train_seq_len, cfg.rope_dtype)

        self.tok_emb = nn.Embedding(cfg.vocab_size, d)
        self.bigram = (
            BigramHash(cfg.bigram_vocab_size, cfg.bigram_dim, d, cfg.bigram_hash) if cfg.bigram_vocab_size else None
        )
        self.smear = SmearGate(d) if cfg.smear_gate else None
        self.ve_shared = ValueEmbedding(cfg.vocab_size, cfg.ve_dim, kv_dim) if cfg.ve_dim else None
        self.ve_layer_scales = nn.Parameter(torch.ones(len(cfg.ve_layers))) if cfg.ve_dim else None
        self.value_embeds = nn.ModuleList(nn.Embedding(cfg.vocab_size, d) for _ in range(cfg.value_embeds))
        self.value_scales = nn.Parameter(torch.zeros(n_virtual, cfg.value_embeds, d)) if cfg.value_embeds else None

        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.controls = nn.ModuleList(BlockControls(cfg) for _ in range(sched.num_controls))
        self.repeat_mlp = nn.ModuleList(RepeatMLP(cfg) for _ in range(sched.num_repeat_mlps))
        n_lora = n_virtual if cfg.lora_rank else 0
        self.lora = nn.ModuleList(DepthLoRA(d, d, kv_dim, cfg.lora_rank) for _ in range(n_lora))

        n_skip = sched.num_skips
        self.skip_weights = nn.Parameter(torch.ones(n_skip, d)) if n_skip else None
        self.skip_gates = nn.Parameter(torch.zeros(n_skip, d)) if n_skip and cfg.unet_skips == "gated" else None
        lanes = cfg.parallel_start_layer >= 0 and cfg.parallel_form == "lanes"
        self.parallel_post_lambdas = nn.Parameter(torch.ones(cfg.num_layers, 2, 2)) if lanes else None
        self.parallel_resid_lambdas = (
            nn.Parameter(torch.full((cfg.num_layers, 2), math.sqrt(1.1))) if lanes else None
        )

        passes, seg = sched.full_passes, sched.seg_len
        self.loop_embed = nn.Parameter(torch.zeros(n_virtual, d)) if cfg.loop_embed else None
        self.repeat_embed = nn.Parameter(torch.zeros(passes, d)) if cfg.loop_repeat_embed else None
        self.cross_repeat_scales = (
            nn.Parameter(torch.zeros(seg, max(passes - 1, 1), d)) if cfg.cross_repeat_scales else None
        )
        self.adapters = nn.ModuleList(
            LoopAdapter(d, cfg.loop_adapter_dim) for _ in range(passes * seg if cfg.loop_adapter_dim else 0)
        )
        self.film_gamma = nn.Parameter(torch.ones(n_virtual, 2, d)) if cfg.timestep_scale else None
        self.film_beta = nn.Parameter(torch.zeros(n_virtual, 2, d)) if cfg.timestep_bias else None
        if cfg.depth_encoding:
            v = torch.arange(n_virtual, dtype=torch.float32)[:, None]
            i = torch.arange(d, dtype=torch.float32)[None, :]
            self.register_buffer("depth_enc", torch.sin(v / cfg.depth_encoding_base ** (i / d)), persistent=False)
        else:
            self.depth_enc = None

        self.final_norm = FinalNorm()
        self.lm_head = None if cfg.tie_embeddings else CastedLinear(d, cfg.vocab_size, zero_init=True)
        self.phase = 0
        self.qat_mode = "off"
        self._init_weights()

    # --- init --------------------------------------------------------------------------------
    def _init_weights(self) -> None:
        if self.tok_emb.weight.is_meta:  # built only to count parameters
            return
        nn.init.normal_(self.tok_emb.weight, std=0.005)
        for module in self.modules():
            if isinstance(module, CastedLinear):
                if module.zero_init:
                    nn.init.zeros_(module.weight)
                elif self.cfg.init == "orthogonal" and min(module.weight.shape) >= 64:
                    nn.init.orthogonal_(module.weight)
        if self.bigram is not None and self.cfg.bigram_hash == "prime":
            nn.init.normal_(self.bigram.embed.weight, std=0.02)
        elif self.bigram is not None:
            nn.init.zeros_(self.bigram.embed.weight)
        if self.ve_shared is not None:
            nn.init.normal_(self.ve_shared.embed.weight, std=0.01)
        # Untied repeat MLPs get their base MLP's weights when a phase first uses them (set_phase); until
        # then, as in record-1204, both of their matrices have the plain (orthogonal) init, none zeroed.
        for module in self.repeat_mlp.modules():
            if isinstance(module, CastedLinear):
                if self.cfg.init == "orthogonal" and min(module.weight.shape) >= 64:
                    nn.init.orthogonal_(module.weight)
                else:
                    module.reset_parameters()

    def _copy_repeat_mlps(self, indices) -> None:
        with torch.no_grad():
            for j in indices:
                base = self.blocks[self.schedule.repeat_mlp_base(j)].mlp
                self.repeat_mlp[j].mlp.load_state_dict(base.state_dict())

    # --- phases --------------------------------------------------------------------------------
    @property
    def num_phases(self) -> int:
        """Number of recurrence phases (1 when the layout never changes)."""
        return self.schedule.num_phases

    @property
    def final_phase(self) -> int:
        """The full-depth phase (eval, calibration and export run here)."""
        return self.schedule.final_phase

    def set_phase(self, phase: int, copy_untied: bool = False) -> None:
        """Switch the layer layout; with copy_untied, repeat MLPs that turn on copy their base MLP."""
        new = self.schedule.layout(phase)
        if copy_untied:
            used_before = {l.repeat_mlp for l in self.schedule.layout(self.phase).layers}
            newly = {l.repeat_mlp for l in new.layers if l.repeat_mlp >= 0} - used_before
            self._copy_repeat_mlps(sorted(newly))
        self.phase = phase

    # --- QAT -------------------------------------------------------------------------------
    def set_qat(self, mode: str, bits: Callable[[str], int] | None = None, seed: int = 0) -> None:
        """Fake-quantize every CastedLinear in training forwards: "off", "ste" or "noise" (Noisy QAT).

        `bits(weight_name)` gives each weight's export grid (default int6). With qat_noise_core_only,
        "noise" applies to the looped blocks and their adapters and the others get "ste". Noise draws
        from torch's global RNG; `seed`, when non-zero, reseeds it once here.
        """
        if mode not in QAT_MODES:
            raise GolfError(f"QAT mode must be one of {', '.join(QAT_MODES)}, got {mode!r}")
        if seed:
            torch.manual_seed(seed)
        for name, module in self.named_modules():
            if not isinstance(module, CastedLinear):
                continue
            module.qat_mode = mode
            if mode == "noise" and self.cfg.qat_noise_core_only and not self._in_core(name):
                module.qat_mode = "ste"
            module.qat_bits = bits(f"{name}.weight") if bits is not None else DEFAULT_QAT_BITS
        self.qat_mode = mode

    def _in_core(self, module_name: str) -> bool:
        parts = module_name.split(".")
        if parts[0] == "adapters" or parts[0] == "repeat_mlp":
            return True
        return parts[0] == "blocks" and self.schedule.is_looped(int(parts[1]))

    # --- parameters ------------------------------------------------------------------------
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Optimizer groups: "matrix" (Muon: block/repeat/adapter/LoRA matrices, and bigram.proj with the
        "prime" hash), "embed" (tables, untied head), "scalar" (everything else, incl. the "xor" hash's
        bigram.proj and ve_shared.proj)."""
        groups: dict[str, list[nn.Parameter]] = {"matrix": [], "embed": [], "scalar": []}
        for name, p in self.named_parameters():
            groups[self.group_of(name, p)].append(p)
        return groups

    def group_of(self, name: str, p: torch.Tensor) -> str:
        """The optimizer group of one named parameter."""
        top = name.split(".")[0]
        if p.ndim == 2 and top in ("blocks", "repeat_mlp", "adapters", "lora") and name.endswith(".weight"):
            return "matrix"
        if name == "bigram.proj.weight" and self.cfg.bigram_hash == "prime":
            return "matrix"
        if top in ("tok_emb", "value_embeds", "lm_head") or name in ("bigram.embed.weight", "ve_shared.embed.weight"):
            return "embed"
        return "scalar"

    def unused_weight_names(self) -> list[str]:
        """Parameters no layer reads at full depth (layer-0 attention and its q gain / scale when
        disable_layer0_attn): they get no gradient, and an artifact may drop them."""
        if not self.cfg.disable_layer0_attn:
            return []
        layers = self.schedule.full.layers
        attending = [l for l in layers if l.index != 0]
        names = []
        first = layers[0].physical
        if all(l.physical != first for l in attending):
            names += [f"blocks.{first}.attn.{n}" for n, _ in self.blocks[first].attn.named_parameters()]
        if all(l.control != layers[0].control for l in attending):
            names += [f"controls.{layers[0].control}.{n}" for n in ("q_gain", "attn_scale")]
        return names

    def num_params(self) -> int:
        """Total trainable parameters."""
        return sum(p.numel() for p in self.parameters())

    # --- forward ---------------------------------------------------------------------------
    def forward(self, ids: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, V) in fp32 after the softcap, or the mean cross-entropy with `targets`."""
        logits = self._logits(self._hidden(ids))
        if targets is None:
            return logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    def new_cache(self, batch: int, max_len: int, dtype: torch.dtype | None = None) -> GenerationCache:
        """An empty KV cache for `batch` sequences of up to `max_len` tokens at the current phase
        (K/V kept in `dtype`, default the parameters' dtype; pass torch.bfloat16 under autocast)."""
        p = next(self.parameters())
        head_dim = self.cfg.model_dim // self.cfg.num_heads
        n_layers = len(self.schedule.layout(self.phase).layers)
        return GenerationCache(
            batch, max_len, n_layers, self.cfg.num_kv_heads, head_dim, self.cfg.model_dim, self.phase, p.device,
            dtype or p.dtype,
        )

    def forward_step(self, ids: torch.Tensor, cache: GenerationCache) -> torch.Tensor:
        """Logits (B, t, V) for new tokens `ids` (B, t) given everything in `cache`; extends the cache."""
        if cache.phase != self.phase:
            raise GolfError(f"KV cache was made at phase {cache.phase}, model is at phase {self.phase}")
        logits = self._logits(self._hidden(ids, cache))
        cache.advance(ids)
        return logits

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        if self.lm_head is not None:
            z = self.lm_head(h)
        else:
            z = F.linear(h, self.tok_emb.weight.to(h.dtype))
        z = z.float()
        cap = self.cfg.logit_softcap
        return cap * torch.tanh(z / cap) if cap > 0 else z

    def _hidden(self, ids: torch.Tensor, cache: GenerationCache | None = None) -> torch.Tensor:
        layout = self.schedule.layout(self.phase)
        warm = cache is not None and cache.length > 0
        x = self.tok_emb(ids)
        if self.bigram is not None:
            x = x + self.bigram(ids, cache.last_id if warm else None)
        x = rms_norm(x)
        if cache is not None:
            cache.pending_x = x[:, -1]
        if self.smear is not None:
            x = self.smear(x, cache.last_x if warm else None)
        x0 = x
        ve = self.ve_shared(ids) if self.ve_shared is not None else None
        resid_ve = [table(ids) for table in self.value_embeds]
        rope_length = cache.max_len if cache is not None else ids.shape[1]
        start = cache.length if cache is not None else 0
        rope = (self.rotary, *self.rotary.cos_sin(start, ids.shape[1], rope_length, ids.device))

        state: torch.Tensor | Lanes = x
        skips: list[torch.Tensor | Lanes] = []
        last_pass: dict[int, torch.Tensor | Lanes] = {}
        for layer in layout.layers:
            v = layer.index
            if layer.skip_slot >= 0 and skips:
                state = self._merge_skip(state, skips.pop(), layer.skip_slot)
            if self.repeat_embed is not None and layer.pass_start:
                state = _add(state, self.repeat_embed[layer.pass_index])
            if self.loop_embed is not None:
                state = _add(state, self.loop_embed[v])
            if resid_ve:
                state = _add(state, sum(self.value_scales[v, e] * t for e, t in enumerate(resid_ve)))
            if self.cross_repeat_scales is not None and layer.pass_index > 0:
                r = min(layer.pass_index - 1, self.cross_repeat_scales.shape[1] - 1)
                state = _add(state, _scale(last_pass[layer.slot], self.cross_repeat_scales[layer.slot, r]))
            state = self._layer(state, x0, layer, ve, cache, rope)
            if len(self.adapters) and layer.slot >= 0:
                adapter = self.adapters[layer.pass_index * self.schedule.seg_len + layer.slot]
                state = _apply_lanes(state, lambda s: s + adapter(s))
            if layer.slot >= 0:
                last_pass[layer.slot] = state
            if layer.push_skip:
                skips.append(state)
        h = (state[0] + state[1]) * 0.5 if isinstance(state, tuple) else state
        return self.final_norm(h)

    def _merge_skip(self, state, skip, slot: int):
        w = self.skip_weights[slot]
        if isinstance(skip, tuple) and not isinstance(state, tuple):
            skip = (skip[0] + skip[1]) * 0.5
        if isinstance(state, tuple):
            skips = skip if isinstance(skip, tuple) else (skip, skip)
            return tuple(self._merge_one(s, k, w, slot) for s, k in zip(state, skips))
        return self._merge_one(state, skip, w, slot)

    def _merge_one(self, x: torch.Tensor, skip: torch.Tensor, w: torch.Tensor, slot: int) -> torch.Tensor:
        if self.skip_gates is None:
            return x + w.to(x.dtype) * skip
        g = torch.sigmoid(self.skip_gates[slot]).to(x.dtype)
        return g * x + (1 - g) * (w.to(x.dtype) * skip)

    def _layer(self, state, x0, layer: VirtualLayer, ve, cache, rope):
        cfg = self.cfg
        v, p = layer.index, layer.physical
        block, ctrl = self.blocks[p], self.controls[layer.control]
        s = 1.0
        if cfg.ln_scale:
            s = 1.0 / math.sqrt((v if cfg.ln_scale_index == "virtual" else p) + 1)
        mlp = self.repeat_mlp[layer.repeat_mlp].mlp if layer.repeat_mlp >= 0 else block.mlp
        attn_on = not (cfg.disable_layer0_attn and v == 0)
        v_extra = ve * self.ve_layer_scales[layer.ve_slot] if layer.ve_slot >= 0 else None
        kv = cache.layers[v] if cache is not None else None
        lora = self.lora[v] if len(self.lora) else None

        def attend(x: torch.Tensor) -> torch.Tensor:
            n = rms_norm(x) * s
            if lora is None:
                return block.attn(n, ctrl.q_gain, rope, layer.xsa, v_extra, kv)
            v_in = lora.v_delta(n) if v_extra is None else v_extra + lora.v_delta(n)
            return block.attn(n, ctrl.q_gain, rope, layer.xsa, v_in, kv, q_extra=lora.q_delta(n))

        parallel = cfg.parallel_start_layer >= 0 and p >= cfg.parallel_start_layer
        if parallel and cfg.parallel_form == "lanes":
            return self._lanes_layer(state, x0, p, ctrl, attend, mlp, s, attn_on)
        x = ctrl.mix(state, x0)
        if parallel:  # GPT-J form: both sublayers read the same normed input
            out = x + _scale(mlp(rms_norm(x) * s), ctrl.mlp_scale)
            return out + _scale(attend(x), ctrl.attn_scale) if attn_on else out
        if self.depth_enc is not None:
            x = x + self.depth_enc[v].to(x.dtype)
        if attn_on:
            x = x + _scale(attend(x), self._film_scale(ctrl.attn_scale, v, 0))
            if self.film_beta is not None:
                x = x + self.film_beta[v, 0].to(x.dtype)
        m = rms_norm(mlp(x)) if cfg.output_ln else mlp(rms_norm(x) * s)
        x = x + _scale(m, self._film_scale(ctrl.mlp_scale, v, 1))
        if self.film_beta is not None:
            x = x + self.film_beta[v, 1].to(x.dtype)
        return x

    def _film_scale(self, scale: torch.Tensor, v: int, which: int) -> torch.Tensor:
        if self.film_gamma is None:
            return scale
        g = self.cfg.timestep_gamma_max
        return scale * self.film_gamma[v, which].clamp(-g, g)

    def _lanes_layer(self, state, x0, p: int, ctrl: BlockControls, attend, mlp, s: float, attn_on: bool) -> Lanes:
        """Two residual lanes: attention reads lane 0, the MLP reads the updated lane 1; each output is
        routed into both lanes with learned weights, after scaling each lane by a shared scalar."""
        lane0, lane1 = state if isinstance(state, tuple) else (state, state)
        post, resid = self.parallel_post_lambdas[p], self.parallel_resid_lambdas[p]
        if attn_on:
            a = _scale(attend(ctrl.mix(lane0, x0)), ctrl.attn_scale)
            lane0 = resid[0] * lane0 + post[0, 0] * a
            lane1 = resid[0] * lane1 + post[0, 1] * a
        m = _scale(mlp(rms_norm(ctrl.mix(lane1, x0)) * s), ctrl.mlp_scale)
        lane0 = resid[1] * lane0 + post[1, 0] * m
        lane1 = resid[1] * lane1 + post[1, 1] * m
        return lane0, lane1


def _scale(x, scale: torch.Tensor):
    return _apply_lanes(x, lambda t: t * scale.to(t.dtype))


def _add(x, delta: torch.Tensor):
    return _apply_lanes(x, lambda t: t + delta.to(t.dtype))


def _apply_lanes(x, fn):
    return tuple(fn(t) for t in x) if isinstance(x, tuple) else fn(x)
