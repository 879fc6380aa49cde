"""The training loop behind `golf train` (one process, or one rank under torchrun).

One step: take this rank's micro-batches, forward (bf16 autocast + torch.compile on CUDA; float32
eager on CPU), backward, average gradients across ranks, clip, set learning rates from the
schedule and Muon's momentum from its warmup, step Muon (matrices) and AdamW (embeddings,
scalars), update the EMA, maybe take an SWA snapshot. Recurrence phases and late QAT switch at
the top of a step. The clock (`clock.py`) counts training only: validation, checkpoints and the compile
warmup (whose effect on weights, optimizer, RNG and data order is rolled back) are excluded.
"""

from __future__ import annotations

import contextlib
import copy
import math
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from golfcli import console
from golfcli.checkpoint import save_checkpoint
from golfcli.config import GolfConfig, config_to_dict, config_to_toml, replace_section
from golfcli.errors import GolfError
from golfcli.io import save_tensors, write_text_atomic
from golfcli.metric import BpbMeter, build_byte_tables
from golfcli.model import kernels
from golfcli.train import distributed as D
from golfcli.train.averaging import EMA, SWA
from golfcli.train.background import BackgroundWriter
from golfcli.train.clock import TrainClock
from golfcli.train.muon import Muon
from golfcli.train.phases import final_phase_weights
from golfcli.train.qat import export_bits, qat_due
from golfcli.train.run_dir import MetricsLog, RunDir
from golfcli.train.schedule import Schedule, muon_momentum
from golfcli.train.state import (
    TrainState, load_train_state, optimizer_from_tensors, restore_rng, rng_tensors, train_state_payload,
)


def _use_compile(option: bool | str, device: torch.device) -> bool:
    return device.type == "cuda" if option == "auto" else bool(option)  # TrainConfig.validate checked it


def _check_config(cfg: GolfConfig, world_size: int) -> None:
    tc = cfg.train.validate()
    per_micro = tc.batch_tokens // (world_size * tc.grad_accum)
    if per_micro < tc.seq_len or per_micro % tc.seq_len:
        raise GolfError(
            f"train.batch_tokens {tc.batch_tokens} must split into whole sequences of {tc.seq_len} over "
            f"{world_size} rank(s) × {tc.grad_accum} micro-batch(es)"
        )


