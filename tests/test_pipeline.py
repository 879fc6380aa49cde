"""golf run: the whole chain, skipping stages whose command, settings and inputs are unchanged."""

from __future__ import annotations

import json
import math
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from golfcli.config import load_config
from golfcli.pipeline import RunLayout, plan_stages, stage_key

RUN = "tiny run"  # the shared run's dir, relative to its home; the space needs shell quoting


def golf_run(home: Path, run, corpus, *extra: str) -> dict:
    """The shared run's `golf run` again, from `home` into `home / RUN` (plus `extra` options)."""
    proc = subprocess.run(run.argv(corpus, RUN, *extra), capture_output=True, text=True, cwd=home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def first_run(tiny_run):
    """The session's `golf run --hedge` (tests/conftest.py), never changed by a test (copy it to change it)."""
    assert tiny_run.out.name == RUN
    return tiny_run.out, tiny_run.summary


def test_summary_has_every_number(first_run):
    out, summary = first_run
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["params"] == summary["params"] == 181_392
    assert summary["preset"] == "tiny"
    assert on_disk["steps"] == 12
    for key in ("pre_quant", "post_quant", "sliding", "hedge"):
        assert math.isfinite(on_disk["bpb"][key]) and 1.0 < on_disk["bpb"][key] < 12.0
    size = on_disk["bytes"]
    assert size["total"] == size["model"] + size["code"] and size["fits"] is True
    assert size["model"] == (out / "artifact.bin").stat().st_size
    assert set(on_disk["seconds"]) >= {"train", "ema", "gptq-calibrate", "quantize", "pack", "bundle", "verify-size",
                                       "eval-pre-quant", "eval-post-quant", "eval-sliding", "eval-hedge"}
    assert size["code"] == (out / "submission.py").stat().st_size < 60_000  # the bundle is what counts


def test_the_run_bundle_scores_the_artifact_exactly_as_golf_eval(first_run, small_corpus):
    out, summary = first_run
    proc = subprocess.run([sys.executable, str(out / "submission.py"), str(out / "artifact.bin"),
                           "--data", str(small_corpus.data_dir), "--tokenizer", str(small_corpus.tokenizer),
                           "--mode", "sliding", "--json"],
                          capture_output=True, text=True, cwd=out.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    scored = json.loads(proc.stdout)
    assert scored["golfcli_origin"] == "bundle:golfcli"
    assert scored["val_bpb"] == summary["bpb"]["sliding"]


def test_logged_commands_rerun_by_hand(first_run, tmp_path):
    out, _ = first_run
    stages = json.loads((out / "stages.json").read_text())
    argv = shlex.split(stages["pack"]["command"])  # the command as a shell reads it
    assert argv[0] == "golf" and f"{RUN}/artifact.bin" in argv
    argv = [str(tmp_path / "again.bin") if a == f"{RUN}/artifact.bin" else a for a in argv[1:]]
    subprocess.run([sys.executable, "-m", "golfcli", *argv], check=True, capture_output=True, cwd=out.parent)
    assert (tmp_path / "again.bin").read_bytes() == (out / "artifact.bin").read_bytes()
    assert (out / "commands.sh").read_text().count("golf ") == len(stages)


def test_rerun_skips_what_is_up_to_date_and_redoes_the_rest(first_run, tiny_run, small_corpus, tmp_path):
    out, summary = first_run
    shutil.copytree(out, tmp_path / RUN)  # the shared run stays as it was for the other tests
    again = golf_run(tmp_path, tiny_run, small_corpus)
    assert set(again["skipped"]) == set(again["seconds"])
    assert again["bpb"] == summary["bpb"]
    changed = golf_run(tmp_path, tiny_run, small_corpus, "--set", "quant.attn_bits=6")
    assert set(changed["skipped"]) == {"train", "ema", "gptq-calibrate", "bundle", "eval-pre-quant"}
    assert changed["bpb"]["pre_quant"] == again["bpb"]["pre_quant"]
    assert (tmp_path / RUN / "artifact.bin").read_bytes() != (out / "artifact.bin").read_bytes()


def test_stage_keys_cover_only_what_each_stage_reads(tmp_path):
    layout = RunLayout(tmp_path)
    base = {s.name: stage_key(s) for s in plan_stages(load_config("tiny"), layout, True, False)}
    evals = {s.name: stage_key(s) for s in plan_stages(load_config("tiny", overrides=["eval.stride=16"]),
                                                         layout, True, False)}
    assert [n for n in base if base[n] != evals[n]] == ["eval-pre-quant", "eval-post-quant", "eval-sliding",
                                                        "eval-hedge"]
    quant = {s.name: s for s in plan_stages(load_config("tiny"), layout, True, False)}["quantize"]
    assert quant.settings["quant"]["mlp_bits"] == 5 and "--config" in quant.argv and "--mlp" not in quant.argv


def test_plot_draws_a_png(first_run, tmp_path):
    pytest.importorskip("matplotlib")
    out, _ = first_run
    png = tmp_path / "run.png"
    subprocess.run([sys.executable, "-m", "golfcli", "plot", str(out), "--out", str(png)], check=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_plot_without_matplotlib_says_what_to_install(first_run, monkeypatch):
    import builtins

    from golfcli.cli.plot_cmd import plot_run
    from golfcli.errors import GolfError

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(GolfError, match=r"golfcli\[plot\]"):
        plot_run(first_run[0])
