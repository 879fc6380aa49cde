"""`golf export`: a records folder whose single train_gpt.py reruns the chain, --update and --check.

One tiny export (12 steps, an 8k-token validation subset of the built-in corpus) is shared by the
module: it runs once with plain python where golfcli, click, rich and zstandard cannot be imported,
once under torchrun with two gloo ranks, once with another SEED and once more with the same seed,
and its score is compared with `golf run` on the same config, seed and data.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from golfcli.cli import main

FAST = ("train.iterations=12", "train.loader=coprime", "train.val_every=0", "train.checkpoint_every=0", "calib.seqs=2", "calib.seq_len=64",
        "calib.batch=2")
# Imported first by every exported-script subprocess: golfcli, click, rich and zstandard cannot be imported.
BLOCKER = textwrap.dedent("""
    import sys
    class _Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("golfcli", "click", "rich", "zstandard"):
                raise ImportError("blocked for this test: " + name)
    sys.meta_path.insert(0, _Blocked())
""")
EXACT = re.compile(r"^final_int\d+_(\w+?)_exact val_loss:([\d.]+) val_bpb:([\d.]+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def small_data(small_corpus) -> tuple[Path, Path]:
    """The built-in corpus with its validation split cut short (tests/conftest.py: quick evaluations)."""
    return small_corpus.data_dir, small_corpus.tokenizer


@pytest.fixture(scope="module")
def golf_run(tiny_run) -> dict:
    """`golf run` on the export's config (the session's tiny run: FAST plus checkpoints and --hedge, which
    change no score), for the scores the export must reproduce."""
    assert set(FAST) - set(tiny_run.settings) == {"train.checkpoint_every=0"}
    return tiny_run.summary


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """`golf export --preset tiny` copied to a directory of its own (no golf checkout around it)."""
    out = tmp_path_factory.mktemp("export") / "records"
    sets = [arg for item in FAST for arg in ("--set", item)]
    result = CliRunner().invoke(main, ["export", "--preset", "tiny", *sets, "--out", str(out), "--name", "tiny test",
                                       "--json"])
    assert result.exit_code == 0, result.output
    moved = tmp_path_factory.mktemp("elsewhere") / "records"
    shutil.copytree(out, moved)
    return moved


@pytest.fixture(scope="module")
def blocker(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("blocker")
    (path / "sitecustomize.py").write_text(BLOCKER)
    return path


def run_script(folder: Path, blocker: Path, data: tuple[Path, Path], *launcher: str, **env: str) -> str:
    """Run train_gpt.py from its folder with golfcli & co unimportable; return its stdout."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RUN_ID", "SEED", "GOLF_SET")}
    full_env.update(PYTHONPATH=str(blocker), DATA_PATH=str(data[0]), TOKENIZER_PATH=str(data[1]), **env)
    cmd = [*(launcher or (sys.executable,)), "train_gpt.py"]
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env=full_env)
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def runs(folder, blocker, small_data) -> dict[str, str]:
    """stdout of: plain python (seed 1337), torchrun ×2, SEED=7, and seed 1337 again."""
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    return {
        "python": run_script(folder, blocker, small_data),
        "torchrun": run_script(folder, blocker, small_data, *torchrun, RUN_ID="torchrun2"),
        "seed7": run_script(folder, blocker, small_data, SEED="7"),
        "again": run_script(folder, blocker, small_data, RUN_ID="again"),
    }


def exact(stdout: str) -> dict[str, tuple[float, float]]:
    """{evaluation: (val_loss, val_bpb)} from the `final_..._exact` lines."""
    return {m.group(1): (float(m.group(2)), float(m.group(3))) for m in EXACT.finditer(stdout)}


# --- the exported script -----------------------------------------------------------------------------------------

def test_export_writes_the_folder_with_exact_requirements(folder):
    assert {p.name for p in folder.iterdir()} == {"train_gpt.py", "requirements.txt", "config.toml",
                                                 "submission.json", "README.md"}
    assert (folder / "requirements.txt").read_text().split() == ["torch", "numpy", "sentencepiece", "brotli"]
    head = (folder / "train_gpt.py").read_bytes()[:200]
    assert head.startswith(b"# -*- coding: latin-1 -*-\n# golf export:")
    sub = json.loads((folder / "submission.json").read_text())
    assert sub["name"] == "tiny test" and sub["seeds"] == [] and sub["bytes_code"] == (folder / "train_gpt.py").stat().st_size


def test_plain_python_run_without_golf_equals_golf_run(runs, golf_run, folder):
    scores = exact(runs["python"])
    assert set(scores) == {"roundtrip", "sliding_window"}
    assert abs(scores["sliding_window"][1] - golf_run["bpb"]["sliding"]) < 1e-6
    assert abs(scores["roundtrip"][1] - golf_run["bpb"]["post_quant"]) < 1e-6
    log = (folder / "logs" / "tiny_seed1337.txt").read_text()
    assert log == runs["python"]  # the log file holds exactly what was printed
    code = (folder / "train_gpt.py").stat().st_size
    assert f"Code size: {code} bytes" in log
    artifact = folder / "runs" / "tiny_seed1337" / "artifact.bin"
    assert f"Total submission size golf artifact: {artifact.stat().st_size + code} bytes" in log
    assert re.search(r"^wallclock:post_gptq train_time:[\d.]+s gptq_time:[\d.]+s total:[\d.]+s", log, re.MULTILINE)


