"""`golf export`: a challenge records folder (train_gpt.py reruns the chain), --update and --check it."""

from __future__ import annotations

import sys

import click

from golfcli.cli.options import config_options, emit, json_option, resolve_config
from golfcli.errors import GolfError


def _render_build(r: dict) -> None:
    click.echo(f"wrote {r['out']}: train_gpt.py {r['code_bytes']:,} bytes ({r['modules']} modules, "
               f"{r['compressed_bytes']:,} compressed), requirements: {' '.join(r['requirements'])}")
    click.echo(f"run it from that folder: SEED=1337 torchrun --standalone --nproc_per_node=8 train_gpt.py; "
               f"then golf export --update {r['out']} and golf export --check {r['out']}")


def _render_update(r: dict) -> None:
    bpb = "—" if r["val_bpb"] is None else f"{r['val_bpb']:.8f}"
    click.echo(f"updated {r['out']}/submission.json and README.md from {r['logs']} log(s): val_bpb {bpb}")


def _render_check(r: dict) -> None:
    for v in r["verdicts"]:
        click.echo(f"{'PASS' if v['ok'] else 'FAIL'} {v['rule']}: {v['detail']}")
    click.echo(f"{r['folder']}: {'all rules pass' if r['ok'] else 'FAILS the rules above'}")


@click.command("export")
@config_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Records folder to write.")
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out folder.")
@click.option("--mode", type=click.Choice(["sliding", "hedge"]), default="sliding", show_default=True,
              help="The scored evaluation of the artifact.")
@click.option("--ttt", is_flag=True, help="Score-first test-time training in the scored evaluation.")
@click.option("--reserve-seconds", type=float, default=None,
              help="Seconds of the training wallclock kept for ema + calibration + GPTQ + packing [30].")
@click.option("--name", default=None, help="submission.json name.")
@click.option("--author", default=None, help="submission.json author.")
@click.option("--github-id", default=None, help="submission.json github_id.")
@click.option("--update", "update_dir", type=click.Path(file_okay=False, exists=True),
              help="Refresh submission.json and README.md of an exported folder from its logs.")
@click.option("--check", "check_dir", type=click.Path(file_okay=False, exists=True),
              help="Check a records folder against the challenge's rules (exit 1 on a failure).")
@click.option("--baseline-bpb", type=float, default=None, help="--check: the record to beat (its val_bpb).")
@click.option("--baseline-log", type=click.Path(dir_okay=False, exists=True), default=None,
              help="--check: the record to beat, as its train log.")
@click.option("--min-gain", type=float, default=0.005, show_default=True,
              help="--check: the improvement in nats the t-test must show.")
@click.option("--no-run", is_flag=True, help="--check: skip running train_gpt.py --dry-run.")
@json_option
def command(preset, config_file, overrides, out_dir, overwrite, mode, ttt, reserve_seconds, name, author, github_id,
            update_dir, check_dir, baseline_bpb, baseline_log, min_gain, no_run, as_json) -> None:
    """Write a records folder whose train_gpt.py trains, quantizes, packs and scores in one run.

    golf export --preset P --out DIR: DIR/train_gpt.py (the golf code this config needs, compressed, config
    frozen in; SEED, RUN_ID, DATA_PATH, TOKENIZER_PATH, MAX_WALLCLOCK_SECONDS and GOLF_SET="section.key=value;..."
    from the environment), requirements.txt, config.toml, submission.json and README.md.

    golf export --update DIR: refresh submission.json and README.md from DIR/logs.

    golf export --check DIR: the challenge's rules, one verdict each (exit 1 on a failure).
    """
    from golfcli.export import check, folder

    chosen = [flag for flag, value in (("--out", out_dir), ("--update", update_dir), ("--check", check_dir)) if value]
    if len(chosen) != 1:
        raise GolfError("give exactly one of --out DIR, --update DIR or --check DIR")
    if check_dir:
        if baseline_bpb is not None and baseline_log:
            raise GolfError("give --baseline-bpb or --baseline-log, not both")
        base = check.baseline_from_log(baseline_log) if baseline_log else baseline_bpb
        result = check.check_folder(check_dir, base, min_gain, run_script=not no_run)
        emit(result, as_json, _render_check)
        if not result["ok"]:
            sys.exit(1)
        return
    if update_dir:
        emit(folder.update_folder(update_dir), as_json, _render_update)
        return
    if not (preset or config_file):
        raise GolfError("golf export --out needs --preset or --config")
    plan = folder.plan_for(resolve_config(preset, config_file, overrides), mode, ttt, reserve_seconds)
    info = {k: v for k, v in (("name", name), ("author", author), ("github_id", github_id)) if v}
    emit(folder.build_folder(out_dir, plan, info, overwrite), as_json, _render_build)