class Trainer:
    """Model, optimizers, data and bookkeeping of one training run (on this rank)."""

    def __init__(self, cfg: GolfConfig, out_dir: str | Path, dist: D.DistInfo):
        from golfcli.data.loaders import PrefetchLoader, make_train_loader
        from golfcli.model import GPT

        self.cfg, self.tc, self.dist = cfg, cfg.train, dist
        self.run = RunDir(out_dir)
        self.device = dist.device
        self.schedule = Schedule.from_config(self.tc)
        self.state = TrainState()
        self.cuda = self.device.type == "cuda"
        self._make_loader = lambda: PrefetchLoader(
            make_train_loader(cfg.data.data_dir, self.tc.loader, dist.rank, dist.world_size),
            self.tc.batch_tokens, self.tc.seq_len, self.tc.grad_accum, pin=self.cuda)

        torch.manual_seed(self.tc.seed)
        self.model = GPT(cfg.model).to(self.device)
        if self.tc.embed_dtype == "bf16":  # record 1493's `.bfloat16()` + restore_fp32_params: only tok_emb stays bf16
            self.model.tok_emb.bfloat16()
        self.model.train()
        self._sync_params()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizers = self._build_optimizers()
        # the parameters' detached views; parameters are never replaced, only copied into
        self._weights = self.model.state_dict()
        self.ema = EMA(self._weights, self.tc.ema_decay) if self.tc.ema_decay > 0 else None
        self.swa = SWA(self.model.state_dict()) if self.tc.swa_every > 0 else None
        self.loader = self._make_loader()
        self.qat_bits = export_bits(cfg.quant)
        self.forward = self.model
        if _use_compile(self.tc.compile, self.device):
            import torch._dynamo as dynamo

            dynamo.config.cache_size_limit = max(dynamo.config.cache_size_limit, 64)
            self.forward = torch.compile(self.model, dynamic=False, fullgraph=True)
        self.metrics = MetricsLog(self.run.metrics, enabled=dist.is_main)
        self.attention_kernel = kernels.select_kernel(self.device)
        self.val_tokens: torch.Tensor | None = None
        self.byte_tables = None
        self.writer = BackgroundWriter()

    # --- construction --------------------------------------------------------------------------
    def _sync_params(self) -> None:
        if self.dist.active:
            import torch.distributed as dist

            with torch.no_grad():
                for t in self.model.state_dict().values():
                    dist.broadcast(t, 0)

    def _build_optimizers(self) -> list[torch.optim.Optimizer]:
        tc = self.tc
        groups = self.model.param_groups()
        grouped = [p for ps in groups.values() for p in ps]
        if len(grouped) != len(self.params) or {id(p) for p in grouped} != {id(p) for p in self.params}:
            raise GolfError("model.param_groups() must put every trainable parameter in exactly one group")
        opts: list[torch.optim.Optimizer] = []
        if groups.get("matrix"):
            opts.append(Muon(
                [{"params": groups["matrix"], "base_lr": tc.matrix_lr}], lr=tc.matrix_lr,
                momentum=tc.muon_momentum_start, weight_decay=tc.muon_wd, ns_steps=tc.muon_ns_steps,
                ns_dtype=torch.bfloat16 if self.cuda else torch.float32,
                rank=self.dist.rank, world_size=self.dist.world_size if tc.distributed_muon else 1,
                row_normalize=tc.muon_row_normalize, comm_dtype=torch.bfloat16 if self.cuda else torch.float32,
                compile_ns=self.cuda and _use_compile(tc.compile, self.device),
            ))
        adam_groups = [
            {"params": groups[name], "lr": lr, "base_lr": lr, "weight_decay": wd}
            for name, lr, wd in (("embed", tc.embed_lr, tc.embed_weight_decay()), ("scalar", tc.scalar_lr, tc.adam_wd))
            if groups.get(name)
        ]
        if adam_groups:
            opts.append(torch.optim.AdamW(
                adam_groups, betas=(tc.beta1, tc.beta2), eps=tc.adam_eps, weight_decay=tc.adam_wd,
                fused=True if self.cuda else None,
            ))
        return opts

    # --- data for validation -------------------------------------------------------------------
    def load_validation(self) -> None:
        """Validation tokens and the tokenizer's byte tables (checked against the model's vocab)."""
        from golfcli.data.shards import load_validation_tokens
        from golfcli.data.tokenizer import check_vocab, load_tokenizer

        sp = load_tokenizer(self.cfg.data.tokenizer)
        check_vocab(sp, self.cfg.model.vocab_size, self.cfg.data.tokenizer)
        self.byte_tables = build_byte_tables(sp, self.cfg.model.vocab_size).to(self.device)
        seq = self.tc.seq_len
        tokens = load_validation_tokens(self.cfg.data.data_dir, seq)
        if self.tc.val_tokens > 0:
            n = max(min(self.tc.val_tokens, tokens.numel() - 1) // seq, 1) * seq
            tokens = tokens[: n + 1]
        self.val_tokens = tokens.pin_memory() if self.cuda else tokens

    # --- resume --------------------------------------------------------------------------------
    def resume_from(self, path: Path) -> None:
        """Restore model, optimizers, EMA, SWA, loader, RNG, phase and QAT from a checkpoint."""
        loaded = load_train_state(path)
        if config_to_dict(loaded.config)["model"] != config_to_dict(self.cfg)["model"]:
            raise GolfError("the [model] config differs from the run being resumed", path)
        st = loaded.state
        self.model.set_phase(st.phase, copy_untied=False)
        try:
            self.model.load_state_dict(loaded.model)
        except RuntimeError as exc:
            raise GolfError(f"checkpoint does not fit the model: {str(exc).splitlines()[0]}", path) from None
        for i, (opt, info) in enumerate(zip(self.optimizers, loaded.optimizers)):
            optimizer_from_tensors(opt, i, loaded.tensors, info)
        if self.ema is not None and loaded.ema:
            self.ema.load(loaded.ema, st.ema_updates)
        if self.swa is not None and loaded.swa:
            self.swa.load(loaded.swa, st.swa_count)
        if st.loader:
            self.loader.load_state_dict(st.loader)
        if st.qat_on:
            self.model.set_qat(self.tc.qat_mode, self.qat_bits, seed=0)
        restore_rng(loaded.tensors, self.device)
        self.state = st
        self.metrics.truncate_after(st.step)

    # --- one step ------------------------------------------------------------------------------
    def _autocast(self):
        if self.cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def step(self, step: int, lr_scale: float) -> torch.Tensor:
        """One optimizer step; returns this rank's mean training loss (a 0-d tensor, not synced)."""
        tc = self.tc
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * lr_scale
                if isinstance(opt, Muon):
                    group["momentum"] = muon_momentum(step, tc.muon_momentum_start, tc.muon_momentum,
                                                      tc.muon_momentum_warmup)
        total = torch.zeros((), device=self.device)
        for _ in range(tc.grad_accum):
            x, y = self.loader.next_batch(tc.batch_tokens, tc.seq_len, tc.grad_accum)
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            with kernels.flash_only(self.cuda):  # a kernel other than flash fails instead of running
                with self._autocast():
                    loss = self.forward(x, y)
                (loss / tc.grad_accum).backward()
            total += loss.detach().float()
        self.optimizer_step()
        return total / tc.grad_accum

    def optimizer_step(self) -> None:
        """Everything after backward: average gradients over ranks, clip, step the optimizers."""
        muon = self.optimizers[0] if self.optimizers and isinstance(self.optimizers[0], Muon) else None
        if muon is not None and muon.sharded:
            self._sharded_optimizer_step(muon)
        else:
            D.average_gradients(self.params, self.dist)
            if self.tc.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.params, self.tc.grad_clip)
            for opt in self.optimizers:
                opt.step()
        self.model.zero_grad(set_to_none=True)

    def _sharded_optimizer_step(self, muon: Muon) -> None:
        """AdamW's all-reduce launched first, Muon's reduce-scatters behind it, clip over both, then step."""
        matrices = {id(p) for g in muon.param_groups for p in g["params"]}
        pending = D.average_gradients_async([p for p in self.params if id(p) not in matrices], self.dist)
        muon.reduce_gradients()
        replicated = pending.wait()
        scale = None
        if self.tc.grad_clip > 0:
            scale = D.clip_factor(replicated, muon.local_grad_sq(), self.tc.grad_clip, self.dist)
            if replicated:
                torch._foreach_mul_(replicated, scale)
        for opt in self.optimizers[1:]:
            opt.step()
        muon.step(grad_scale=scale)

    def current_weights(self) -> dict[str, torch.Tensor]:
        """The weights EMA and SWA fold in after a step (a cached dict of views, no state_dict())."""
        return self._weights

    # --- compile warmup ------------------------------------------------------------------------
    def compile_warmup(self) -> None:
        """Run warmup steps in every graph the run will need, then roll everything back."""
        n = self.tc.warmup_steps
        if n <= 0:
            return
        saved_model = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        saved_opts = [copy.deepcopy(opt.state_dict()) for opt in self.optimizers]
        saved_rng = rng_tensors(self.device)
        start_phase, qat_on = self.model.phase, self.state.qat_on
        graphs = [(p, False) for p in range(start_phase, self.model.num_phases)]
        if self.tc.qat_mode != "off":
            graphs.append((self.model.final_phase, True))
        for phase, qat in graphs:
            if phase != self.model.phase:
                self.model.set_phase(phase, copy_untied=True)
            self.model.set_qat(self.tc.qat_mode if qat else "off", self.qat_bits, seed=0)
            for _ in range(n):
                self.step(self.state.step, 1.0)
        if self.model.phase != start_phase:
            self.model.set_phase(start_phase, copy_untied=False)
        self.model.set_qat(self.tc.qat_mode if qat_on else "off", self.qat_bits, seed=0)
        self.model.load_state_dict(saved_model)
        for opt, sd in zip(self.optimizers, saved_opts):
            opt.load_state_dict(sd)
        self._warm_validation()
        restore_rng(saved_rng, self.device)
        self.loader.close()
        self.loader = self._make_loader()
        if self.state.loader:
            self.loader.load_state_dict(self.state.loader)
        self.sync()

    # --- validation ----------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """Validation loss and bpb of the current weights, over this rank's share of the sequences.

        Sums stay on the device until the end (no host sync per batch); with a compiled forward the
        last batch is padded to the others' shape, so validation needs one graph (warmed up front).
        """
        assert self.val_tokens is not None and self.byte_tables is not None
        seq = self.tc.seq_len
        n_seqs = (self.val_tokens.numel() - 1) // seq
        lo = n_seqs * self.dist.rank // self.dist.world_size
        hi = n_seqs * (self.dist.rank + 1) // self.dist.world_size
        per_batch = self._val_rows()
        sums = torch.zeros(2, dtype=torch.float64, device=self.device)  # NLL, bytes
        tokens = 0
        self.model.eval()
        try:
            with torch.inference_mode():
                for s in range(lo, hi, per_batch):
                    rows = min(s + per_batch, hi) - s
                    chunk = self.val_tokens[s * seq : (s + rows) * seq + 1]
                    x, y = chunk[:-1].view(-1, seq), chunk[1:].view(-1, seq)
                    if self.forward is not self.model and rows < per_batch:
                        x = torch.cat([x, x.new_zeros(per_batch - rows, seq)])
                    # copies made here are inference tensors, like the padded last batch: one graph
                    x = x.to(self.device, non_blocking=True, copy=True)
                    y = y.to(self.device, non_blocking=True)
                    with self._autocast():
                        logits = self.forward(x)[:rows]
                    nll = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="none")
                    n_bytes = self.byte_tables.count(x[:rows].reshape(-1), y.reshape(-1)).sum()
                    sums += torch.stack([nll.double().sum(), n_bytes.double()])
                    tokens += nll.numel()
        finally:
            self.model.train()
        meter = BpbMeter()
        nll_sum, n_bytes = sums.tolist()
        meter.add_sums(nll_sum, tokens, int(n_bytes))
        meter.all_reduce(self.dist)
        return {"val_loss": meter.val_loss, "val_bpb": meter.bpb, "val_tokens": meter.tokens, "val_bytes": meter.bytes}

    def _val_rows(self) -> int:
        return max(self.tc.val_batch_tokens // self.dist.world_size // self.tc.seq_len, 1)

    def _warm_validation(self) -> None:
        """Compile the validation graph before the clock starts (a compiled forward only)."""
        if self.forward is self.model:
            return
        self.model.eval()
        try:
            with torch.inference_mode(), self._autocast():
                self.forward(torch.zeros(self._val_rows(), self.tc.seq_len, dtype=torch.int64, device=self.device))
        finally:
            self.model.train()

    def validate_weights(self, weights: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Validate other weights (e.g. the EMA) in place of the current ones, then put them back."""
        current = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(weights)
        try:
            return self.validate()
        finally:
            self.model.load_state_dict(current)

    # --- files ---------------------------------------------------------------------------------
    def save_state(self, background: bool = False) -> Path:
        """Write a training-state checkpoint for the current step (rank 0 writes; every rank calls).

        With `background`, the state is copied to host memory here and the file is written on a
        thread while training goes on (periodic checkpoints); otherwise it is written before returning.
        """
        path = self.run.checkpoint(self.state.step)
        for opt in self.optimizers:
            if isinstance(opt, Muon):
                opt.gather_state()
        if not self.dist.is_main:
            return path
        self.state.loader = self.loader.state_dict()
        self.state.ema_updates = self.ema.updates if self.ema else 0
        self.state.swa_count = self.swa.count if self.swa else 0
        tensors, kind, meta = train_state_payload(
            self.cfg, self.state, self.model.state_dict(), self.optimizers, self.device,
            ema=self.ema.state_tensors() if self.ema else None,
            swa=self.swa.total if self.swa and self.swa.count else None,
        )
        snapshot = {k: v.detach().to("cpu", copy=True) for k, v in tensors.items()}

        def write() -> None:
            save_tensors(path, snapshot, kind, meta)
            self.run.prune(self.tc.keep_checkpoints)

        self.writer.submit(write)
        if not background:
            self.writer.wait()
        return path

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        """Stop the loader's background thread and finish a checkpoint write in flight."""
        self.loader.close()
        self.writer.wait()