def test_torchrun_two_ranks_scores_within_rounding(runs):
    # the coprime loader (FAST) draws the same global batch at any world size; the sequential one,
    # like the reference TokenStream, shifts each rank's span by one token, so it would not match
    one, two = exact(runs["python"]), exact(runs["torchrun"])
    assert "world_size:2" in runs["torchrun"]
    assert abs(one["sliding_window"][1] - two["sliding_window"][1]) < 1e-4


def test_seed_changes_the_result_and_one_seed_gives_the_same_bytes(runs, folder):
    arts = {name: (folder / "runs" / name / "artifact.bin").read_bytes()
            for name in ("tiny_seed1337", "tiny_seed7", "again")}
    assert "seed:7" in runs["seed7"]
    assert exact(runs["seed7"])["sliding_window"] != exact(runs["python"])["sliding_window"]
    assert arts["tiny_seed7"] != arts["tiny_seed1337"]
    assert arts["again"] == arts["tiny_seed1337"]
    assert exact(runs["again"]) == exact(runs["python"])


def test_a_run_id_in_use_is_refused_before_any_work(runs, folder, blocker, small_data):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "train_gpt.py"], cwd=folder, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(blocker), "DATA_PATH": str(small_data[0]), "RUN_ID": "again"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("golf: error: runs/again: exists already")


# --- --update and --check ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def updated(runs, folder) -> dict:
    result = CliRunner().invoke(main, ["export", "--update", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads((folder / "submission.json").read_text())


def test_update_fills_submission_and_readme_from_the_logs(updated, runs, folder):
    bpbs = [exact(out)["sliding_window"][1] for out in runs.values()]
    assert len(updated["seeds"]) == 4
    assert math.isclose(updated["val_bpb"], sum(bpbs) / 4, rel_tol=0, abs_tol=1e-12)
    assert updated["name"] == "tiny test" and updated["compliance"]["ngram_cache"] == "none"
    assert sorted(s["seed"] for s in updated["seeds"]) == [7, 1337, 1337, 1337]
    assert all(s["steps"] == 12 for s in updated["seeds"])
    readme = (folder / "README.md").read_text()
    assert f"{updated['val_bpb']:.8f}" in readme and readme.count("| 1337 |") == 3
    (folder / "README.md").write_text(readme.replace("## Run", "Our method, in our words.\n\n## Run"))
    assert CliRunner().invoke(main, ["export", "--update", str(folder)]).exit_code == 0
    again = (folder / "README.md").read_text()  # the author's text stays, the results block is regenerated
    assert "Our method, in our words." in again and again.count("<!-- golf:results -->") == 1
    assert again.count("| 1337 |") == 3


def check(folder: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["export", "--check", str(folder), *extra])
    return result.exit_code, result.output


def test_check_passes_on_the_run_folder_and_tests_the_gain(updated, folder):
    code, out = check(folder)
    assert code == 0, out
    assert "PASS runs: python train_gpt.py --dry-run" in out and out.count("PASS size:") == 4
    code, out = check(folder, "--no-run", "--baseline-bpb", str(updated["val_bpb"] + 0.1))
    assert code == 0 and re.search(r"PASS significance: mean gain 0\.069\d+ nats", out), out
    code, out = check(folder, "--no-run", "--baseline-bpb", str(updated["val_bpb"]))
    assert code == 1 and "FAIL significance" in out


def _copy(folder: Path, dest: Path) -> Path:
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("runs"))
    return dest


def test_check_fails_with_the_reason(updated, folder, tmp_path):
    missing = _copy(folder, tmp_path / "missing")
    (missing / "README.md").unlink()
    code, out = check(missing, "--no-run")
    assert code == 1 and "FAIL files: missing README.md" in out

    over = _copy(folder, tmp_path / "over")
    log = over / "logs" / "tiny_seed7.txt"
    log.write_text(re.sub(r"Total submission size golf artifact: \d+", "Total submission size golf artifact: 16000001",
                          log.read_text()))
    code, out = check(over, "--no-run")
    assert code == 1 and "FAIL size: tiny_seed7.txt (seed 7): 16,000,001 bytes OVER the cap of 16,000,000" in out

    slow = _copy(folder, tmp_path / "slow")
    log = slow / "logs" / "again.txt"
    log.write_text(re.sub(r"total:[\d.]+s", "total:600.5s", log.read_text()))
    code, out = check(slow, "--no-run")
    assert code == 1 and "FAIL train time: again.txt (seed 1337): 600.5 s OVER the budget of 600 s" in out


def test_export_refuses_a_non_empty_folder_and_mixed_modes(folder, tmp_path):
    result = CliRunner().invoke(main, ["export", "--preset", "tiny", "--out", str(folder)])
    assert result.exit_code == 2 and "is not empty" in result.output
    result = CliRunner().invoke(main, ["export", "--check", str(folder), "--update", str(folder)])
    assert result.exit_code == 2 and "exactly one of" in result.output
