"""`audiobook check PATH`: measure delivered audio against a distribution profile."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _fmt(x: float | None, unit: str = "") -> str:
    return "-inf" if x is None else f"{x:.1f}{unit}"


@click.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--profile", type=click.Choice(["acx", "generic"]), default="acx", show_default=True,
              help="Rule set: acx (Audible submission rules) or generic (looser).")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.pass_context
def check(ctx: click.Context, path: Path, profile: str, as_json: bool) -> None:
    """Check audio files (a file, or every audio file in a directory).

    Reports duration, sample rate, channels, bitrate and CBR/VBR, integrated loudness,
    RMS, true peak, noise floor, chapters, tags and cover, and judges each file.

    Exit codes: 0 every rule passed, 1 at least one rule failed, 2 a file could not
    be read.
    """
    from pipeline.audio.check import check_path  # numpy/scipy: only when checking

    report = check_path(path, profile)
    data = report.to_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _print_table(data)
    ctx.exit(0 if report.passed else 1)


def _print_table(data: dict) -> None:
    header = (f"{'file':<34} {'dur':>8} {'Hz':>6} {'ch':>2} {'kbps':>5} {'LUFS':>6} {'RMS':>6} {'TP':>6} "
              f"{'floor':>6}  result")
    click.echo(header)
    for f in data["files"]:
        name = Path(f["path"]).name
        name = name if len(name) <= 34 else name[:31] + "..."
        failed = [r["rule"] for r in f["rules"] if not r["passed"]]
        mode = f"{f['bitrate_kbps'] or '-'}" + ("V" if f["bitrate_mode"] == "VBR" else "")
        click.echo(
            f"{name:<34} {f['duration_s']:>7.1f}s {f['sample_rate']:>6} {f['channels']:>2} {mode:>5} "
            f"{_fmt(f['loudness_lufs']):>6} {_fmt(f['rms_db']):>6} {_fmt(f['true_peak_db']):>6} "
            f"{_fmt(f['noise_floor_db']):>6}  {'ok' if not failed else 'FAIL: ' + ', '.join(failed)}"
        )
        for r in f["rules"]:
            if not r["passed"]:
                click.echo(f"    {r['rule']}: {r['detail']}")
        if f["chapters"]:
            click.echo(f"    {len(f['chapters'])} chapters; cover: {'yes' if f['cover'] else 'no'}")
    for r in data["set_rules"]:
        if not r["passed"]:
            click.echo(f"FAIL {r['rule']}: {r['detail']}")
    verdict = "PASS" if data["passed"] else "FAIL (" + ", ".join(data["failed_rules"]) + ")"
    click.echo(f"profile {data['profile']}: {verdict}")
