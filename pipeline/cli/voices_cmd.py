"""`audiobook voices`: list the voices a recipe can use (vendor JSON or the embedded ones)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline.errors import UserError
from pipeline.models import VENDOR_LANGUAGES
from pipeline.tts.voices import (
    VoiceInfo,
    VoiceLibrary,
    builtin_voice_library,
    load_voice_library,
)


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--language", "-l", metavar="LANG", help=f"Only voices usable for LANG ({', '.join(VENDOR_LANGUAGES)}).")
@click.option("--json", "as_json", is_flag=True, help="Print the vendor-shaped voice-list JSON.")
@click.option("--piper", "piper_paths", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Also list the Piper voices (*.onnx) in this file or directory (repeatable).")
def voices(file: Path | None, language: str | None, as_json: bool, piper_paths: tuple[Path, ...]) -> None:
    """List voices: id, name, language, gender and age enums, styles.

    FILE is the voice list downloaded as JSON from the Audio Cleaner console
    (Developer > Playground > AI Voice Generator). Without FILE, the embedded
    offline voices (eSpeak NG) are listed; recipes written for the vendor's voice
    ids still build offline, each vendor id mapped onto a local voice. Then the Piper
    neural voices found (`--backend piper`): the bundled one when the neural extra is
    installed, and those under --piper.
    """
    lib = load_voice_library(file) if file is not None else builtin_voice_library()
    if language is not None:
        if language not in VENDOR_LANGUAGES:
            raise UserError(f"unknown language {language!r}; expected one of {', '.join(VENDOR_LANGUAGES)}")
        lib = VoiceLibrary(lib.for_language(language), lib.source)
    if as_json:
        click.echo(json.dumps(lib.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(_table(lib.voices))
    click.echo(f"{len(lib.voices)} voice(s) from {lib.source}", err=True)
    if file is None:
        _piper_table(piper_paths, language)


def _piper_table(paths: tuple[Path, ...], language: str | None) -> None:
    """The Piper voices found, or how to get one."""
    from pipeline.tts.piper_voices import NEURAL_EXTRA, found_voices, piper_installed, voice_rows

    rows = [r for r in voice_rows(found_voices(paths)) if language in (None, r[2])]
    if not piper_installed():
        click.echo(f"Piper neural voices (--backend piper) need the neural extra: {NEURAL_EXTRA}", err=True)
        return
    if not rows:
        click.echo("No Piper voice found (the bundled one comes with the neural extra; --piper DIR adds others).",
                   err=True)
        return
    click.echo("\nPiper neural voices (--backend piper; `piper: {model: FILE}` picks one):")
    width = max(len(r[1]) for r in rows)
    for vid, name, lang, model in rows:
        click.echo(f"{vid}  {name.ljust(width)}  {lang:<6} {model}")


def _table(rows: tuple[VoiceInfo, ...]) -> str:
    header = ("ID", "NAME", "LANG", "GENDER", "AGE", "STYLES")
    cells = [
        (str(v.id), v.display_name, v.language, _enum(v.gender), _enum(v.age), ", ".join(v.styles) or "-")
        for v in rows
    ]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in [header, *cells]]
    return "\n".join(line.rstrip() for line in lines)


def _enum(value: int | None) -> str:
    return "-" if value is None else str(value)
