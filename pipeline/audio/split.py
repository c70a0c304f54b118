"""Chapters longer than `output.max_minutes` (ACX: 120) become parts, cut at paragraphs.

The cut is planned before anything is decoded, from what each clip's headers declare
plus the pauses the stitcher will put between them (trimming only shortens a clip, so
the estimate errs long). Parts are as even as the paragraphs allow; each is a chapter of
its own for packaging (its own file, its own mark in the M4B and line in the M3U), titled
"Title (part 2 of 3)".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from pipeline.audio.ffmpeg import declared_seconds
from pipeline.audio.stitch import ChapterInput, pause_ms
from pipeline.models import AudioSettings, Boundary

PART_BASE = 100_000  # a part's index: PART_BASE * part + the chapter's (chapters are numbered below it)
MARGIN = 0.97  # of the limit: the estimate's slack

Parts = dict[int, tuple[tuple[int, int], ...]]  # chapter -> (part index, its first clip) in order


def split_long(chapters: Sequence[ChapterInput], s: AudioSettings) -> tuple[list[ChapterInput], Parts]:
    """The chapters with every one longer than the limit replaced by its parts."""
    out: list[ChapterInput] = []
    parts: Parts = {}
    for ch in chapters:
        cuts = _cuts(ch, s) if s.max_minutes else []
        if not cuts:
            out.append(ch)
            parts[ch.index] = ((ch.index, 0),)
            continue
        bounds = [0, *cuts, len(ch.clips)]
        n = len(bounds) - 1
        pieces = [ChapterInput(PART_BASE * (p + 1) + ch.index, f"{ch.title} (part {p + 1} of {n})",
                               ch.clips[bounds[p]:bounds[p + 1]]) for p in range(n)]
        out += pieces
        parts[ch.index] = tuple((piece.index, bounds[p]) for p, piece in enumerate(pieces))
    return out, parts


def _cuts(ch: ChapterInput, s: AudioSettings) -> list[int]:
    """Clip indices where parts start (none when the chapter fits)."""
    assert s.max_minutes is not None
    limit = s.max_minutes * 60 * MARGIN
    lengths = [_seconds(c.path) + pause_ms(s.pauses, c.boundary_after, k == len(ch.clips) - 1) / 1000
               for k, c in enumerate(ch.clips)]
    total = sum(lengths)
    if total <= limit:
        return []
    target = total / math.ceil(total / limit)
    cuts: list[int] = []
    acc = 0.0
    for k in range(1, len(ch.clips)):
        acc += lengths[k - 1]
        paragraph = ch.clips[k - 1].boundary_after >= Boundary.PARAGRAPH
        if (paragraph and acc >= target) or acc + lengths[k] > limit:  # no paragraph in reach: the clip's end
            cuts.append(k)
            acc = 0.0
    return cuts


def _seconds(path: Path) -> float:
    with path.open("rb") as f:
        seconds = declared_seconds(f.read())
    return seconds if seconds is not None else 0.0
