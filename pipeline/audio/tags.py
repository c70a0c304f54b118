"""Metadata writers: ID3v2 for chapter MP3s, ffmetadata chapters for the M4B, M3U."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mutagen.id3 import APIC, ID3, TALB, TCON, TIT2, TLAN, TPE1, TPE2, TRCK

from pipeline.models import Cover

GENRE = "Audiobook"


@dataclass(frozen=True)
class BookInfo:
    title: str
    authors: tuple[str, ...]
    language: str
    cover: Cover | None


def iso639_2(language: str) -> str:
    """ID3 TLAN wants ISO 639-2 ("eng"); map the common codes, pass others through."""
    table = {
        "en": "eng", "fr": "fra", "de": "deu", "es": "spa", "pt": "por", "ru": "rus",
        "zh": "zho", "zh_yue": "yue", "ja": "jpn", "ko": "kor", "ar": "ara", "it": "ita",
        "nl": "nld", "pl": "pol", "sv": "swe",
    }
    base = language.replace("-", "_").lower()
    return table.get(base, table.get(base.split("_")[0], base.split("_")[0]))


def tag_mp3(path: Path, *, title: str, info: BookInfo, track: int, total: int, cover: Cover) -> None:
    """Write the chapter's ID3v2.4 tag in place (before the file is renamed final)."""
    tags = ID3()
    artist = "; ".join(info.authors) or "Unknown"
    tags.add(TIT2(encoding=3, text=title))
    tags.add(TPE1(encoding=3, text=artist))
    tags.add(TPE2(encoding=3, text=artist))
    tags.add(TALB(encoding=3, text=info.title))
    tags.add(TRCK(encoding=3, text=f"{track}/{total}"))
    tags.add(TLAN(encoding=3, text=iso639_2(info.language)))
    tags.add(TCON(encoding=3, text=GENRE))
    tags.add(APIC(encoding=3, mime=cover.media_type, type=3, desc="Cover", data=cover.data))
    tags.save(path, v2_version=4)


def ffmeta_escape(text: str) -> str:
    """Escape ffmetadata specials (= ; # \\ and newlines)."""
    out = text.replace("\\", "\\\\")
    for ch in "=;#":
        out = out.replace(ch, "\\" + ch)
    return out.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def ffmetadata(info: BookInfo, chapters: Sequence[tuple[str, int]], rate: int) -> str:
    """;FFMETADATA1 with global tags and one [CHAPTER] per (title, frames), exact times."""
    artist = ffmeta_escape("; ".join(info.authors) or "Unknown")
    lines = [
        ";FFMETADATA1",
        f"title={ffmeta_escape(info.title)}",
        f"album={ffmeta_escape(info.title)}",
        f"artist={artist}",
        f"album_artist={artist}",
        f"genre={GENRE}",
    ]
    start = 0
    for title, frames in chapters:
        lines += ["[CHAPTER]", f"TIMEBASE=1/{rate}", f"START={start}", f"END={start + frames}",
                  f"title={ffmeta_escape(title)}"]
        start += frames
    return "\n".join(lines) + "\n"


def m3u(entries: Sequence[tuple[str, float, str]]) -> str:
    """Extended M3U from (relative file name, seconds, title)."""
    lines = ["#EXTM3U"]
    for name, seconds, title in entries:
        lines += [f"#EXTINF:{round(seconds)},{title.replace(chr(10), ' ')}", name]
    return "\n".join(lines) + "\n"
