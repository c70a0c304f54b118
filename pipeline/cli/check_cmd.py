"""`audiobook check PATH`: measure delivered audio against a distribution profile."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _fmt(x: float | None, unit: str = "") -> str:
    return "-inf" if x is None else f"{x:.1f}{unit}"


RECIPE_SUFFIXES = (".yaml", ".yml", ".epub", ".md", ".markdown")
RULE_FAILED = 4  # a delivery rule failed: the files are there, a distributor would reject them


def _targets(paths: tuple[Path, ...]) -> list[Path]:
    """Audio files and directories as given; a recipe, book or catalogue stands for the
    output directory of each of its books."""
    from pipeline.catalogue import load_inputs

    out: list[Path] = []
    for path in paths:
        if path.suffix.lower() in RECIPE_SUFFIXES or (path.is_dir() and not _has_audio(path)):
            out += [entry.recipe.output_dir for entry in load_inputs([str(path)]).books]
        else:
            out.append(path)
    return list(dict.fromkeys(out))


def _has_audio(folder: Path) -> bool:
    return any(p.suffix.lower() in (".mp3", ".m4b", ".m4a", ".wav", ".flac") for p in folder.iterdir())


@click.command("check")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--profile", type=click.Choice(["acx", "generic"]), default="acx", show_default=True,
              help="Rule set: acx (Audible submission rules) or generic (looser).")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.pass_context
def check(ctx: click.Context, paths: tuple[Path, ...], profile: str, as_json: bool) -> None:
    """Check audio files (a file, or every audio file in a directory).

    A recipe, book, directory of recipes or catalogue checks the output directory of
    each of its books.

    Reports duration, sample rate, channels, bitrate and CBR/VBR, integrated loudness,
    RMS, true peak, noise floor, chapters, tags and cover, and judges each file.

    Exit codes: 0 every rule passed, 4 at least one rule failed (1 stays "a bug"),
    2 a file could not be read.
    """
    from pipeline.audio.check import check_path  # numpy/scipy: only when checking

    targets = _targets(paths)
    reports = [check_path(target, profile) for target in targets]
    if as_json:
        data = [r.to_dict() for r in reports]
        click.echo(json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False))
    else:
        for target, report in zip(targets, reports, strict=True):
            if len(targets) > 1:
                click.echo(f"== {target}")
            _print_table(report.to_dict())
    ctx.exit(0 if all(r.passed for r in reports) else RULE_FAILED)


def _print_table(data: dict) -> None:
    header = (f"{'file':<34} {'dur':>8} {'Hz':>6} {'ch':>2} {'kbps':>5} {'LUFS':>6} {'RMS':>6} {'peak':>6} {'TP':>6} "
              f"{'floor':>6}  result")
    click.echo(header)
    for f in data["files"]:
        name = Path(f["path"]).name
        name = name if len(name) <= 34 else name[:31] + "..."
        failed = [r["rule"] for r in f["rules"] if not r["passed"]]
        mode = f"{f['bitrate_kbps'] or '-'}" + ("V" if f["bitrate_mode"] == "VBR" else "")
        click.echo(
            f"{name:<34} {f['duration_s']:>7.1f}s {f['sample_rate']:>6} {f['channels']:>2} {mode:>5} "
            f"{_fmt(f['loudness_lufs']):>6} {_fmt(f['rms_db']):>6} {_fmt(f['sample_peak_db']):>6} "
            f"{_fmt(f['true_peak_db']):>6} "
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
    click.echo(f"limits: {_limits(data['profile'])}")
    click.echo(f"profile {data['profile']}: {verdict}")


def _limits(profile: str) -> str:
    """The profile's rules in one line, beside the measured table."""
    from pipeline.audio.check import PROFILES

    p = PROFILES[profile]
    peak = f"sample peak <= {p.peak_max:g} dB" if p.peak_kind == "sample" else f"true peak <= {p.peak_max:g} dBTP"
    parts = [f"RMS {p.rms[0]:g}..{p.rms[1]:g} dB", peak, f"floor (quietest 0.4 s) <= {p.noise_max:g} dB",
             "Hz " + "/".join(str(r) for r in p.rates), f"MP3 >= {p.min_mp3_kbps} kbps" + (" CBR" if p.require_cbr
                                                                                     else "")]
    parts += [f"<= {p.max_minutes:g} min per file"] if p.max_minutes else []
    parts += [f"room tone <= {p.room_tone_db:g} dB at head and tail"] if p.room_tone_db is not None else []
    return ", ".join(parts)
