"""`golf eval MODEL`, `golf eval-sliding MODEL`, `golf eval-hedge MODEL`: bits per byte on validation.

MODEL is a checkpoint, a quantized file or an artifact (detected from its bytes). The verbs only
resolve options, load the model, tokens and tokenizer, and call `golfcli.eval.evaluate`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import config_options, emit, json_option
from golfcli.config import EvalConfig, config_from_dict, config_to_dict, load_config
from golfcli.config.data import DEFAULT_DATA_DIR, DEFAULT_TOKENIZER
from golfcli.config.toml import parse_value
from golfcli.errors import GolfError


def resolve_eval_config(file_eval: EvalConfig, preset: str | None, config_file: str | None,
                        overrides: tuple[str, ...], **flags: Any) -> EvalConfig:
    """The model file's eval settings ← --preset/--config's [eval] ← --set eval.* ← explicit flags."""
    table = dataclasses.asdict(file_eval)
    if preset or config_file:
        table = config_to_dict(load_config(preset, config_file))["eval"]
    for text in overrides:
        key, _, value = text.partition("=")
        section, _, name = key.strip().partition(".")
        if section != "eval" or not name or not _:
            raise GolfError(f"golf eval takes --set eval.KEY=VALUE only, got {text!r}")
        table[name] = parse_value(value.strip())
    table.update({k: v for k, v in flags.items() if v is not None})
    return config_from_dict({"eval": table}).eval.validate()


def load_tokens(data_dir: str, max_tokens: int | None, truncate_to: int | None) -> tuple[Any, int]:
    """(validation tokens to score, tokens available): the first `max_tokens`, or the challenge truncation."""
    from golfcli.data.shards import load_validation_tokens

    tokens = load_validation_tokens(data_dir)
    available = tokens.numel()
    if max_tokens is not None:
        if max_tokens < 2:
            raise GolfError(f"--max-tokens must be at least 2 (one target), got {max_tokens}")
        return tokens[:max_tokens], available
    if truncate_to:
        usable = ((available - 1) // truncate_to) * truncate_to
        if usable > 0:
            return tokens[: usable + 1], available
    return tokens, available


def run_eval(model_path: str, data_dir: str, tokenizer: str, mode: str, *, ttt: bool = False,
             eval_cfg: EvalConfig | None = None, max_tokens: int | None = None, per_token: str | None = None,
             check_normalization: bool = False, device: str = "auto", preset: str | None = None,
             config_file: str | None = None, overrides: tuple[str, ...] = (), **flags: Any) -> dict[str, Any]:
    """Load a model file, the validation stream and the tokenizer; evaluate; return the report."""
    from golfcli.data.tokenizer import check_vocab, load_tokenizer
    from golfcli.eval import evaluate
    from golfcli.loading import check_tokenizer_matches, load_model
    from golfcli.metric import build_byte_tables
    from golfcli.train.distributed import barrier, setup, teardown

    info = setup(device)
    try:
        model, cfg = load_model(model_path, info.device)
        vocab = cfg.model.vocab_size
        sp = load_tokenizer(tokenizer)
        check_vocab(sp, vocab, tokenizer)
        check_tokenizer_matches(model_path, tokenizer)
        ecfg = eval_cfg or resolve_eval_config(cfg.eval, preset, config_file, overrides, **flags)
        tokens, available = load_tokens(data_dir, max_tokens, ecfg.seq_len if ecfg.truncate else None)
        top = int(tokens.max())
        if top >= vocab:
            raise GolfError(f"validation tokens reach id {top}, beyond the model's vocabulary of {vocab}", data_dir)
        if per_token and not str(per_token).endswith(".npy"):
            raise GolfError("--per-token writes a .npy file; give a name ending in .npy", per_token)
        result = evaluate(model, tokens, build_byte_tables(sp, vocab), mode, ecfg, ttt=ttt,
                          check_normalization=check_normalization, per_token=per_token)
        barrier(info)  # a gloo rank leaving while a peer still talks to it can abort the peer
    finally:
        teardown(info)
    result.update(model=str(model_path), tokens_available=available, partial=max_tokens is not None
                  and tokens.numel() < available)
    if per_token:
        result["per_token"] = str(per_token)
    return result


def render(result: dict[str, Any]) -> None:
    """The report as a small table."""
    title = f"golf eval: {result['mode']}{' + ttt' if result.get('ttt') else ''}"
    if result.get("partial"):
        title += f" (PARTIAL: first {result['tokens_scored'] + 1:,} of {result['tokens_available']:,} tokens)"
    table = Table(title=title, show_header=False)
    rows = [
        ("val_bpb", f"{result['val_bpb']:.6f}"), ("val_loss (nats/token)", f"{result['val_loss']:.6f}"),
        ("tokens scored", f"{result['tokens_scored']:,}"), ("bytes scored", f"{result['bytes_scored']:,}"),
        ("seconds", f"{result['seconds']:.2f}"), ("tokens/s", f"{result['tokens_per_s']:,.0f}"),
    ]
    if "neural_bpb" in result:
        rows += [("neural-only bpb (same pass)", f"{result['neural_bpb']:.6f}"),
                 ("gain (bpb)", f"{result['gain_bpb']:+.6f}")]
        rows += [(f"weight {k}", f"{v:.4f}") for k, v in result["expert_weights"].items()]
    if "normalization_checks" in result:
        rows.append(("normalization checks", f"{result['normalization_checks']} "
                     f"(max |Σp − 1| = {result['max_normalization_error']:.2e})"))
    if "ttt_chunks" in result:
        rows.append(("ttt chunks trained", f"{result['ttt_trained_chunks']} of {result['ttt_chunks']}"))
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)


def _options(func):
    opts = [
        click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False)),
        click.option("--data", "data_dir", default=DEFAULT_DATA_DIR, show_default=True,
                     help="Directory of fineweb_val_*.bin shards."),
        click.option("--tokenizer", default=DEFAULT_TOKENIZER, show_default=True, help="SentencePiece model."),
        click.option("--window", type=int, default=None, help="Sliding window length [eval.window: 2048]."),
        click.option("--stride", type=int, default=None, help="Sliding stride [eval.stride: 64]."),
        click.option("--seq-len", type=int, default=None, help="Standard eval sequence length [eval.seq_len: 2048]."),
        click.option("--batch-seqs", type=int, default=None, help="Windows per batch per rank [eval.batch_seqs: 32]."),
        click.option("--max-tokens", type=int, default=None,
                     help="Evaluate only the first N validation tokens (N-1 targets; reported as partial)."),
        click.option("--ttt", is_flag=True, help="Score-first test-time training over chunks."),
        click.option("--ttt-epochs", type=int, default=None, help="Epochs per TTT chunk [eval.ttt_epochs: 3]."),
        click.option("--ttt-lr", type=float, default=None, help="Peak TTT learning rate [eval.ttt_lr: 0.002]."),
        click.option("--ttt-chunk-tokens", type=int, default=None, help="Targets per TTT chunk [32768]."),
        click.option("--check-normalization", is_flag=True,
                     help="Hedge: assert the mixture sums to 1 (±1e-6) over the vocabulary at sampled positions."),
        click.option("--per-token", type=click.Path(dir_okay=False), default=None,
                     help="Write every target's NLL (nats, float32, stream order) to FILE.npy."),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return config_options(json_option(func))


def _make(name: str, fixed_mode: str | None, help_text: str) -> click.Command:
    def body(model_path, data_dir, tokenizer, window, stride, seq_len, batch_seqs, max_tokens, ttt, ttt_epochs,
             ttt_lr, ttt_chunk_tokens, check_normalization, per_token, device, preset, config_file, overrides,
             as_json, sliding=False, hedge=False):
        mode = fixed_mode or ("hedge" if hedge else "sliding" if sliding else "standard")
        result = run_eval(
            model_path, data_dir, tokenizer, mode, ttt=ttt, max_tokens=max_tokens, per_token=per_token,
            check_normalization=check_normalization, device=device, preset=preset, config_file=config_file,
            overrides=overrides, window=window, stride=stride, seq_len=seq_len, batch_seqs=batch_seqs,
            ttt_epochs=ttt_epochs, ttt_lr=ttt_lr, ttt_chunk_tokens=ttt_chunk_tokens,
        )
        if int(os.environ.get("RANK", "0") or 0) == 0:  # under torchrun only rank 0 prints
            emit(result, as_json, render)

    body.__doc__ = help_text
    func = _options(body)
    if fixed_mode is None:
        func = click.option("--hedge", is_flag=True, help="Hedge mixer over the sliding windows.")(func)
        func = click.option("--sliding", is_flag=True, help="Sliding-window evaluation (the scored metric).")(func)
    return click.command(name)(func)


eval = _make("eval", None, "Bits per byte of MODEL on the validation split (standard, --sliding or --hedge).")
eval_sliding = _make("eval-sliding", "sliding", "Sliding-window bits per byte (the challenge's metric): every "
                     "target scored once with the longest context the window allows.")
eval_hedge = _make("eval-hedge", "hedge", "Hedge-mixer bits per byte over sliding windows: the model mixed with "
                   "unigram/bigram/trigram distributions of already-scored tokens.")

commands = [eval, eval_sliding, eval_hedge]