class _Display:
    """Live rich bar (TTY) or plain progress lines on stderr; silent on ranks other than 0."""

    def __init__(self, enabled: bool, schedule: Schedule, max_steps: int | None):
        self.enabled = enabled
        self.by_time = schedule.clock == "time"
        total = schedule.max_seconds if self.by_time else min(schedule.iterations, max_steps or schedule.iterations)
        self._ctx = console.progress(total, "train") if enabled else contextlib.nullcontext(None)
        self.bar = None
        self.shown = 0.0

    def __enter__(self) -> "_Display":
        self.bar = self._ctx.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)

    def update(self, step: int, elapsed: float, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:  # a rich bar, or a plain line at a steady interval off a terminal
            now = elapsed if self.by_time else float(step)
            self.bar.update(description=text)
            self.bar.advance(now - self.shown)
            self.shown = now


def train(
    cfg: GolfConfig,
    out_dir: str | Path,
    max_steps: int | None = None,
    max_seconds: float | None = None,
    resume: bool = False,
    val_every: int | None = None,
    data_dir: str | None = None,
    tokenizer: str | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train `cfg`'s model into run directory `out_dir`; return a summary dict.

    max_steps caps the total step count of the run (a resumed run continues up to it);
    max_seconds replaces train.max_seconds (wallclock cap and warmdown horizon); val_every,
    data_dir and tokenizer replace their config keys. With resume, training continues exactly
    from the newest checkpoint in `out_dir` (or starts fresh when there is none).
    """
    changes: dict[str, Any] = {}
    if max_seconds is not None:
        changes["max_seconds"] = float(max_seconds)
    if val_every is not None:
        changes["val_every"] = int(val_every)
    if changes:
        cfg = replace_section(cfg, "train", **changes)
    data_changes = {k: v for k, v in (("data_dir", data_dir), ("tokenizer", tokenizer)) if v is not None}
    if data_changes:
        cfg = replace_section(cfg, "data", **{k: str(v) for k, v in data_changes.items()})
    if max_steps is not None and max_steps < 0:
        raise GolfError(f"--max-steps must be ≥ 0, got {max_steps}")
    run = RunDir(out_dir)
    if resume and run.latest_checkpoint() is None:
        where = "directory not found" if not run.root.is_dir() else f"no checkpoint in {run.checkpoints_dir}"
        raise GolfError(f"nothing to resume ({where}); check --out, or drop --resume to start a new run", run.root)

    dist = D.setup(cfg.train.device)
    try:
        result = _train(cfg, Path(out_dir), dist, max_steps, resume, on_step)
        D.barrier(dist)  # a gloo rank leaving while a peer still talks to it can abort the peer
        return result
    finally:
        D.teardown(dist)


def _check_inputs(cfg: GolfConfig) -> None:
    """Fail on missing data or tokenizer before anything is written."""
    from golfcli.data.shards import shard_files
    from golfcli.io import require_file

    require_file(cfg.data.tokenizer, "tokenizer")
    shard_files(cfg.data.data_dir, "train")
    shard_files(cfg.data.data_dir, "val")


def _prepare_run_dir(run: RunDir, cfg: GolfConfig, resume: bool, dist: D.DistInfo) -> Path | None:
    latest = run.latest_checkpoint() if resume else None
    if not resume and run.has_training_output():
        raise GolfError("run directory already holds a training run; use --resume or another --out", run.root)
    if dist.is_main:
        run.root.mkdir(parents=True, exist_ok=True)
        run.checkpoints_dir.mkdir(exist_ok=True)
        write_text_atomic(run.config, config_to_toml(cfg))
        if latest is None and run.metrics.exists():
            run.metrics.unlink()
    return latest


def _train(
    cfg: GolfConfig, out: Path, dist: D.DistInfo, max_steps: int | None, resume: bool,
    on_step: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    _check_config(cfg, dist.world_size)
    if dist.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    _check_inputs(cfg)
    latest = _prepare_run_dir(RunDir(out), cfg, resume, dist)
    D.barrier(dist)
    say = console.info if dist.is_main else (lambda _msg: None)

    trainer = Trainer(cfg, out, dist)
    with contextlib.closing(trainer):
        _begin(trainer, latest, say)
        st = trainer.state
        with _Display(dist.is_main, trainer.schedule, max_steps) as display:
            clock = TrainClock(D.LaggedClock(dist, st.elapsed), trainer.schedule.max_seconds, st.elapsed,
                               cfg.train.iterations, max_steps, trainer.sync)
            stopped, last_loss = _loop(trainer, clock, display, say, on_step)
        return _finish(trainer, say, {"stopped_by": stopped, "final_loss": last_loss})


def _begin(trainer: Trainer, latest: Path | None, say: Callable[[str], None]) -> None:
    """Validation data, the resumed state (the same step on every rank), the compile warmup."""
    trainer.load_validation()
    if latest is not None:
        trainer.resume_from(latest)
        step = trainer.state.step
        if D.all_reduce_max(step, trainer.dist) != -D.all_reduce_max(-step, trainer.dist):
            raise GolfError("ranks resumed from different steps: the run directory must be on a filesystem "
                            "every rank sees", trainer.run.root)
        say(f"resumed from {latest} at step {step}")
    say(f"attention kernel: {trainer.attention_kernel}")
    trainer.metrics.write({"step": trainer.state.step, "attention_kernel": trainer.attention_kernel})
    trainer.compile_warmup()


def _loop(trainer: Trainer, clock: TrainClock, display: "_Display", say: Callable[[str], None],
          on_step: Callable[[dict[str, Any]], None] | None) -> tuple[str, float | None]:
    """Step, log, maybe validate or checkpoint (off the clock), until the clock says stop."""
    st, tc = trainer.state, trainer.tc
    losses: list[tuple[int, torch.Tensor]] = []
    last_loss = None
    stopped = clock.stop_reason(st.step)
    while stopped is None:
        lr_scale = _top_of_step(trainer, clock.elapsed, say)
        losses.append((st.step, trainer.step(st.step, lr_scale)))
        _after_step(trainer, lr_scale)
        clock.tick()
        stopped = clock.stop_reason(st.step)
        do_val, do_ckpt = (n > 0 and st.step % n == 0 and stopped is None for n in (tc.val_every, tc.checkpoint_every))
        if st.step % max(tc.log_every, 1) == 0 or stopped or do_val or do_ckpt:
            last_loss = _log(trainer, losses, lr_scale, clock, display, on_step)
        if do_val or do_ckpt:
            with clock.paused():
                st.elapsed = clock.spent
                if do_val:
                    _validate(trainer, clock.elapsed, say)
                if do_ckpt:
                    trainer.save_state(background=True)
    st.elapsed = clock.stop()
    return stopped, last_loss


def _event(trainer: Trainer, elapsed: float, say: Callable[[str], None], event: str, **extra: Any) -> None:
    trainer.metrics.write({"step": trainer.state.step, "event": event, "elapsed": round(elapsed, 3), **extra})
    say(f"step {trainer.state.step}: {event}" + "".join(f" {k}={v}" for k, v in extra.items()))


def _top_of_step(trainer: Trainer, elapsed: float, say: Callable[[str], None]) -> float:
    """Switch the recurrence phase and late QAT when due; the step's LR scale."""
    st, model, tc, step = trainer.state, trainer.model, trainer.tc, trainer.state.step
    phase = model.schedule.phase_for(step, trainer.schedule.progress(step, elapsed))
    if phase != model.phase:
        model.set_phase(phase, copy_untied=True)
        st.phase = phase
        _event(trainer, elapsed, say, "phase", phase=phase)
    lr_scale = trainer.schedule.lr_scale(step, elapsed)
    if not st.qat_on and qat_due(tc, step, lr_scale):
        model.set_qat(tc.qat_mode, trainer.qat_bits, seed=0)
        st.qat_on = True
        _event(trainer, elapsed, say, "qat", mode=tc.qat_mode, lr_scale=round(lr_scale, 4))
    return lr_scale


def _after_step(trainer: Trainer, lr_scale: float) -> None:
    """Fold the new weights into the EMA, count the step, maybe take an SWA snapshot."""
    st, tc, model = trainer.state, trainer.tc, trainer.model
    if trainer.ema is not None:
        trainer.ema.update(trainer.current_weights())
    st.step += 1
    st.tokens += tc.batch_tokens
    if (trainer.swa is not None and lr_scale < tc.swa_threshold and st.step % tc.swa_every == 0
            and model.phase == model.final_phase):
        trainer.swa.add(trainer.current_weights())


def _log(trainer: Trainer, losses: list[tuple[int, torch.Tensor]], lr_scale: float, clock: TrainClock,
         display: "_Display", on_step: Callable[[dict[str, Any]], None] | None) -> float:
    """Read the losses since the last log (stop on NaN/inf on any rank), write a metrics line; the last loss."""
    st = trainer.state
    values = torch.stack([v for _, v in losses]).cpu()
    bad = [s for (s, _), v in zip(losses, values.tolist()) if not math.isfinite(v)]
    if D.broadcast_flag(bool(bad), trainer.dist):
        trainer.writer.wait()
        last = trainer.run.latest_checkpoint()
        kept = f"; the last good checkpoint is {last}" if last else "; no checkpoint was written yet"
        what = f"at step {bad[0]}" if bad else f"on another rank by step {st.step - 1}"
        raise GolfError(f"training loss became NaN/inf {what}; stopped{kept}", trainer.run.root)
    dt, n = clock.lap(), len(losses)
    ms = 1000 * dt / max(n, 1)
    record = {
        "step": st.step, "loss": float(values[-1]), "lr_scale": round(lr_scale, 6),
        "tokens": st.tokens, "ms_per_step": round(ms, 3),
        "tokens_per_s": round(n * trainer.tc.batch_tokens / dt, 1) if dt > 0 else None,
        "elapsed": round(clock.elapsed, 3), "phase": trainer.model.phase, "qat": st.qat_on,
    }
    trainer.metrics.write(record)
    display.update(st.step, clock.elapsed, f"step {st.step} loss {record['loss']:.4f} "
                   f"lr×{lr_scale:.3f} {record['tokens_per_s'] or 0:,.0f} tok/s {ms:.1f} ms/step")
    if on_step:
        on_step(record)
    losses.clear()
    return record["loss"]


def _validate(trainer: Trainer, elapsed: float, say: Callable[[str], None]) -> dict[str, Any]:
    val = trainer.validate()
    trainer.metrics.write({"step": trainer.state.step, "elapsed": round(elapsed, 3), **val})
    say(f"step {trainer.state.step}: val_loss {val['val_loss']:.4f} val_bpb {val['val_bpb']:.4f}")
    return val


def _finish(trainer: Trainer, say: Callable[[str], None], summary: dict[str, Any]) -> dict[str, Any]:
    """Last checkpoint, weights at full depth, final validation; final (and EMA, SWA) files; the summary."""
    cfg, st, model, dist, run, tc = trainer.cfg, trainer.state, trainer.model, trainer.dist, trainer.run, trainer.tc
    checkpoint = trainer.save_state()
    if model.phase != model.final_phase:
        say(f"run ended in recurrence phase {model.phase}; final weights are written at full depth "
            f"(phase {model.final_phase}, untied copies from their base weights)")
        model.load_state_dict(final_phase_weights(cfg, model.state_dict(), model.phase))
        model.set_phase(model.final_phase, copy_untied=False)
    last_val = _validate(trainer, st.elapsed, say)
    summary = {
        "run_dir": str(run.root), "steps": st.step, "seconds": round(st.elapsed, 3), "tokens": st.tokens,
        **summary, "world_size": dist.world_size,
        "device": str(dist.device), "compiled": trainer.forward is not model,
        "val_loss": last_val.get("val_loss"), "val_bpb": last_val.get("val_bpb"),
        "val_tokens": last_val.get("val_tokens"),
    }
    extra = {"step": st.step, "source": "train", "seconds": round(st.elapsed, 3)}
    if dist.is_main:
        save_checkpoint(run.final, model.state_dict(), cfg, weights="final", **extra)
    paths = {"config": str(run.config), "metrics": str(run.metrics), "checkpoint": str(checkpoint),
             "final": str(run.final)}
    if trainer.ema is not None:
        ema_w = trainer.ema.weights()
        if st.phase != model.final_phase:
            ema_w = final_phase_weights(cfg, ema_w, st.phase)
        ema_w = {k: v.to(model.state_dict()[k].device) for k, v in ema_w.items()}
        ema_val = trainer.validate_weights(ema_w)
        summary["ema_val_loss"], summary["ema_val_bpb"] = ema_val["val_loss"], ema_val["val_bpb"]
        trainer.metrics.write({"step": st.step, "elapsed": round(st.elapsed, 3),
                               **{f"ema_{k}": v for k, v in ema_val.items()}})
        if dist.is_main:
            save_checkpoint(run.ema, ema_w, cfg, weights="ema", decay=tc.ema_decay, updates=trainer.ema.updates,
                            **extra)
        paths["ema"] = str(run.ema)
    if trainer.swa is not None and trainer.swa.count:
        if dist.is_main:
            save_checkpoint(run.swa, trainer.swa.weights(), cfg, weights="swa", snapshots=trainer.swa.count,
                            **extra)
        paths["swa"] = str(run.swa)
    summary["swa_snapshots"] = trainer.swa.count if trainer.swa else 0
    summary["paths"] = paths
    D.barrier(dist)
    return summary


__all__ = ["train", "Trainer"]
