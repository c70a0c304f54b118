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
def voices(file: Path | None, language: str | None, as_json: bool) -> None:
    """List voices: id, name, language, gender and age enums, styles.

    FILE is the voice list downloaded as JSON from the Audio Cleaner console
    (Developer > Playground > AI Voice Generator). Without FILE, the embedded
    offline voices (eSpeak NG) are listed; recipes written for the vendor's voice
    ids still build offline, each vendor id mapped onto a local voice.
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
