"""`golf pack`, `golf unpack`, `golf verify-size`: the artifact and the 16,000,000-byte cap."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from golfcli import console
from golfcli.cli.options import config_options, emit, json_option, overwrite_option, stored_config
from golfcli.config.artifact import PACK_CODECS
from golfcli.config.base import section_to_dict
from golfcli.config.resolve import resolve_settings
from golfcli.errors import GolfError
from golfcli.io import check_output_file, require_file, sha256_file


def _render_pack(r: dict) -> None:
    out = Console()
    sections = Table("section", "codec", "raw bytes", "packed bytes", title=f"artifact {r['path']}")
    for s in r["sections"]:
        codec = s["codec"] + ("+planes" if s["transform"] == "planes" else "")
        sections.add_row(s["section"], codec, f"{s['raw_bytes']:,}", f"{s['bytes']:,}")
    sections.add_row("container", "", "", f"{r['container_bytes']:,}")
    sections.add_row("[bold]total", "", "", f"[bold]{r['artifact_bytes']:,}")
    out.print(sections)
    roles = Table("codes of", "tensors", "weights", "entropy bound B", "packed B", "packed/entropy", "bits/weight")
    for role, x in r["roles"].items():
        roles.add_row(role, str(x["tensors"]), f"{x['codes']:,}", f"{x['entropy_bound_bytes']:,.0f}",
                      f"{x['bytes']:,}", f"{x['ratio']:.4f}" if x["ratio"] else "-",
                      f"{8 * x['bytes'] / x['codes']:.3f}" if x["codes"] else "-")
    out.print(roles)
    if r.get("show_tensors"):
        per = Table("tensor", "bits", "weights", "entropy bound B", "packed B", "packed/entropy")
        for t in r["tensors"]:
            per.add_row(t["name"], str(t["bits"]), f"{t['codes']:,}", f"{t['entropy_bytes']:,.0f}",
                        f"{t['bytes']:,.0f}", f"{t['ratio']:.4f}" if t["ratio"] else "-")
        out.print(per)
    ratio = f"{r['codes_ratio']:.4f}" if r["codes_ratio"] else "-"
    out.print(f"codes {r['codes_bytes']:,} B = {ratio} × order-0 entropy bound {r['entropy_bound_bytes']:,.0f} B; "
              f"artifact {r['artifact_bytes']:,} B in {r['seconds']:.1f} s")


@click.command("pack")
@click.argument("quantized", type=click.Path())
@click.option("--out", "out_path", required=True, type=click.Path(), help="Artifact file to write.")
@click.option("--codec", type=click.Choice(PACK_CODECS), default=None,
              help="Codec for the codes (default: pack.codec = auto, the smallest per section).")
@click.option("--sample-bytes", type=int, default=None,
              help="auto: try general codecs on a sample of this many bytes first (0 = always in full).")
@click.option("--tensors", "show_tensors", is_flag=True, help="Also list every tensor's bytes and entropy.")
@config_options
@overwrite_option
@json_option
def pack(quantized: str, out_path: str, codec: str | None, sample_bytes: int | None, show_tensors: bool,
         preset: str | None, config_file: str | None, overrides: tuple[str, ...], overwrite: bool, as_json: bool) -> None:
    """Pack a quantized file into a compact, checksummed artifact and report bytes per section.

    Settings: flags > --set > --config/--preset > the quantized file's [pack] config.
    """
    from golfcli.artifact import write_artifact
    from golfcli.qtensor import load_quantized

    check_output_file(out_path, overwrite, "artifact file")
    flags = {"pack": {"codec": codec, "sample_bytes": sample_bytes}}
    cfg = resolve_settings(stored_config(quantized), preset, config_file, overrides, flags).config.pack
    codec, samples = cfg.codec, cfg.sample_bytes
    qm = load_quantized(str(require_file(quantized, "quantized file")))
    if qm.config:  # the artifact records the [pack] settings it was packed with
        qm.config = {**qm.config, "pack": section_to_dict(cfg)}
    console.info(f"packing {len(qm.quantized)} quantized and {len(qm.passthrough)} passthrough tensors")
    report = dict(write_artifact(qm, out_path, codec=codec, sample_bytes=samples))
    report["show_tensors"] = show_tensors
    emit(report, as_json, _render_pack)


@click.command("unpack")
@click.argument("artifact", type=click.Path())
@click.option("--out", "out_path", required=True, type=click.Path(),
              help="Quantized file (or, with --dequantize, float checkpoint) to write.")
@click.option("--dequantize", is_flag=True, help="Write a float checkpoint (codes × scales) instead.")
@overwrite_option
@json_option
def unpack(artifact: str, out_path: str, dequantize: bool, overwrite: bool, as_json: bool) -> None:
    """Restore the quantized file from an artifact, bit for bit (or a dequantized checkpoint)."""
    from golfcli.artifact import read_artifact
    from golfcli.qtensor import save_quantized

    check_output_file(out_path, overwrite)
    qm = read_artifact(artifact)
    if dequantize:
        from golfcli.checkpoint import save_checkpoint
        from golfcli.config import config_from_dict

        try:
            cfg = config_from_dict(qm.config)
        except GolfError as exc:
            raise GolfError(f"the artifact's config does not load ({exc}); unpack without --dequantize", artifact)
        save_checkpoint(out_path, qm.state_dict(), cfg, source=str(artifact), provenance=qm.meta.get("provenance"))
    else:
        save_quantized(out_path, qm)
    result = {
        "artifact": artifact, "out": out_path, "format": "checkpoint" if dequantize else "quantized",
        "quantized_tensors": len(qm.quantized), "passthrough_tensors": len(qm.passthrough),
        "bytes": Path(out_path).stat().st_size, "sha256": sha256_file(out_path),
    }
    emit(result, as_json, lambda r: Console().print(
        f"wrote {r['format']} {r['out']} ({r['bytes']:,} bytes, {r['quantized_tensors']} quantized + "
        f"{r['passthrough_tensors']} passthrough tensors), sha256 {r['sha256'][:16]}…"))


def _render_size(r: dict) -> None:
    out = Console()
    out.print(f"code bytes count {r['code_source']}.")
    if len(r["code_files"]) > 1 or r["code_files"][0]["path"] != "<golf bundle>":
        files = Table("code file", "bytes")
        for f in r["code_files"]:
            files.add_row(f["path"], f"{f['bytes']:,}")
        out.print(files)
    summary = Table("", "bytes")
    for s in r["sections"]:
        summary.add_row(f"  artifact {s['section']}", f"{s['bytes']:,}")
    summary.add_row("model (artifact file)", f"{r['model_bytes']:,}")
    summary.add_row("code", f"{r['code_bytes']:,}")
    summary.add_row("[bold]total", f"[bold]{r['total_bytes']:,}")
    summary.add_row("limit", f"{r['limit']:,}")
    out.print(summary)
    if r["fits"]:
        out.print(f"[green]fits[/green]: {r['headroom_bytes']:,} bytes to spare")
    else:
        out.print(f"[red]over the limit by {-r['headroom_bytes']:,} bytes[/red]")


@click.command("verify-size")
@click.argument("artifact", type=click.Path())
@click.option("--code", "code_files", multiple=True, type=click.Path(),
              help="Code file to count (repeatable). Default: the script `golf bundle` writes, what a submission ships.")
@click.option("--source", "raw_source", is_flag=True,
              help="Count the raw golfcli source files the bundle is made from, instead of the bundle.")
@click.option("--limit", type=int, default=None,
              help="Byte cap (default: pack.limit, the artifact's stored one, else 16,000,000, decimal).")
@config_options
@json_option
def verify_size_cmd(artifact: str, code_files: tuple[str, ...], raw_source: bool, limit: int | None,
                    preset: str | None, config_file: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Model bytes + code bytes against the cap: exit 0 when it fits, 1 when over.

    The cap: --limit > --set > --config/--preset > the artifact's stored [pack] > 16,000,000.
    """
    from golfcli.artifact import verify_size

    result = verify_size(artifact, list(code_files) or None, limit, source=raw_source, preset=preset,
                         config_file=config_file, overrides=overrides)
    emit(result, as_json, _render_size)
    if not result["fits"]:
        sys.exit(1)


verify_size_cmd.name = "verify-size"


@click.command("bundle")
@click.option("--out", "out_path", required=True, type=click.Path(),
              help="Script to write (e.g. submission.py).")
@overwrite_option
@json_option
def bundle(out_path: str, overwrite: bool, as_json: bool) -> None:
    """Write the scoring code as one small script.

    The self-extracting Python script holds the golfcli modules `golf verify-size` counts, minified and compressed, and
    runs them without golf installed: python OUT ARTIFACT [--data DIR] [--tokenizer FILE]
    [--mode sliding|standard|hedge] [--json]. Count it with `golf verify-size ARTIFACT --code OUT`.
    """
    from golfcli.artifact import write_bundle

    check_output_file(out_path, overwrite, "script")

    emit(write_bundle(out_path), as_json, lambda r: Console().print(
        f"wrote {r['path']}: {r['bundle_bytes']:,} bytes ({r['modules']} modules, {r['source_bytes']:,} bytes of "
        f"source, {r['minified_bytes']:,} minified); run: python {r['path']} ARTIFACT --data DIR --tokenizer FILE"))


commands = [pack, unpack, verify_size_cmd, bundle]
