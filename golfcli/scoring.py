"""Scoring a model file on the validation shards: the work behind `golf eval` and a bundle's entry.

`run_eval` loads any golf model file, the validation stream and the tokenizer, checks that they
belong together, evaluates and returns the report. `main` is the command line of a submission
bundle (`golf bundle`): the same scoring with argparse instead of Click, so a bundled script needs
no golf installation and no Click.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any

from golfcli.config import EvalConfig, GolfConfig
from golfcli.config.base import cli_fields
from golfcli.config.data import DEFAULT_DATA_DIR, DEFAULT_TOKENIZER
from golfcli.config.resolve import Resolved, resolve_settings
from golfcli.errors import GolfError


def resolve_eval_settings(stored: GolfConfig, preset: str | None, config_file: str | None,
                          overrides: tuple[str, ...], **flags: Any) -> Resolved:
    """The eval settings by the one precedence rule: flags > --set > --config/--preset > the model file's."""
    resolved = resolve_settings(stored, preset, config_file, overrides, {"eval": flags},
                                stored_label="the model file", reads=("eval",))
    return resolved


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
    from golfcli.distributed import barrier, setup, teardown
    from golfcli.eval import evaluate
    from golfcli.loading import check_tokenizer_matches, open_model
    from golfcli.metric import build_byte_tables

    info = setup(device)
    try:
        model, file = open_model(model_path, info.device)  # the artifact is decoded once, here
        cfg = file.config
        vocab = cfg.model.vocab_size
        sp = load_tokenizer(tokenizer)
        check_vocab(sp, vocab, tokenizer)
        check_tokenizer_matches(model_path, tokenizer, file.provenance)
        if eval_cfg is None:
            resolved = resolve_eval_settings(cfg, preset, config_file, overrides, **flags)
            ecfg, sources = resolved.config.eval, resolved.sources
        else:
            ecfg, sources = eval_cfg, {}
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
                  and tokens.numel() < available, eval=dataclasses.asdict(ecfg),
                  eval_sources={k: v for k, v in sources.items() if k.startswith("eval.")})
    if per_token:
        result["per_token"] = str(per_token)
    return result


def _argparse_type(f: Any) -> Any:
    def parse(text: str) -> Any:
        try:
            return f.parse(text)
        except GolfError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = f.kind.__name__
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Bits per byte of a golf artifact on the validation shards (sliding windows by default).")
    parser.add_argument("artifact", help="golf artifact (or any golf model file)")
    parser.add_argument("--data", default=DEFAULT_DATA_DIR, help="directory of fineweb_val_*.bin shards")
    parser.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="SentencePiece model")
    parser.add_argument("--mode", default="sliding", choices=("standard", "sliding", "hedge"))
    parser.add_argument("--ttt", action="store_true", help="score-first test-time training")
    parser.add_argument("--max-tokens", type=int, default=None, help="score only the first N tokens")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    for f in cli_fields(EvalConfig, "eval"):  # the same shorthands as `golf eval`, from the same fields
        parser.add_argument(f.flag, dest=f.dest, type=_argparse_type(f), default=None, metavar=f.metavar or f.kind.__name__.upper(),
                            help=f"{f.help} [default: the artifact's {f.key}]")
    return parser


def main(argv: list[str] | None = None) -> int:
    """A bundle's command line: score an artifact, print `val_bpb` (or JSON); 2 on a GolfError."""
    from golfcli import console

    args = _parser().parse_args(argv)
    console.set_quiet(args.json)
    try:
        flags = {f.name: getattr(args, f.dest) for f in cli_fields(EvalConfig, "eval")}
        result = run_eval(args.artifact, args.data, args.tokenizer, args.mode, ttt=args.ttt,
                          max_tokens=args.max_tokens, device=args.device, **flags)
    except GolfError as exc:
        print(f"golf: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if int(os.environ.get("RANK", "0") or 0) != 0:
        return 0
    result["golfcli_origin"] = getattr(sys.modules["golfcli"].__spec__, "origin", None)
    if args.json:
        print(json.dumps(result, default=str))
    else:
        for key in ("val_bpb", "val_loss", "tokens_scored", "bytes_scored", "seconds"):
            print(f"{key} {result[key]}")
    return 0
