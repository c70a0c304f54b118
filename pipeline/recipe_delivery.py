"""Where the audiobook is delivered: `output.profile` and the spoken `credits:`.

    output: {profile: acx}           # Audible's rules: 44.1 kHz, CBR MP3 >= 192k, room tone
    credits:
      opening: auto                  # "Title. Written by Author. Narrated by Narrator."
      closing: "The end. ..."        # or your own text; off to leave it out
      narrator: a synthetic voice

With `profile: acx` the credits are on (ACX wants opening and closing credits as their
own files) and the settings that would make ACX reject the files are refused up front,
not found after the money is spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.models import AudioSettings, Block, Chapter
from pipeline.yamlsrc import Where, at, get_str, mapping

PROFILES = ("generic", "acx")
AUTO = "auto"
DEFAULT_NARRATOR = "a synthetic voice"
ACX_HEAD_MS = (500, 1000)  # room tone at the head of every file
ACX_TAIL_MS = (1000, 5000)
ACX_MAX_MINUTES = 120.0  # no file longer: chapters beyond it are cut into parts


@dataclass(frozen=True)
class Credits:
    """The credits read as their own first and last tracks; None leaves one out."""

    opening: str | None = None  # a text, or AUTO
    closing: str | None = None
    narrator: str = DEFAULT_NARRATOR


def parse_credits(value: Any, where: Where) -> Credits:
    d = mapping(value, where, ("opening", "closing", "narrator"))
    parts: dict[str, str | None] = {}
    for key in ("opening", "closing"):
        if key in d:
            text = get_str(d[key], at(d, key, where)).strip() if d[key] is not False else "off"
            parts[key] = None if text == "off" else text
        else:
            parts[key] = AUTO
    narrator = get_str(d["narrator"], at(d, "narrator", where)).strip() if "narrator" in d else DEFAULT_NARRATOR
    return Credits(parts["opening"], parts["closing"], narrator)


def check_profile(audio: AudioSettings, where: Where) -> None:
    """Refuse settings the profile's distributor rejects (one line, before any request)."""
    if audio.profile != "acx":
        return
    problems = []
    if audio.sample_rate != 44100:
        problems.append(f"sample_rate {audio.sample_rate} (ACX: 44100)")
    if "mp3" not in audio.formats:
        problems.append("formats without mp3 (ACX takes MP3 files)")
    if int(audio.mp3_bitrate.rstrip("k")) < 192:
        problems.append(f"mp3_bitrate {audio.mp3_bitrate} (ACX: 192k or more, CBR)")
    if audio.max_minutes is None or audio.max_minutes > ACX_MAX_MINUTES:
        problems.append(f"max_minutes {audio.max_minutes} (ACX: files of at most {ACX_MAX_MINUTES:g} minutes)")
    head, tail = audio.pauses.head, audio.pauses.tail
    if not ACX_HEAD_MS[0] <= head <= ACX_HEAD_MS[1]:
        problems.append(f"pauses.head {head} ms (ACX: 500 to 1000 ms of room tone)")
    if not ACX_TAIL_MS[0] <= tail <= ACX_TAIL_MS[1]:
        problems.append(f"pauses.tail {tail} ms (ACX: 1000 to 5000 ms)")
    if problems:
        raise where.error("profile acx: " + "; ".join(problems))


def credit_chapters(credits: Credits | None, title: str, authors: tuple[str, ...],
                    chapters: tuple[Chapter, ...]) -> tuple[Chapter, ...]:
    """The book's chapters with the opening credits first (index 0) and the closing
    credits last; planned, costed and read like any chapter."""
    if credits is None:
        return chapters
    by = " and ".join(authors) if authors else ""
    written = f" Written by {by}." if by else ""
    opening = f"{title}.{written} Narrated by {credits.narrator}." if credits.opening == AUTO else credits.opening
    closing = (f"The end. You have been listening to {title}.{written} Narrated by {credits.narrator}."
               if credits.closing == AUTO else credits.closing)
    last = max((c.index for c in chapters), default=0) + 1
    head = (Chapter(0, "Opening Credits", (Block("paragraph", opening),), "credits"),) if opening else ()
    tail = (Chapter(last, "Closing Credits", (Block("paragraph", closing),), "credits"),) if closing else ()
    return head + chapters + tail
